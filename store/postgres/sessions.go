package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse/store"
)

const sessionColumns = `id, token_hash, user_id, created_at, auth_time, last_seen_at, idle_expires_at, expires_at, ip, user_agent,
	refresh_hash, refresh_gen, refresh_rotated_at`

const selectSession = `SELECT ` + sessionColumns + ` FROM sessions`

// expiredBatch is how many rows DeleteExpiredSessions and
// DeleteExpiredRevocations remove per statement, so that a large backlog
// does not hold row locks, and a long transaction, for long.
const expiredBatch = 1000

// updateSession writes every column but the ID and the user, which
// never change.
const updateSession = `UPDATE sessions SET token_hash = $1, created_at = $2, auth_time = $3, last_seen_at = $4,
	idle_expires_at = $5, expires_at = $6, ip = $7, user_agent = $8,
	refresh_hash = $9, refresh_gen = $10, refresh_rotated_at = $11
WHERE id = $12`

func scanSession(row pgx.Row) (store.Session, error) {
	var sess store.Session
	err := row.Scan(&sess.ID, &sess.TokenHash, &sess.UserID, &sess.CreatedAt, &sess.AuthTime, &sess.LastSeenAt,
		&sess.IdleExpiresAt, &sess.ExpiresAt, &sess.IP, &sess.UserAgent,
		&sess.RefreshHash, &sess.RefreshGen, &sess.RefreshRotatedAt)
	if err != nil {
		return store.Session{}, err
	}
	// pgx scans into new slices and local-time times.
	sess.CreatedAt = sess.CreatedAt.UTC()
	sess.AuthTime = sess.AuthTime.UTC()
	sess.LastSeenAt = sess.LastSeenAt.UTC()
	sess.IdleExpiresAt = sess.IdleExpiresAt.UTC()
	sess.ExpiresAt = sess.ExpiresAt.UTC()
	sess.RefreshRotatedAt = sess.RefreshRotatedAt.UTC()
	if len(sess.RefreshHash) == 0 {
		sess.RefreshHash = nil // NULL, or an empty bytea written by hand
	}
	return sess, nil
}

// sessionArgs are the values of sessionColumns, in order, as they are
// stored.
func sessionArgs(sess store.Session) []any {
	return []any{sess.ID, sess.TokenHash, sess.UserID,
		ms(sess.CreatedAt), ms(sess.AuthTime), ms(sess.LastSeenAt),
		ms(sess.IdleExpiresAt), ms(sess.ExpiresAt),
		sess.IP, sess.UserAgent,
		refreshHashArg(sess.RefreshHash), sess.RefreshGen, ms(sess.RefreshRotatedAt)}
}

// refreshHashArg is how a refresh hash is bound: NULL for none, whether
// the caller said so with nil or with an empty slice.
func refreshHashArg(h []byte) []byte {
	if len(h) == 0 {
		return nil
	}
	return h
}

// sessionExists is ErrAlreadyExists for a unique violation on sessions,
// naming the constraint (the ID or the token hash) but not wrapping the
// PostgreSQL error: its DETAIL quotes the key, and a token hash
// identifies a live credential, so it must not reach a log.
func sessionExists(what string, err error) error {
	var pe *pgconn.PgError
	errors.As(err, &pe)
	return fmt.Errorf("postgres: %s: %w (constraint %s)", what, store.ErrAlreadyExists, pe.ConstraintName)
}

// CreateSession implements store.Sessions. A session of a user that does
// not exist gives ErrNotFound (the foreign key).
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	what := fmt.Sprintf("create session %q", sess.ID)
	if len(sess.TokenHash) == 0 {
		return fmt.Errorf("postgres: %s: empty token hash", what)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		sessionArgs(sess)...)
	switch pgCode(err) {
	case "":
	case uniqueViolation:
		return sessionExists(what, err)
	case foreignKeyViolation:
		return fmt.Errorf("postgres: %s: user %q: %w", what, sess.UserID, store.ErrNotFound)
	}
	if err != nil {
		return wrap(what, err)
	}
	return nil
}

// getSession reads one session; ErrNotFound when there is none.
func getSession(row pgx.Row, what string) (store.Session, error) {
	sess, err := scanSession(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, fmt.Errorf("postgres: session %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, wrap("session "+what, err)
	}
	return sess, nil
}

// SessionByTokenHash implements store.Sessions. pgx prepares the
// statement on each connection the first time it runs there, so the
// lookup every request pays is parsed and planned once per connection.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	// The hash stays out of the error: it identifies a live credential.
	return getSession(s.pool.QueryRow(ctx, selectSession+" WHERE token_hash = $1", tokenHash), "by token hash")
}

// SessionByID implements store.Sessions.
func (s *Store) SessionByID(ctx context.Context, id string) (store.Session, error) {
	return getSession(s.pool.QueryRow(ctx, selectSession+" WHERE id = $1", id), fmt.Sprintf("%q", id))
}

// ListUserSessions implements store.Sessions. Sessions created in the same
// millisecond are ordered by ID, as in the other backends.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]store.Session, error) {
	rows, err := s.pool.Query(ctx, selectSession+` WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, wrap(fmt.Sprintf("list sessions of %q", userID), err)
	}
	out, err := collectSessions(rows)
	if err != nil {
		return nil, wrap(fmt.Sprintf("list sessions of %q", userID), err)
	}
	return out, nil
}

// collectSessions reads and closes rows.
func collectSessions(rows pgx.Rows) ([]store.Session, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Session, error) { return scanSession(row) })
}

// TouchSession implements store.Sessions.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time, ip string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2, ip = $3 WHERE id = $4`,
		ms(lastSeen), ms(idleExpires), ip, id)
	if err != nil {
		return wrap(fmt.Sprintf("touch session %q", id), err)
	}
	return mustHaveAffected(tag, "touch session", id)
}

// UpdateSession implements store.Sessions. The session's row is locked
// (SELECT ... FOR UPDATE) as it is read, and the read, fn and the write
// share the transaction, so concurrent updates of a session queue on the
// row lock and each fn sees the result of the one before; fn must
// therefore not call the store. (A statement that waited for the lock
// reads the row's newest version, and reads nothing else.) A token hash
// that another session holds gives ErrAlreadyExists and writes nothing.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(sess *store.Session) error) (store.Session, error) {
	what := fmt.Sprintf("update session %q", id)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Session{}, wrap(what, err)
	}
	defer rollback(ctx, tx)
	work, err := getSession(tx.QueryRow(ctx, selectSession+" WHERE id = $1 FOR UPDATE", id), fmt.Sprintf("%q", id))
	if err != nil {
		return store.Session{}, err
	}
	userID := work.UserID
	if err := fn(&work); err != nil {
		return store.Session{}, err
	}
	switch {
	case work.ID != id:
		return store.Session{}, fmt.Errorf("postgres: %s: the ID cannot change (to %q)", what, work.ID)
	case work.UserID != userID:
		return store.Session{}, fmt.Errorf("postgres: %s: the user cannot change (from %q to %q)", what, userID, work.UserID)
	case len(work.TokenHash) == 0:
		return store.Session{}, fmt.Errorf("postgres: %s: empty token hash", what)
	}
	// Copied out of work, which fn may still hold a pointer to, and read
	// back as the database will give it.
	sess := normSession(work)
	_, err = tx.Exec(ctx, updateSession,
		sess.TokenHash, sess.CreatedAt, sess.AuthTime, sess.LastSeenAt,
		sess.IdleExpiresAt, sess.ExpiresAt, sess.IP, sess.UserAgent,
		refreshHashArg(sess.RefreshHash), sess.RefreshGen, sess.RefreshRotatedAt,
		id)
	if pgCode(err) == uniqueViolation {
		return store.Session{}, sessionExists(what+": token hash", err)
	}
	if err != nil {
		return store.Session{}, wrap(what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.Session{}, wrap(what, err)
	}
	return sess, nil
}

// normSession returns a copy of sess as it reads back from the database:
// times in UTC milliseconds, no empty refresh hash, no shared slices.
func normSession(sess store.Session) store.Session {
	sess.TokenHash = slices.Clone(sess.TokenHash)
	sess.RefreshHash = slices.Clone(sess.RefreshHash)
	if len(sess.RefreshHash) == 0 {
		sess.RefreshHash = nil
	}
	sess.CreatedAt = ms(sess.CreatedAt)
	sess.AuthTime = ms(sess.AuthTime)
	sess.LastSeenAt = ms(sess.LastSeenAt)
	sess.IdleExpiresAt = ms(sess.IdleExpiresAt)
	sess.ExpiresAt = ms(sess.ExpiresAt)
	sess.RefreshRotatedAt = ms(sess.RefreshRotatedAt)
	return sess
}

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	if err != nil {
		return wrap(fmt.Sprintf("delete session %q", id), err)
	}
	return mustHaveAffected(tag, "delete session", id)
}

// mustHaveAffected turns "no row matched" into ErrNotFound. what is the
// operation and the kind of record, "delete session" say, for the error.
func mustHaveAffected(tag pgconn.CommandTag, what, id string) error {
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s %q: %w", what, id, store.ErrNotFound)
	}
	return nil
}

// DeleteUserSessions implements store.Sessions. The removed sessions come
// back newest first, as ListUserSessions would have listed them. The
// transaction makes sure they are only gone if the caller also learns
// which they were: it commits after every returned row has been read.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) ([]store.Session, error) {
	what := fmt.Sprintf("delete sessions of %q", userID)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, wrap(what, err)
	}
	defer rollback(ctx, tx)
	// RETURNING gives rows in no promised order; the outer query sorts.
	rows, err := tx.Query(ctx, `WITH gone AS (
		DELETE FROM sessions WHERE user_id = $1 AND ($2 = '' OR id <> $2) RETURNING `+sessionColumns+`)
	SELECT `+sessionColumns+` FROM gone ORDER BY created_at DESC, id`, userID, except)
	if err != nil {
		return nil, wrap(what, err)
	}
	out, err := collectSessions(rows)
	if err != nil {
		return nil, wrap(what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, wrap(what, err)
	}
	return out, nil
}

// DeleteExpiredSessions implements store.Sessions. It deletes in batches
// of expiredBatch, each its own statement (and transaction); if the
// context ends midway, the sessions already deleted stay deleted and are
// counted in n.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	// A deadline equal to now has been reached (see store.Session.Expired).
	at := ms(now)
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE expires_at <= $1 OR idle_expires_at <= $1 LIMIT $2)`,
			at, expiredBatch)
		if err != nil {
			return total, wrap("delete expired sessions", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < expiredBatch {
			return total, nil
		}
	}
}
