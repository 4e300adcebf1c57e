package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/gatehouse/gatehouse/store"
)

var _ store.RoleStore = (*Store)(nil)

// PutRole implements store.RoleStore.
func (s *Store) PutRole(ctx context.Context, r store.Role) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roles == nil {
		s.roles = map[string]store.Role{}
	}
	r.Permissions = slices.Compact(slices.Sorted(slices.Values(r.Permissions)))
	r.CreatedAt, r.UpdatedAt = normTime(r.CreatedAt), normTime(r.UpdatedAt)
	if old, ok := s.roles[r.Name]; ok {
		r.CreatedAt = old.CreatedAt
	}
	s.roles[r.Name] = r
	return nil
}

// DeleteRole implements store.RoleStore.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.roles[name]; !ok {
		return fmt.Errorf("role %q: %w", name, store.ErrNotFound)
	}
	delete(s.roles, name)
	return nil
}

// ListRoles implements store.RoleStore.
func (s *Store) ListRoles(ctx context.Context) ([]store.Role, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Role, 0, len(s.roles))
	for _, r := range s.roles {
		r.Permissions = slices.Clone(r.Permissions)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
