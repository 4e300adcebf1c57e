package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/store"
)

var _ store.RoleStore = (*Store)(nil)

// PutRole implements store.RoleStore with one upsert, keeping created_at.
func (s *Store) PutRole(ctx context.Context, r store.Role) error {
	perms, err := json.Marshal(slices.Compact(slices.Sorted(slices.Values(append([]string{}, r.Permissions...)))))
	if err != nil {
		return fmt.Errorf("sqlite: put role %q: %w", r.Name, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO roles (name, permissions, description, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET permissions = excluded.permissions,
			description = excluded.description, updated_at = excluded.updated_at`,
		r.Name, string(perms), r.Description, millis(r.CreatedAt), millis(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: put role %q: %w", r.Name, err)
	}
	return nil
}

// DeleteRole implements store.RoleStore.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM roles WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("sqlite: delete role %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlite: delete role %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// ListRoles implements store.RoleStore.
func (s *Store) ListRoles(ctx context.Context) ([]store.Role, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, permissions, description, created_at, updated_at FROM roles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list roles: %w", err)
	}
	defer rows.Close()
	var out []store.Role
	for rows.Next() {
		var (
			r                store.Role
			perms            string
			created, updated int64
		)
		if err := rows.Scan(&r.Name, &perms, &r.Description, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: list roles: %w", err)
		}
		if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
			return nil, fmt.Errorf("sqlite: list roles: role %q: %w", r.Name, err)
		}
		r.CreatedAt, r.UpdatedAt = fromMillis(created), fromMillis(updated)
		out = append(out, r)
	}
	return out, rows.Err()
}
