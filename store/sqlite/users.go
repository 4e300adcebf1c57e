package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store"
)

// defaultLimit is ListUsers' page size when the caller sets none.
const defaultLimit = 100

// selectUser reads a user and its roles in one statement, hence one
// snapshot: the roles come as a JSON array, already sorted.
const selectUser = `SELECT id, email, password_hash, disabled, created_at, updated_at,
	(SELECT json_group_array(role ORDER BY role) FROM user_roles WHERE user_id = users.id)
FROM users`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (store.User, error) {
	var (
		u                store.User
		created, updated int64
		roles            string
	)
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Disabled, &created, &updated, &roles); err != nil {
		return store.User{}, err
	}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return store.User{}, fmt.Errorf("roles of user %q: %w", u.ID, err)
	}
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	return u, nil
}

// getUser reads one user; ErrNotFound when there is none. what names the
// lookup in the error.
func (s *Store) getUser(ctx context.Context, q querier, what, where string, arg any) (store.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, selectUser+" WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("sqlite: user %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: user %s: %w", what, err)
	}
	return u, nil
}

// UserByID implements store.Users.
// It runs on every authenticated request, so its statement is prepared once.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	st, err := s.userByID.get(ctx, s.db)
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: user %q: %w", id, err)
	}
	u, err := scanUser(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("sqlite: user %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: user %q: %w", id, err)
	}
	return u, nil
}

// UserByEmail implements store.Users. The column's NOCASE collation makes
// the match ASCII case-insensitive.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	return s.getUser(ctx, s.db, fmt.Sprintf("with email %q", email), "email = ?", email)
}

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.ID, err)
	}
	defer rollback(tx)
	_, err = tx.ExecContext(ctx,
		`INSERT INTO users (id, email, password_hash, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: create user %q: %w: %v", u.ID, store.ErrAlreadyExists, err)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.ID, err)
	}
	if err := insertRoles(ctx, tx, u.ID, u.Roles); err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.ID, err)
	}
	return nil
}

// insertRoles adds roles to a user that has none, dropping duplicates
// which the primary key would otherwise reject.
func insertRoles(ctx context.Context, tx *sql.Tx, userID string, roles []string) error {
	roles = normRoles(roles)
	if len(roles) == 0 {
		return nil
	}
	// One statement for all roles rather than one round trip each.
	q := "INSERT INTO user_roles (user_id, role) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?), ", len(roles)), ", ")
	args := make([]any, 0, 2*len(roles))
	for _, r := range roles {
		args = append(args, userID, r)
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("roles: %w", err)
	}
	return nil
}

// ListUsers implements store.Users.
func (s *Store) ListUsers(ctx context.Context, opts store.ListUsersOptions) ([]store.User, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	q := selectUser + " WHERE id > ?"
	args := []any{opts.After}
	if opts.EmailPrefix != "" {
		// LIKE folds ASCII case as the email column's NOCASE does.
		q += ` AND email LIKE ? ESCAPE '\'`
		args = append(args, likePrefix(opts.EmailPrefix))
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return out, nil
}

// likePrefix is a LIKE pattern matching strings that start with prefix,
// its own wildcards escaped.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

// CountUsers implements store.Users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count users: %w", err)
	}
	return n, nil
}

// UpdateUser implements store.Users. The read, fn and the write share one
// immediate transaction, so concurrent updates queue instead of
// overwriting each other; fn must therefore not call the store.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(u *store.User) error) (store.User, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: update user %q: %w", id, err)
	}
	defer rollback(tx)
	work, err := s.getUser(ctx, tx, fmt.Sprintf("%q", id), "id = ?", id)
	if err != nil {
		return store.User{}, err
	}
	if err := fn(&work); err != nil {
		return store.User{}, err
	}
	if work.ID != id {
		return store.User{}, fmt.Errorf("sqlite: update user %q: the ID cannot change (to %q)", id, work.ID)
	}
	// Copied out of work, which fn may still hold a pointer to.
	u := work
	u.Roles = normRoles(work.Roles)
	u.CreatedAt, u.UpdatedAt = normTime(work.CreatedAt), normTime(work.UpdatedAt)

	_, err = tx.ExecContext(ctx,
		`UPDATE users SET email = ?, password_hash = ?, disabled = ?, created_at = ?, updated_at = ? WHERE id = ?`,
		u.Email, u.PasswordHash, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt), id)
	if isUniqueViolation(err) {
		return store.User{}, fmt.Errorf("sqlite: update user %q: email %q: %w", id, u.Email, store.ErrAlreadyExists)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: update user %q: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = ?`, id); err != nil {
		return store.User{}, fmt.Errorf("sqlite: update user %q: roles: %w", id, err)
	}
	if err := insertRoles(ctx, tx, id, u.Roles); err != nil {
		return store.User{}, fmt.Errorf("sqlite: update user %q: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return store.User{}, fmt.Errorf("sqlite: update user %q: %w", id, err)
	}
	return u, nil
}
