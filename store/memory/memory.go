// Package memory is an in-memory store backend. It is what unit tests of
// the layers above run against, and it behaves as the SQLite backend does,
// down to millisecond times and case-insensitive email uniqueness, so that
// a test passing here does not fail there. Everything is lost on exit.
package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

var _ store.Store = (*Store)(nil)

// defaultLimit is the page size of ListUsers and ListAudit when the caller
// sets none; maxAuditLimit caps ListAudit's, as the SQLite backend does.
const (
	defaultLimit  = 100
	maxAuditLimit = 1000
)

// Store keeps every record in maps behind one mutex. Records are copied
// on the way in and on the way out, so no caller ever shares memory with
// the store.
type Store struct {
	mu       sync.RWMutex
	users    map[string]store.User // by ID
	emails   map[string]string     // folded email -> user ID
	sessions map[string]store.Session
	tokens   map[string]string              // string(token hash) -> session ID
	byUser   map[string]map[string]struct{} // user ID -> session IDs
	keys     map[string]store.SigningKey    // by ID
	// revocations is ordered by Seq; lastSeq is the highest Seq ever
	// assigned, kept apart so that deleting the newest entry never lets
	// its Seq be reused.
	revocations []store.Revocation
	lastSeq     int64
	// audit is ordered by ID; IDs run 1, 2, 3... as the log is append-only.
	audit []store.AuditEvent
	roles map[string]store.Role // by name
	// resets holds password-reset tokens by string(hash).
	resets map[string]store.ResetToken
}

// New returns an empty store.
func New() *Store {
	return &Store{
		users:    make(map[string]store.User),
		emails:   make(map[string]string),
		sessions: make(map[string]store.Session),
		tokens:   make(map[string]string),
		byUser:   make(map[string]map[string]struct{}),
		keys:     make(map[string]store.SigningKey),
	}
}

// Ping always succeeds: memory is always reachable.
func (s *Store) Ping(ctx context.Context) error { return nil }

// Close does nothing; the garbage collector frees the maps.
func (s *Store) Close() error { return nil }

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	u = normUser(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("memory: user ID %q: %w", u.ID, store.ErrAlreadyExists)
	}
	if _, ok := s.emails[foldEmail(u.Email)]; ok {
		return fmt.Errorf("memory: user email %q: %w", u.Email, store.ErrAlreadyExists)
	}
	s.users[u.ID] = u
	s.emails[foldEmail(u.Email)] = u.ID
	return nil
}

// UserByID implements store.Users.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return store.User{}, fmt.Errorf("memory: user %q: %w", id, store.ErrNotFound)
	}
	return cloneUser(u), nil
}

// UserByEmail implements store.Users.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.emails[foldEmail(email)]
	if !ok {
		return store.User{}, fmt.Errorf("memory: user with email %q: %w", email, store.ErrNotFound)
	}
	return cloneUser(s.users[id]), nil
}

// ListUsers implements store.Users. It sorts on every call, which is fine
// for the handful of users a test makes.
func (s *Store) ListUsers(ctx context.Context, opts store.ListUsersOptions) ([]store.User, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	prefix := foldEmail(opts.EmailPrefix)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []store.User
	for _, u := range s.users {
		if u.ID > opts.After && strings.HasPrefix(foldEmail(u.Email), prefix) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b store.User) int { return strings.Compare(a.ID, b.ID) })
	out = out[:min(limit, len(out))]
	for i := range out {
		out[i] = cloneUser(out[i])
	}
	return out, nil
}

// CountUsers implements store.Users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users), nil
}

// UpdateUser implements store.Users. fn runs under the write lock, which
// makes the read-modify-write atomic; fn must therefore not call the store.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(u *store.User) error) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[id]
	if !ok {
		return store.User{}, fmt.Errorf("memory: user %q: %w", id, store.ErrNotFound)
	}
	work := cloneUser(old)
	if err := fn(&work); err != nil {
		return store.User{}, err
	}
	if work.ID != id {
		return store.User{}, fmt.Errorf("memory: update user %q: the ID cannot change (to %q)", id, work.ID)
	}
	// A fresh copy, not an assignment to work: fn may have kept &work.
	u := normUser(work)
	oldKey, newKey := foldEmail(old.Email), foldEmail(u.Email)
	if owner, ok := s.emails[newKey]; ok && owner != id {
		return store.User{}, fmt.Errorf("memory: user email %q: %w", u.Email, store.ErrAlreadyExists)
	}
	delete(s.emails, oldKey)
	s.emails[newKey] = id
	s.users[id] = u
	return cloneUser(u), nil
}

// CreateSession implements store.Sessions. Unlike SQLite it does not check
// that the user exists, as a Redis backend will not either.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	if len(sess.TokenHash) == 0 {
		return errors.New("memory: create session: empty token hash")
	}
	sess = normSession(sess)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess.ID]; ok {
		return fmt.Errorf("memory: session %q: %w", sess.ID, store.ErrAlreadyExists)
	}
	if _, ok := s.tokens[string(sess.TokenHash)]; ok {
		return fmt.Errorf("memory: session token hash: %w", store.ErrAlreadyExists)
	}
	s.sessions[sess.ID] = sess
	s.tokens[string(sess.TokenHash)] = sess.ID
	ids := s.byUser[sess.UserID]
	if ids == nil {
		ids = make(map[string]struct{})
		s.byUser[sess.UserID] = ids
	}
	ids[sess.ID] = struct{}{}
	return nil
}

// SessionByTokenHash implements store.Sessions.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.tokens[string(tokenHash)]
	if !ok {
		return store.Session{}, fmt.Errorf("memory: session by token hash: %w", store.ErrNotFound)
	}
	return cloneSession(s.sessions[id]), nil
}

// SessionByID implements store.Sessions.
func (s *Store) SessionByID(ctx context.Context, id string) (store.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sess, ok := s.sessions[id]
	if !ok {
		return store.Session{}, fmt.Errorf("memory: session %q: %w", id, store.ErrNotFound)
	}
	return cloneSession(sess), nil
}

// ListUserSessions implements store.Sessions.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]store.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]store.Session, 0, len(s.byUser[userID]))
	for id := range s.byUser[userID] {
		out = append(out, cloneSession(s.sessions[id]))
	}
	sortNewestFirst(out)
	return out, nil
}

// TouchSession implements store.Sessions.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time, ip string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return fmt.Errorf("memory: session %q: %w", id, store.ErrNotFound)
	}
	sess.LastSeenAt = normTime(lastSeen)
	sess.IdleExpiresAt = normTime(idleExpires)
	sess.IP = ip
	s.sessions[id] = sess
	return nil
}

// UpdateSession implements store.Sessions. fn runs under the write lock,
// which serialises concurrent updates; fn must therefore not call the
// store. A token hash that another session holds gives ErrAlreadyExists
// and writes nothing.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(sess *store.Session) error) (store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.sessions[id]
	if !ok {
		return store.Session{}, fmt.Errorf("memory: session %q: %w", id, store.ErrNotFound)
	}
	work := cloneSession(old)
	if err := fn(&work); err != nil {
		return store.Session{}, err
	}
	switch {
	case work.ID != id:
		return store.Session{}, fmt.Errorf("memory: update session %q: the ID cannot change (to %q)", id, work.ID)
	case work.UserID != old.UserID:
		return store.Session{}, fmt.Errorf("memory: update session %q: the user cannot change (from %q to %q)", id, old.UserID, work.UserID)
	case len(work.TokenHash) == 0:
		return store.Session{}, fmt.Errorf("memory: update session %q: empty token hash", id)
	}
	if owner, ok := s.tokens[string(work.TokenHash)]; ok && owner != id {
		return store.Session{}, fmt.Errorf("memory: update session %q: token hash: %w", id, store.ErrAlreadyExists)
	}
	// A fresh copy, not an assignment to work: fn may have kept &work.
	sess := normSession(work)
	delete(s.tokens, string(old.TokenHash))
	s.tokens[string(sess.TokenHash)] = id
	s.sessions[id] = sess
	return cloneSession(sess), nil
}

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; !ok {
		return fmt.Errorf("memory: session %q: %w", id, store.ErrNotFound)
	}
	s.deleteSession(id)
	return nil
}

// DeleteUserSessions implements store.Sessions. The removed sessions come
// back newest first, as ListUserSessions would have listed them.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) ([]store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Session
	for id := range s.byUser[userID] {
		if id != except {
			out = append(out, s.sessions[id])
		}
	}
	for _, sess := range out {
		s.deleteSession(sess.ID)
	}
	sortNewestFirst(out)
	return out, nil
}

// DeleteExpiredSessions implements store.Sessions. It scans every session,
// which is fine for a store that lives as long as a test.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, sess := range s.sessions {
		if sess.Expired(now) {
			s.deleteSession(id)
			n++
		}
	}
	return n, nil
}

// deleteSession removes a session that exists from every index. The
// caller holds the write lock.
func (s *Store) deleteSession(id string) {
	sess := s.sessions[id]
	delete(s.sessions, id)
	delete(s.tokens, string(sess.TokenHash))
	ids := s.byUser[sess.UserID]
	delete(ids, id)
	if len(ids) == 0 {
		delete(s.byUser, sess.UserID)
	}
}

// sortNewestFirst orders sessions as ListUserSessions promises, breaking
// ties by ID so that the order is stable; the SQLite backend does the same.
func sortNewestFirst(ss []store.Session) {
	slices.SortFunc(ss, func(a, b store.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// foldEmail is the key email uniqueness is checked on. It folds ASCII
// letters only, matching SQLite's COLLATE NOCASE; callers normalise emails
// anyway, so this only decides what happens when one forgets.
func foldEmail(email string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, email)
}

// normTime is a time as the SQL backends give it back: UTC, milliseconds.
func normTime(t time.Time) time.Time {
	return t.Truncate(time.Millisecond).UTC()
}

// normUser returns a copy of u as the store keeps it: sorted, duplicate-free
// roles and normalised times.
func normUser(u store.User) store.User {
	u.Roles = slices.Compact(slices.Sorted(slices.Values(u.Roles)))
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	u.CreatedAt = normTime(u.CreatedAt)
	u.UpdatedAt = normTime(u.UpdatedAt)
	return u
}

// normSession returns a copy of sess as the store keeps it. An empty
// refresh hash becomes nil, as SQLite's NULL does.
func normSession(sess store.Session) store.Session {
	sess.TokenHash = slices.Clone(sess.TokenHash)
	sess.RefreshHash = slices.Clone(sess.RefreshHash)
	if len(sess.RefreshHash) == 0 {
		sess.RefreshHash = nil
	}
	sess.CreatedAt = normTime(sess.CreatedAt)
	sess.AuthTime = normTime(sess.AuthTime)
	sess.LastSeenAt = normTime(sess.LastSeenAt)
	sess.IdleExpiresAt = normTime(sess.IdleExpiresAt)
	sess.ExpiresAt = normTime(sess.ExpiresAt)
	sess.RefreshRotatedAt = normTime(sess.RefreshRotatedAt)
	return sess
}

func cloneUser(u store.User) store.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}

func cloneSession(sess store.Session) store.Session {
	sess.TokenHash = slices.Clone(sess.TokenHash)
	sess.RefreshHash = slices.Clone(sess.RefreshHash)
	return sess
}
