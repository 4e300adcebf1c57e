package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

const sessionColumns = `id, token_hash, user_id, created_at, auth_time, last_seen_at, idle_expires_at, expires_at, ip, user_agent,
	refresh_hash, refresh_gen, refresh_rotated_at`

const selectSession = `SELECT ` + sessionColumns + ` FROM sessions`

const touchSession = `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ?, ip = ? WHERE id = ?`

// expiredBatch is how many sessions DeleteExpiredSessions removes per
// transaction, so that a large backlog does not hold the write lock, and
// every sign-in behind it, for long.
const expiredBatch = 1000

// updateSession writes every column but the ID and the user, which
// never change.
const updateSession = `UPDATE sessions SET token_hash = ?, created_at = ?, auth_time = ?, last_seen_at = ?,
	idle_expires_at = ?, expires_at = ?, ip = ?, user_agent = ?,
	refresh_hash = ?, refresh_gen = ?, refresh_rotated_at = ?
WHERE id = ?`

func scanSession(row scanner) (store.Session, error) {
	var (
		sess                                               store.Session
		created, auth, seen, idleExpires, expires, rotated int64
	)
	err := row.Scan(&sess.ID, &sess.TokenHash, &sess.UserID, &created, &auth, &seen, &idleExpires, &expires, &sess.IP, &sess.UserAgent,
		&sess.RefreshHash, &sess.RefreshGen, &rotated)
	if err != nil {
		return store.Session{}, err
	}
	sess.CreatedAt = fromMillis(created)
	sess.AuthTime = fromMillis(auth)
	sess.LastSeenAt = fromMillis(seen)
	sess.IdleExpiresAt = fromMillis(idleExpires)
	sess.ExpiresAt = fromMillis(expires)
	sess.RefreshRotatedAt = fromMillis(rotated)
	if len(sess.RefreshHash) == 0 {
		sess.RefreshHash = nil // NULL, or an empty blob written by hand
	}
	return sess, nil
}

// sessionArgs are the values of sessionColumns, in order.
func sessionArgs(sess store.Session) []any {
	return []any{sess.ID, sess.TokenHash, sess.UserID,
		millis(sess.CreatedAt), millis(sess.AuthTime), millis(sess.LastSeenAt),
		millis(sess.IdleExpiresAt), millis(sess.ExpiresAt),
		sess.IP, sess.UserAgent,
		refreshHashArg(sess.RefreshHash), sess.RefreshGen, millis(sess.RefreshRotatedAt)}
}

// refreshHashArg is how a refresh hash is bound: NULL for none, whether
// the caller said so with nil or with an empty slice.
func refreshHashArg(h []byte) any {
	if len(h) == 0 {
		return nil
	}
	return h
}

// CreateSession implements store.Sessions. A session of a user that does
// not exist gives ErrNotFound (the foreign key).
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	if len(sess.TokenHash) == 0 {
		return fmt.Errorf("sqlite: create session %q: empty token hash", sess.ID)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sessionArgs(sess)...)
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("sqlite: create session %q: %w: %v", sess.ID, store.ErrAlreadyExists, err)
	case isForeignKeyViolation(err):
		return fmt.Errorf("sqlite: create session %q: user %q: %w", sess.ID, sess.UserID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: create session %q: %w", sess.ID, err)
	}
	return nil
}

// getSession reads one session; ErrNotFound when there is none.
func getSession(row *sql.Row, what string) (store.Session, error) {
	sess, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("sqlite: session %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlite: session %s: %w", what, err)
	}
	return sess, nil
}

// SessionByTokenHash implements store.Sessions.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	// The hash stays out of the error: it identifies a live credential.
	const what = "by token hash"
	st, err := s.byTokenHash.get(ctx, s.db)
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlite: session %s: %w", what, err)
	}
	return getSession(st.QueryRowContext(ctx, tokenHash), what)
}

// SessionByID implements store.Sessions.
func (s *Store) SessionByID(ctx context.Context, id string) (store.Session, error) {
	st, err := s.sessionByID.get(ctx, s.db)
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlite: session %q: %w", id, err)
	}
	return getSession(st.QueryRowContext(ctx, id), fmt.Sprintf("%q", id))
}

// ListUserSessions implements store.Sessions. Sessions created in the same
// millisecond are ordered by ID, as in the memory backend.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]store.Session, error) {
	rows, err := s.db.QueryContext(ctx,
		selectSession+` WHERE user_id = ? ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions of %q: %w", userID, err)
	}
	out, err := scanSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions of %q: %w", userID, err)
	}
	return out, nil
}

// scanSessions reads and closes rows.
func scanSessions(rows *sql.Rows) ([]store.Session, error) {
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, rows.Err()
}

// TouchSession implements store.Sessions. It is a group-commit write (see
// batch.go), as session checks touch many sessions at once.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time, ip string) error {
	return s.write(ctx, fmt.Sprintf("touch session %q", id), func(ctx context.Context, tx *sql.Tx) (bool, error) {
		st, err := s.touch.in(ctx, s.db, tx)
		if err != nil {
			return true, fmt.Errorf("sqlite: touch session %q: %w", id, err)
		}
		res, err := st.ExecContext(ctx, millis(lastSeen), millis(idleExpires), ip, id)
		if err != nil {
			return true, fmt.Errorf("sqlite: touch session %q: %w", id, err)
		}
		return false, mustHaveAffected(res, "touch session", id)
	})
}

// UpdateSession implements store.Sessions. The read, fn and the write run
// in one immediate transaction, shared with the other session writes
// queued at the time (group commit, see batch.go) and in their order, so
// concurrent updates of a session are serialised and each fn sees the
// result of the one before. fn runs on the goroutine leading the batch,
// not necessarily the caller's, and must not call the store. A token hash
// that another session holds gives ErrAlreadyExists and writes nothing.
// The result is returned only once the transaction has committed.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(sess *store.Session) error) (store.Session, error) {
	var sess store.Session
	err := s.write(ctx, fmt.Sprintf("update session %q", id), func(ctx context.Context, tx *sql.Tx) (abort bool, err error) {
		sess, abort, err = s.updateSessionTx(ctx, tx, id, fn)
		return abort, err
	})
	if err != nil {
		return store.Session{}, err
	}
	return sess, nil
}

// updateSessionTx is UpdateSession's read-modify-write inside tx. abort is
// true for errors of the transaction itself; fn's error, a missing session
// and a refused update leave tx usable.
func (s *Store) updateSessionTx(ctx context.Context, tx *sql.Tx, id string, fn func(sess *store.Session) error) (_ store.Session, abort bool, _ error) {
	sel, err := s.sessionByID.in(ctx, s.db, tx)
	if err != nil {
		return store.Session{}, true, fmt.Errorf("sqlite: update session %q: %w", id, err)
	}
	upd, err := s.update.in(ctx, s.db, tx)
	if err != nil {
		return store.Session{}, true, fmt.Errorf("sqlite: update session %q: %w", id, err)
	}
	work, err := getSession(sel.QueryRowContext(ctx, id), fmt.Sprintf("%q", id))
	if err != nil {
		return store.Session{}, !errors.Is(err, store.ErrNotFound), err
	}
	userID := work.UserID
	if err := fn(&work); err != nil {
		return store.Session{}, false, err
	}
	switch {
	case work.ID != id:
		return store.Session{}, false, fmt.Errorf("sqlite: update session %q: the ID cannot change (to %q)", id, work.ID)
	case work.UserID != userID:
		return store.Session{}, false, fmt.Errorf("sqlite: update session %q: the user cannot change (from %q to %q)", id, userID, work.UserID)
	case len(work.TokenHash) == 0:
		return store.Session{}, false, fmt.Errorf("sqlite: update session %q: empty token hash", id)
	}
	// Copied out of work, which fn may still hold a pointer to, and read
	// back as the database will give it.
	sess := normSession(work)
	_, err = upd.ExecContext(ctx,
		sess.TokenHash, millis(sess.CreatedAt), millis(sess.AuthTime), millis(sess.LastSeenAt),
		millis(sess.IdleExpiresAt), millis(sess.ExpiresAt), sess.IP, sess.UserAgent,
		refreshHashArg(sess.RefreshHash), sess.RefreshGen, millis(sess.RefreshRotatedAt),
		id)
	if isUniqueViolation(err) {
		// The hash stays out of the error: it identifies a live credential.
		// SQLite has undone the statement; the transaction goes on.
		return store.Session{}, false, fmt.Errorf("sqlite: update session %q: token hash: %w", id, store.ErrAlreadyExists)
	}
	if err != nil {
		return store.Session{}, true, fmt.Errorf("sqlite: update session %q: %w", id, err)
	}
	return sess, false, nil
}

// normSession returns a copy of sess as it reads back from the database:
// times in UTC milliseconds, no empty refresh hash, no shared slices.
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

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete session %q: %w", id, err)
	}
	return mustHaveAffected(res, "delete session", id)
}

// mustHaveAffected turns "no row matched" into ErrNotFound. what is the
// operation and the kind of record, "delete session" say, for the error.
func mustHaveAffected(res sql.Result, what, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s %q: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s %q: %w", what, id, store.ErrNotFound)
	}
	return nil
}

// DeleteUserSessions implements store.Sessions. The removed sessions come
// back newest first, as ListUserSessions would have listed them. The
// transaction makes sure they are only gone if the caller also learns
// which they were.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) ([]store.Session, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete sessions of %q: %w", userID, err)
	}
	defer rollback(tx)
	rows, err := tx.QueryContext(ctx,
		`DELETE FROM sessions WHERE user_id = ? AND id IS NOT ? RETURNING `+sessionColumns,
		userID, sql.NullString{String: except, Valid: except != ""})
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete sessions of %q: %w", userID, err)
	}
	out, err := scanSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete sessions of %q: %w", userID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: delete sessions of %q: %w", userID, err)
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(out, func(a, b store.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteExpiredSessions implements store.Sessions. It deletes in batches
// of expiredBatch, each its own transaction; if the context ends midway,
// the sessions already deleted stay deleted and are counted in n.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	// A deadline equal to now has been reached (see store.Session.Expired).
	nowMs := millis(now)
	total := 0
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE expires_at <= ? OR idle_expires_at <= ? LIMIT ?)`,
			nowMs, nowMs, expiredBatch)
		if err != nil {
			return total, fmt.Errorf("sqlite: delete expired sessions: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: delete expired sessions: %w", err)
		}
		total += int(n)
		if n < expiredBatch {
			return total, nil
		}
	}
}
