package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/store"
)

const keyColumns = `id, alg, sealed, created_at, retired_at`

// CreateKey implements store.Keys. A key without sealed material is
// refused: it could never sign.
func (s *Store) CreateKey(ctx context.Context, k store.SigningKey) error {
	what := fmt.Sprintf("create key %q", k.ID)
	if len(k.Sealed) == 0 {
		return fmt.Errorf("postgres: %s: empty sealed key", what)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Alg, k.Sealed, ms(k.CreatedAt), ms(k.RetiredAt))
	if err != nil {
		return wrap(what, err)
	}
	return nil
}

// ListKeys implements store.Keys. There are a handful of keys at any
// time, so it reads them all without paging.
func (s *Store) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list keys", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SigningKey, error) {
		var k store.SigningKey
		err := row.Scan(&k.ID, &k.Alg, &k.Sealed, &k.CreatedAt, &k.RetiredAt)
		k.CreatedAt, k.RetiredAt = k.CreatedAt.UTC(), k.RetiredAt.UTC()
		return k, err
	})
	if err != nil {
		return nil, wrap("list keys", err)
	}
	return out, nil
}

// RetireKeys implements store.Keys, in one statement, so a key created
// meanwhile is either retired or not, never half.
func (s *Store) RetireKeys(ctx context.Context, except string, at time.Time) error {
	_, err := s.pool.Exec(ctx,
		`UPDATE signing_keys SET retired_at = $1 WHERE retired_at = $2 AND ($3 = '' OR id <> $3)`,
		ms(at), ms(time.Time{}), except)
	if err != nil {
		return wrap(fmt.Sprintf("retire keys except %q", except), err)
	}
	return nil
}

// DeleteKey implements store.Keys.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	if err != nil {
		return wrap(fmt.Sprintf("delete key %q", id), err)
	}
	return mustHaveAffected(tag, "delete key", id)
}
