package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

const revocationColumns = `seq, kind, key, not_before, expires_at, created_at`

// AddRevocations implements store.Revocations. The entries go in one
// immediate transaction: the write lock it holds orders them after every
// entry already committed and before any added later, which is what makes
// seq the order in which entries become visible. AUTOINCREMENT (see
// 0002_tokens.sql) keeps seq from being reused after a delete.
func (s *Store) AddRevocations(ctx context.Context, rs []store.Revocation) ([]store.Revocation, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: add revocations: %w", err)
	}
	defer rollback(tx)
	st, err := tx.PrepareContext(ctx,
		`INSERT INTO revocations (kind, key, not_before, expires_at, created_at) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: add revocations: %w", err)
	}
	defer st.Close()
	out := make([]store.Revocation, len(rs))
	for i, r := range rs {
		res, err := st.ExecContext(ctx, r.Kind, r.Key, millis(r.NotBefore), millis(r.ExpiresAt), millis(r.CreatedAt))
		if err != nil {
			return nil, fmt.Errorf("sqlite: add revocation %s %q: %w", r.Kind, r.Key, err)
		}
		if r.Seq, err = res.LastInsertId(); err != nil {
			return nil, fmt.Errorf("sqlite: add revocation %s %q: %w", r.Kind, r.Key, err)
		}
		r.NotBefore, r.ExpiresAt, r.CreatedAt = normTime(r.NotBefore), normTime(r.ExpiresAt), normTime(r.CreatedAt)
		out[i] = r
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: add revocations: %w", err)
	}
	return out, nil
}

// RevocationsSince implements store.Revocations. An entry whose ExpiresAt
// equals now has expired, as a session's deadline has.
func (s *Store) RevocationsSince(ctx context.Context, after int64, now time.Time) ([]store.Revocation, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+revocationColumns+` FROM revocations WHERE seq > ? AND expires_at > ? ORDER BY seq`,
		after, millis(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: revocations since %d: %w", after, err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var (
			r                           store.Revocation
			notBefore, expires, created int64
		)
		if err := rows.Scan(&r.Seq, &r.Kind, &r.Key, &notBefore, &expires, &created); err != nil {
			return nil, fmt.Errorf("sqlite: revocations since %d: %w", after, err)
		}
		r.NotBefore, r.ExpiresAt, r.CreatedAt = fromMillis(notBefore), fromMillis(expires), fromMillis(created)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revocations since %d: %w", after, err)
	}
	return out, nil
}

// DeleteExpiredRevocations implements store.Revocations. Like
// DeleteExpiredSessions it deletes in batches of expiredBatch, each its
// own transaction, and counts the batches done if the context ends.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	nowMs := millis(now)
	total := 0
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM revocations WHERE seq IN (
			SELECT seq FROM revocations WHERE expires_at <= ? LIMIT ?)`, nowMs, expiredBatch)
		if err != nil {
			return total, fmt.Errorf("sqlite: delete expired revocations: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: delete expired revocations: %w", err)
		}
		total += int(n)
		if n < expiredBatch {
			return total, nil
		}
	}
}
