package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/postgres"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// BenchmarkScale measures the scale of state on PostgreSQL: the lookup
// every cookie request pays (SessionByTokenHash of a random live session)
// in a sessions table of N rows, and the space each row takes
// (bytes/session: pg_total_relation_size of sessions, with its indexes and
// TOAST, after VACUUM ANALYZE, divided by N).
//
// N is 10000 by default; set GATEHOUSE_BENCH_SESSIONS to choose, e.g.
//
//	GATEHOUSE_BENCH_SESSIONS=10000,100000,1000000 go test -run '^$' -bench Scale -benchtime 20000x ./store/postgres/
//
// Each size gets a schema of its own (pgtest), filled once before the
// timer starts with COPY and dropped at the end.
func BenchmarkScale(b *testing.B) {
	storetest.BenchmarkScale(b, func(b *testing.B, n int) (store.Sessions, [][]byte, float64) {
		ctx := b.Context()
		url := pgtest.URL(b)
		s, err := postgres.Open(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		hashes, perSession := fillScale(b, url, n)
		return s, hashes, perSession
	})
}

// fillScale copies n generated sessions and their users into the schema
// of url, and returns the sessions' token hashes and the bytes each takes.
func fillScale(b *testing.B, url string, n int) ([][]byte, float64) {
	ctx := b.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	sc := storetest.NewScale(n)
	users := make([][]any, len(sc.UserIDs))
	for i := range users {
		u := sc.User(i)
		users[i] = []any{u.ID, u.Email, u.PasswordHash, u.CreatedAt, u.UpdatedAt}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "email", "password_hash", "created_at", "updated_at"},
		pgx.CopyFromRows(users)); err != nil {
		b.Fatalf("copy users: %v", err)
	}
	cols := []string{"id", "token_hash", "user_id", "created_at", "auth_time", "last_seen_at", "idle_expires_at", "expires_at",
		"ip", "user_agent", "refresh_hash", "refresh_gen", "refresh_rotated_at"}
	rows := make([][]any, 0, 50000)
	hashes, err := sc.Batches(cap(rows), func(ss []store.Session) error {
		rows = rows[:0]
		for _, s := range ss {
			// A cookie session's nil refresh hash is NULL and its zero
			// rotation time 0001-01-01 UTC, as the store writes them.
			rows = append(rows, []any{s.ID, s.TokenHash, s.UserID, s.CreatedAt, s.AuthTime, s.LastSeenAt, s.IdleExpiresAt, s.ExpiresAt,
				s.IP, s.UserAgent, s.RefreshHash, s.RefreshGen, s.RefreshRotatedAt.UTC()})
		}
		_, err := conn.CopyFrom(ctx, pgx.Identifier{"sessions"}, cols, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		b.Fatalf("copy sessions: %v", err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE sessions"); err != nil {
		b.Fatal(err)
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT pg_total_relation_size('sessions')").Scan(&size); err != nil {
		b.Fatal(err)
	}
	return hashes, float64(size) / float64(n)
}
