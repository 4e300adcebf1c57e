package redis

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/store"
)

// maxUpdateAttempts bounds UpdateSession's compare-and-swap retries before
// it gives up with store.ErrConflict. Callers do not retry, so it is
// generous: each retry means another writer of the same session won, and
// 32 goroutines replaying one refresh token all settle within it.
const maxUpdateAttempts = 64

// expiredBatch is how many sessions or revocations one garbage-collection
// script examines, so that a large backlog never blocks Redis for long.
const expiredBatch = 500

func (h *Hot) sessionKey(id string) string  { return h.prefix + "s:" + id }
func (h *Hot) userKey(userID string) string { return h.prefix + "u:" + userID }

// args starts the arguments of a session script: the prelude's.
func (h *Hot) args(n int) []string {
	a := make([]string, 0, 2+n)
	return append(a, h.prefix, strconv.FormatInt(ttlGrace.Milliseconds(), 10))
}

// deadAt is when a session dies: the earlier of its two deadlines.
func deadAt(s *store.Session) time.Time {
	if s.IdleExpiresAt.Before(s.ExpiresAt) {
		return s.IdleExpiresAt
	}
	return s.ExpiresAt
}

// normSession returns a copy of s as the store gives it back: times in UTC
// milliseconds, slices of its own, no refresh hash as nil.
func normSession(s store.Session) store.Session {
	s.TokenHash = slices.Clone(s.TokenHash)
	s.RefreshHash = slices.Clone(s.RefreshHash)
	if len(s.RefreshHash) == 0 {
		s.RefreshHash = nil
	}
	for _, t := range []*time.Time{&s.CreatedAt, &s.AuthTime, &s.LastSeenAt, &s.IdleExpiresAt, &s.ExpiresAt, &s.RefreshRotatedAt} {
		*t = fromMillis(millis(*t))
	}
	return s
}

func cloneSession(s store.Session) store.Session {
	s.TokenHash = slices.Clone(s.TokenHash)
	s.RefreshHash = slices.Clone(s.RefreshHash)
	return s
}

// encodeSession returns the values of sessionFields but the version, in
// order.
func encodeSession(s *store.Session) [fVersion]string {
	ms := func(t time.Time) string { return strconv.FormatInt(millis(t), 10) }
	return [fVersion]string{
		fTokenHash:        hex.EncodeToString(s.TokenHash),
		fUserID:           s.UserID,
		fCreatedAt:        ms(s.CreatedAt),
		fAuthTime:         ms(s.AuthTime),
		fLastSeenAt:       ms(s.LastSeenAt),
		fIdleExpiresAt:    ms(s.IdleExpiresAt),
		fExpiresAt:        ms(s.ExpiresAt),
		fIP:               s.IP,
		fUserAgent:        s.UserAgent,
		fRefreshHash:      hex.EncodeToString(s.RefreshHash),
		fRefreshGen:       strconv.FormatInt(s.RefreshGen, 10),
		fRefreshRotatedAt: ms(s.RefreshRotatedAt),
	}
}

// appendFields appends field/value pairs for HSET.
func appendFields(args []string, vals *[fVersion]string) []string {
	for i, v := range vals {
		args = append(args, sessionFields[i], v)
	}
	return args
}

// decodeSession reads the values of sessionFields (an HMGET reply) into a
// session. ok is false when the session does not exist.
func decodeSession(id string, msgs []rueidis.RedisMessage) (s store.Session, version string, ok bool, err error) {
	if len(msgs) != nFields {
		return s, "", false, fmt.Errorf("session %q: %d fields, want %d", id, len(msgs), nFields)
	}
	if msgs[fTokenHash].IsNil() {
		return s, "", false, nil
	}
	var vals [nFields]string
	for i := range msgs {
		if vals[i], err = msgs[i].ToString(); err != nil && !isNil(err) {
			return s, "", false, fmt.Errorf("session %q: field %s: %w", id, sessionFields[i], err)
		}
	}
	var ms [nFields]int64
	for _, i := range [...]int{fCreatedAt, fAuthTime, fLastSeenAt, fIdleExpiresAt, fExpiresAt, fRefreshRotatedAt, fRefreshGen} {
		if ms[i], err = strconv.ParseInt(vals[i], 10, 64); err != nil {
			return s, "", false, fmt.Errorf("session %q: field %s: %w", id, sessionFields[i], err)
		}
	}
	s.CreatedAt = fromMillis(ms[fCreatedAt])
	s.AuthTime = fromMillis(ms[fAuthTime])
	s.LastSeenAt = fromMillis(ms[fLastSeenAt])
	s.IdleExpiresAt = fromMillis(ms[fIdleExpiresAt])
	s.ExpiresAt = fromMillis(ms[fExpiresAt])
	s.RefreshRotatedAt = fromMillis(ms[fRefreshRotatedAt])
	s.RefreshGen = ms[fRefreshGen]
	if s.TokenHash, err = hex.DecodeString(vals[fTokenHash]); err != nil {
		return s, "", false, fmt.Errorf("session %q: token hash: %w", id, err)
	}
	if vals[fRefreshHash] != "" {
		if s.RefreshHash, err = hex.DecodeString(vals[fRefreshHash]); err != nil {
			return s, "", false, fmt.Errorf("session %q: refresh hash: %w", id, err)
		}
	}
	s.ID = id
	s.UserID = vals[fUserID]
	s.IP = vals[fIP]
	s.UserAgent = vals[fUserAgent]
	return s, vals[fVersion], true, nil
}

// decodePairs reads the {id, fields} pairs that the list and delete
// scripts return.
func decodePairs(msgs []rueidis.RedisMessage) ([]store.Session, error) {
	out := make([]store.Session, 0, len(msgs))
	for _, m := range msgs {
		pair, err := m.ToArray()
		if err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("unexpected reply %v: %v", m, err)
		}
		id, err := pair[0].ToString()
		if err != nil {
			return nil, err
		}
		fields, err := pair[1].ToArray()
		if err != nil {
			return nil, err
		}
		s, _, ok, err := decodeSession(id, fields)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// sortNewestFirst orders sessions as ListUserSessions promises, breaking
// ties by ID as the memory and SQLite backends do.
func sortNewestFirst(ss []store.Session) {
	slices.SortFunc(ss, func(a, b store.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// CreateSession implements store.Sessions. Like the memory backend, and
// unlike SQLite, it does not check that the user exists: users live in
// another database.
func (h *Hot) CreateSession(ctx context.Context, sess store.Session) error {
	if len(sess.TokenHash) == 0 {
		return fmt.Errorf("redis: create session %q: empty token hash", sess.ID)
	}
	sess = normSession(sess)
	vals := encodeSession(&sess)
	args := h.args(6 + 2*nFields)
	args = append(args, sess.ID, vals[fTokenHash], sess.UserID, vals[fCreatedAt],
		strconv.FormatInt(millis(deadAt(&sess)), 10))
	args = appendFields(args, &vals)
	args = append(args, sessionFields[fVersion], "1")
	res, err := createScript.Exec(ctx, h.client, []string{h.sessionKey(sess.ID)}, args).AsInt64()
	switch {
	case err != nil:
		return redisErr(fmt.Sprintf("create session %q", sess.ID), err)
	case res == resIDTaken:
		return fmt.Errorf("redis: create session %q: %w", sess.ID, store.ErrAlreadyExists)
	case res == resTokenTaken:
		return fmt.Errorf("redis: create session %q: token hash: %w", sess.ID, store.ErrAlreadyExists)
	}
	return nil
}

// SessionByTokenHash implements store.Sessions, in one round trip.
func (h *Hot) SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	// The hash stays out of errors: it identifies a live credential.
	const what = "session by token hash"
	hexHash := hex.EncodeToString(tokenHash)
	msg, err := byTokenScript.Exec(ctx, h.client, []string{h.prefix + "t:" + hexHash}, append(h.args(1), hexHash)).ToMessage()
	if isNil(err) {
		return store.Session{}, fmt.Errorf("redis: %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, redisErr(what, err)
	}
	found, err := decodePairs([]rueidis.RedisMessage{msg})
	if err != nil {
		return store.Session{}, redisErr(what, err)
	}
	if len(found) == 0 {
		return store.Session{}, fmt.Errorf("redis: %s: %w", what, store.ErrNotFound)
	}
	return found[0], nil
}

// getSession reads one session and its version.
func (h *Hot) getSession(ctx context.Context, id string) (store.Session, string, error) {
	msgs, err := h.client.Do(ctx, h.client.B().Hmget().Key(h.sessionKey(id)).Field(sessionFields...).Build()).ToArray()
	if err != nil {
		return store.Session{}, "", redisErr(fmt.Sprintf("session %q", id), err)
	}
	s, v, ok, err := decodeSession(id, msgs)
	if err != nil {
		return store.Session{}, "", redisErr(fmt.Sprintf("session %q", id), err)
	}
	if !ok {
		return store.Session{}, "", fmt.Errorf("redis: session %q: %w", id, store.ErrNotFound)
	}
	return s, v, nil
}

// SessionByID implements store.Sessions.
func (h *Hot) SessionByID(ctx context.Context, id string) (store.Session, error) {
	s, _, err := h.getSession(ctx, id)
	return s, err
}

// ListUserSessions implements store.Sessions, in one round trip.
func (h *Hot) ListUserSessions(ctx context.Context, userID string) ([]store.Session, error) {
	msgs, err := listScript.Exec(ctx, h.client, []string{h.userKey(userID)}, append(h.args(1), userID)).ToArray()
	if err != nil {
		return nil, redisErr(fmt.Sprintf("list sessions of user %q", userID), err)
	}
	out, err := decodePairs(msgs)
	if err != nil {
		return nil, redisErr(fmt.Sprintf("list sessions of user %q", userID), err)
	}
	sortNewestFirst(out)
	return out, nil
}

// TouchSession implements store.Sessions. It bumps the session's version,
// so an UpdateSession that read the session before retries rather than
// writing back the old LastSeenAt.
func (h *Hot) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time, ip string) error {
	args := append(h.args(4), id,
		strconv.FormatInt(millis(lastSeen), 10), strconv.FormatInt(millis(idleExpires), 10), ip)
	n, err := touchScript.Exec(ctx, h.client, []string{h.sessionKey(id)}, args).AsInt64()
	if err != nil {
		return redisErr(fmt.Sprintf("touch session %q", id), err)
	}
	if n == 0 {
		return fmt.Errorf("redis: touch session %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// UpdateSession implements store.Sessions with optimistic concurrency: it
// reads the session and its version, runs fn on a copy, and writes the
// result with a script that first checks the version is unchanged. When
// another writer got there first it reads again and reruns fn, so fn may
// run more than once and must depend only on the session it is given.
// After maxUpdateAttempts lost races it returns store.ErrConflict. An fn
// that changes nothing writes nothing.
func (h *Hot) UpdateSession(ctx context.Context, id string, fn func(s *store.Session) error) (store.Session, error) {
	for attempt := range maxUpdateAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return store.Session{}, redisErr(fmt.Sprintf("update session %q", id), err)
			}
		}
		old, version, err := h.getSession(ctx, id)
		if err != nil {
			return store.Session{}, err
		}
		work := cloneSession(old)
		if err := fn(&work); err != nil {
			return store.Session{}, err
		}
		switch {
		case work.ID != id:
			return store.Session{}, fmt.Errorf("redis: update session %q: the ID cannot change (to %q)", id, work.ID)
		case work.UserID != old.UserID:
			return store.Session{}, fmt.Errorf("redis: update session %q: the user cannot change (from %q to %q)", id, old.UserID, work.UserID)
		case len(work.TokenHash) == 0:
			return store.Session{}, fmt.Errorf("redis: update session %q: empty token hash", id)
		}
		// A fresh copy, not work itself: fn may have kept &work.
		sess := normSession(work)
		vals := encodeSession(&sess)
		if vals == encodeSession(&old) {
			return sess, nil
		}
		args := h.args(6 + 2*fVersion)
		args = append(args, id, version, vals[fTokenHash], sess.UserID, vals[fCreatedAt],
			strconv.FormatInt(millis(deadAt(&sess)), 10))
		args = appendFields(args, &vals)
		res, err := updateScript.Exec(ctx, h.client, []string{h.sessionKey(id)}, args).AsInt64()
		switch {
		case err != nil:
			return store.Session{}, redisErr(fmt.Sprintf("update session %q", id), err)
		case res == resOK:
			return cloneSession(sess), nil
		case res == resMissing:
			return store.Session{}, fmt.Errorf("redis: update session %q: %w", id, store.ErrNotFound)
		case res == resTokenTaken:
			return store.Session{}, fmt.Errorf("redis: update session %q: token hash: %w", id, store.ErrAlreadyExists)
		case res != resVersionMoved:
			return store.Session{}, fmt.Errorf("redis: update session %q: unexpected script result %d", id, res)
		}
		// Another write won since the read: read again.
	}
	return store.Session{}, fmt.Errorf("redis: update session %q: lost %d races: %w", id, maxUpdateAttempts, store.ErrConflict)
}

// backoff waits a little before the attempt-th try of a compare-and-swap,
// a random time growing with attempt up to about a millisecond, so that
// writers racing on one session spread out instead of colliding again.
func backoff(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return ctx.Err()
	}
	d := rand.N(time.Duration(min(attempt, 20)) * 50 * time.Microsecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// DeleteSession implements store.Sessions.
func (h *Hot) DeleteSession(ctx context.Context, id string) error {
	n, err := deleteScript.Exec(ctx, h.client, []string{h.sessionKey(id)}, append(h.args(1), id)).AsInt64()
	if err != nil {
		return redisErr(fmt.Sprintf("delete session %q", id), err)
	}
	if n == 0 {
		return fmt.Errorf("redis: delete session %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// DeleteUserSessions implements store.Sessions, atomically. The removed
// sessions come back newest first.
func (h *Hot) DeleteUserSessions(ctx context.Context, userID, except string) ([]store.Session, error) {
	what := fmt.Sprintf("delete sessions of user %q", userID)
	msgs, err := deleteUserScript.Exec(ctx, h.client, []string{h.userKey(userID)}, append(h.args(2), userID, except)).ToArray()
	if err != nil {
		return nil, redisErr(what, err)
	}
	out, err := decodePairs(msgs)
	if err != nil {
		return nil, redisErr(what, err)
	}
	sortNewestFirst(out)
	return out, nil
}

// DeleteExpiredSessions implements store.Sessions. It works through the
// expiry index in batches, each one atomic. Sessions that Redis's own
// expiry dropped before it ran are not counted; their index entries are
// swept.
func (h *Hot) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		args := append(h.args(2), strconv.FormatInt(millis(now), 10), strconv.Itoa(expiredBatch))
		res, err := deleteExpiredScript.Exec(ctx, h.client, []string{h.prefix + "exp"}, args).AsIntSlice()
		if err != nil {
			return total, redisErr("delete expired sessions", err)
		}
		if len(res) != 2 {
			return total, fmt.Errorf("redis: delete expired sessions: unexpected reply %v", res)
		}
		total += int(res[0])
		if res[1] < expiredBatch {
			return total, nil
		}
	}
}

var _ store.SessionCounter = (*Hot)(nil)

// CountSessions implements store.SessionCounter from the expiry index.
func (h *Hot) CountSessions(ctx context.Context, now time.Time) (int, error) {
	n, err := h.client.Do(ctx, h.client.B().Zcount().Key(h.prefix+"exp").Min("("+strconv.FormatInt(millis(now), 10)).Max("+inf").Build()).AsInt64()
	if err != nil {
		return 0, redisErr("count sessions", err)
	}
	return int(n), nil
}
