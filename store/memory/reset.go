package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

var _ store.ResetTokenStore = (*Store)(nil)

// CreateResetToken implements store.ResetTokenStore.
func (s *Store) CreateResetToken(ctx context.Context, t store.ResetToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resets == nil {
		s.resets = map[string]store.ResetToken{}
	}
	k := string(t.TokenHash)
	if _, ok := s.resets[k]; ok {
		return fmt.Errorf("reset token: %w", store.ErrAlreadyExists)
	}
	t.TokenHash = append([]byte(nil), t.TokenHash...)
	t.CreatedAt, t.ExpiresAt = normTime(t.CreatedAt), normTime(t.ExpiresAt)
	s.resets[k] = t
	return nil
}

// ConsumeResetToken implements store.ResetTokenStore.
func (s *Store) ConsumeResetToken(ctx context.Context, hash []byte) (store.ResetToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.resets[string(hash)]
	if !ok {
		return store.ResetToken{}, fmt.Errorf("reset token: %w", store.ErrNotFound)
	}
	delete(s.resets, string(hash))
	return t, nil
}

// DeleteUserResetTokens implements store.ResetTokenStore.
func (s *Store) DeleteUserResetTokens(ctx context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.resets {
		if t.UserID == userID {
			delete(s.resets, k)
		}
	}
	return nil
}

var _ store.SessionCounter = (*Store)(nil)

// CountSessions implements store.SessionCounter.
func (s *Store) CountSessions(ctx context.Context, now time.Time) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, x := range s.sessions {
		if !x.Expired(now) {
			n++
		}
	}
	return n, nil
}
