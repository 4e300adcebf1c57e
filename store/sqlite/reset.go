package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

var _ store.ResetTokenStore = (*Store)(nil)

// CreateResetToken implements store.ResetTokenStore.
func (s *Store) CreateResetToken(ctx context.Context, t store.ResetToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO reset_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		t.TokenHash, t.UserID, millis(t.CreatedAt), millis(t.ExpiresAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: create reset token: %w", store.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create reset token: %w", err)
	}
	return nil
}

// ConsumeResetToken implements store.ResetTokenStore with DELETE …
// RETURNING: one statement, so two requests cannot both use a token.
func (s *Store) ConsumeResetToken(ctx context.Context, hash []byte) (store.ResetToken, error) {
	var (
		t                store.ResetToken
		created, expires int64
	)
	err := s.db.QueryRowContext(ctx, `DELETE FROM reset_tokens WHERE token_hash = ? RETURNING token_hash, user_id, created_at, expires_at`, hash).
		Scan(&t.TokenHash, &t.UserID, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ResetToken{}, fmt.Errorf("sqlite: consume reset token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.ResetToken{}, fmt.Errorf("sqlite: consume reset token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMillis(created), fromMillis(expires)
	return t, nil
}

// DeleteUserResetTokens implements store.ResetTokenStore.
func (s *Store) DeleteUserResetTokens(ctx context.Context, userID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM reset_tokens WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("sqlite: delete reset tokens: %w", err)
	}
	return nil
}

var _ store.SessionCounter = (*Store)(nil)

// CountSessions implements store.SessionCounter.
func (s *Store) CountSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	ms := millis(now)
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE expires_at > ? AND idle_expires_at > ?`, ms, ms).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count sessions: %w", err)
	}
	return n, nil
}
