package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/store"
)

// defaultLimit is ListUsers' page size when the caller sets none.
const defaultLimit = 100

// selectUser reads a user and its roles in one statement, hence one
// snapshot: the roles come as an array, already sorted.
const selectUser = `SELECT id, email, password_hash, disabled, created_at, updated_at,
	ARRAY(SELECT role FROM user_roles WHERE user_id = users.id ORDER BY role)
FROM users`

// byEmail is the WHERE clause matching an email the way the unique index
// users_email_lower does (see 0001_init.sql), so that it can use it: the
// "C" collation on the argument makes lower() fold ASCII only, as it does
// for the column.
const byEmail = `lower(email) = lower($1::text COLLATE "C")`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &u.Roles); err != nil {
		return store.User{}, err
	}
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// getUser reads one user; ErrNotFound when there is none. what names the
// lookup in the error.
func (s *Store) getUser(ctx context.Context, q querier, what, where string, arg any) (store.User, error) {
	u, err := scanUser(q.QueryRow(ctx, selectUser+" WHERE "+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("postgres: user %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, wrap("user "+what, err)
	}
	return u, nil
}

// UserByID implements store.Users.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	return s.getUser(ctx, s.pool, fmt.Sprintf("%q", id), "id = $1", id)
}

// UserByEmail implements store.Users. The match folds ASCII case, as the
// uniqueness of emails does.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	return s.getUser(ctx, s.pool, fmt.Sprintf("with email %q", email), byEmail, email)
}

// CreateUser implements store.Users, in one statement: the user and its
// roles go in together or not at all, in one round trip.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.pool.Exec(ctx, `WITH u AS (
		INSERT INTO users (id, email, password_hash, disabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)
	INSERT INTO user_roles (user_id, role) SELECT u.id, r FROM u, unnest($7::text[]) AS r`,
		u.ID, u.Email, u.PasswordHash, u.Disabled, ms(u.CreatedAt), ms(u.UpdatedAt), rolesArg(u.Roles))
	if err != nil {
		return wrap(fmt.Sprintf("create user %q", u.ID), err)
	}
	return nil
}

// rolesArg is roles as they are bound: normalised, and an empty array
// rather than NULL for none, so that unnest gives no rows.
func rolesArg(roles []string) []string {
	if r := normRoles(roles); r != nil {
		return r
	}
	return []string{}
}

// ListUsers implements store.Users.
func (s *Store) ListUsers(ctx context.Context, opts store.ListUsersOptions) ([]store.User, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	q := selectUser + " WHERE id > $1"
	args := []any{opts.After, limit}
	if opts.EmailPrefix != "" {
		// Folding ASCII case on both sides, as the email index does.
		q += ` AND lower(email) LIKE lower($3::text COLLATE "C") ESCAPE '\'`
		args = append(args, likePrefix(opts.EmailPrefix))
	}
	q += " ORDER BY id LIMIT $2"
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("list users", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.User, error) { return scanUser(row) })
	if err != nil {
		return nil, wrap("list users", err)
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
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, wrap("count users", err)
	}
	return n, nil
}

// UpdateUser implements store.Users. The user's row is locked (SELECT ...
// FOR UPDATE) before it is read, and the read, fn and the write share the
// transaction, so concurrent updates of a user queue and each fn sees the
// result of the one before; fn must therefore not call the store.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(u *store.User) error) (store.User, error) {
	what := fmt.Sprintf("update user %q", id)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.User{}, wrap(what, err)
	}
	defer rollback(ctx, tx)
	// Lock first, read second, in two statements. Under READ COMMITTED a
	// statement that waits for a row lock sees the row's newest version
	// but keeps its old snapshot for everything else, so the roles read by
	// the same statement could predate the update it waited for. The read
	// after the lock takes a fresh snapshot.
	var locked int
	err = tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&locked)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("postgres: %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, wrap(what, err)
	}
	work, err := s.getUser(ctx, tx, fmt.Sprintf("%q", id), "id = $1", id)
	if err != nil {
		return store.User{}, err
	}
	if err := fn(&work); err != nil {
		return store.User{}, err
	}
	if work.ID != id {
		return store.User{}, fmt.Errorf("postgres: %s: the ID cannot change (to %q)", what, work.ID)
	}
	// Copied out of work, which fn may still hold a pointer to, and as it
	// reads back.
	u := work
	u.Roles = normRoles(work.Roles)
	u.CreatedAt, u.UpdatedAt = ms(work.CreatedAt), ms(work.UpdatedAt)

	_, err = tx.Exec(ctx,
		`UPDATE users SET email = $1, password_hash = $2, disabled = $3, created_at = $4, updated_at = $5 WHERE id = $6`,
		u.Email, u.PasswordHash, u.Disabled, u.CreatedAt, u.UpdatedAt, id)
	if err != nil {
		return store.User{}, wrap(fmt.Sprintf("%s: email %q", what, u.Email), err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM user_roles WHERE user_id = $1`, id); err != nil {
		return store.User{}, wrap(what+": roles", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])`,
		id, rolesArg(u.Roles)); err != nil {
		return store.User{}, wrap(what+": roles", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.User{}, wrap(what, err)
	}
	return u, nil
}
