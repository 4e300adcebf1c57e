package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// CreateKey implements store.Keys. A key without sealed material is
// refused, as the SQLite backend refuses it.
func (s *Store) CreateKey(ctx context.Context, k store.SigningKey) error {
	if len(k.Sealed) == 0 {
		return fmt.Errorf("memory: create key %q: empty sealed key", k.ID)
	}
	k.Sealed = slices.Clone(k.Sealed)
	k.CreatedAt, k.RetiredAt = normTime(k.CreatedAt), normTime(k.RetiredAt)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("memory: key %q: %w", k.ID, store.ErrAlreadyExists)
	}
	s.keys[k.ID] = k
	return nil
}

// ListKeys implements store.Keys.
func (s *Store) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]store.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		k.Sealed = slices.Clone(k.Sealed)
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b store.SigningKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RetireKeys implements store.Keys.
func (s *Store) RetireKeys(ctx context.Context, except string, at time.Time) error {
	at = normTime(at)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, k := range s.keys {
		if k.RetiredAt.IsZero() && (except == "" || id != except) {
			k.RetiredAt = at
			s.keys[id] = k
		}
	}
	return nil
}

// DeleteKey implements store.Keys.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[id]; !ok {
		return fmt.Errorf("memory: key %q: %w", id, store.ErrNotFound)
	}
	delete(s.keys, id)
	return nil
}
