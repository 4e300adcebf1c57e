package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/store"
)

var _ store.ResetTokenStore = (*Store)(nil)

// CreateResetToken implements store.ResetTokenStore. Errors leave out the
// driver's detail, which would quote the token hash.
func (s *Store) CreateResetToken(ctx context.Context, t store.ResetToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO reset_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		t.TokenHash, t.UserID, ms(t.CreatedAt), ms(t.ExpiresAt))
	if pgCode(err) == uniqueViolation {
		return fmt.Errorf("postgres: create reset token: %w", store.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create reset token: code %s", pgCode(err))
	}
	return nil
}

// ConsumeResetToken implements store.ResetTokenStore with DELETE …
// RETURNING, so a token works once even under concurrency.
func (s *Store) ConsumeResetToken(ctx context.Context, hash []byte) (store.ResetToken, error) {
	var (
		t                store.ResetToken
		created, expires time.Time
	)
	err := s.pool.QueryRow(ctx, `DELETE FROM reset_tokens WHERE token_hash = $1 RETURNING token_hash, user_id, created_at, expires_at`, hash).
		Scan(&t.TokenHash, &t.UserID, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ResetToken{}, fmt.Errorf("postgres: consume reset token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.ResetToken{}, wrap("consume reset token", err)
	}
	t.CreatedAt, t.ExpiresAt = created.UTC(), expires.UTC()
	return t, nil
}

// DeleteUserResetTokens implements store.ResetTokenStore.
func (s *Store) DeleteUserResetTokens(ctx context.Context, userID string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM reset_tokens WHERE user_id = $1`, userID); err != nil {
		return wrap("delete reset tokens", err)
	}
	return nil
}

var _ store.SessionCounter = (*Store)(nil)

// CountSessions implements store.SessionCounter.
func (s *Store) CountSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE expires_at > $1 AND idle_expires_at > $1`, ms(now)).Scan(&n); err != nil {
		return 0, wrap("count sessions", err)
	}
	return n, nil
}
