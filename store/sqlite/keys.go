package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

const keyColumns = `id, alg, sealed, created_at, retired_at`

// CreateKey implements store.Keys. A key without sealed material is
// refused: it could never sign.
func (s *Store) CreateKey(ctx context.Context, k store.SigningKey) error {
	if len(k.Sealed) == 0 {
		return fmt.Errorf("sqlite: create key %q: empty sealed key", k.ID)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO signing_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.Alg, k.Sealed, millis(k.CreatedAt), millis(k.RetiredAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: create key %q: %w", k.ID, store.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create key %q: %w", k.ID, err)
	}
	return nil
}

// ListKeys implements store.Keys. There are a handful of keys at any
// time, so it reads them all without paging.
func (s *Store) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var (
			k                store.SigningKey
			created, retired int64
		)
		if err := rows.Scan(&k.ID, &k.Alg, &k.Sealed, &created, &retired); err != nil {
			return nil, fmt.Errorf("sqlite: list keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt = fromMillis(created), fromMillis(retired)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	return out, nil
}

// RetireKeys implements store.Keys, in one statement, so a key created
// meanwhile is either retired or not, never half.
func (s *Store) RetireKeys(ctx context.Context, except string, at time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`UPDATE signing_keys SET retired_at = ? WHERE retired_at = ? AND id IS NOT ?`,
		millis(at), millis(time.Time{}), sql.NullString{String: except, Valid: except != ""})
	if err != nil {
		return fmt.Errorf("sqlite: retire keys except %q: %w", except, err)
	}
	return nil
}

// DeleteKey implements store.Keys.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete key %q: %w", id, err)
	}
	return mustHaveAffected(res, "delete key", id)
}
