package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/store"
)

// PutRole implements store.RoleStore with one upsert, keeping created_at.
func (s *Store) PutRole(ctx context.Context, r store.Role) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO roles (name, permissions, description, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET permissions = excluded.permissions,
			description = excluded.description, updated_at = excluded.updated_at`,
		r.Name, rolesArg(r.Permissions), r.Description, ms(r.CreatedAt), ms(r.UpdatedAt))
	if err != nil {
		return wrap(fmt.Sprintf("put role %q", r.Name), err)
	}
	return nil
}

// DeleteRole implements store.RoleStore.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM roles WHERE name = $1`, name)
	if err != nil {
		return wrap(fmt.Sprintf("delete role %q", name), err)
	}
	return mustHaveAffected(tag, "delete role", name)
}

// ListRoles implements store.RoleStore.
func (s *Store) ListRoles(ctx context.Context) ([]store.Role, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, permissions, description, created_at, updated_at FROM roles ORDER BY name`)
	if err != nil {
		return nil, wrap("list roles", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Role, error) {
		var r store.Role
		err := row.Scan(&r.Name, &r.Permissions, &r.Description, &r.CreatedAt, &r.UpdatedAt)
		if len(r.Permissions) == 0 {
			r.Permissions = nil
		}
		r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		return r, err
	})
	if err != nil {
		return nil, wrap("list roles", err)
	}
	return out, nil
}
