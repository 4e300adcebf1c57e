package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// BenchmarkScale measures the scale of state on SQLite: the lookup every
// cookie request pays (SessionByTokenHash of a random live session) in a
// database of N sessions, and the file space each session takes
// (bytes/session: the growth of page_count*page_size while the sessions,
// with their indexes, are inserted, after a WAL checkpoint).
//
// N is 10000 by default; set GATEHOUSE_BENCH_SESSIONS to choose, e.g.
//
//	GATEHOUSE_BENCH_SESSIONS=10000,100000,1000000 go test -run '^$' -bench Scale -benchtime 20000x ./store/sqlite/
//
// The database is filled once per size, before the timer starts, in one
// transaction through a prepared statement; the lookups then go through
// the store's own prepared statement and connection pool, at the store's
// own pragmas.
func BenchmarkScale(b *testing.B) {
	storetest.BenchmarkScale(b, func(b *testing.B, n int) (store.Sessions, [][]byte, float64) {
		ctx := b.Context()
		s, err := Open(ctx, filepath.Join(b.TempDir(), "scale.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		hashes, perSession := fillScale(b, s, n)
		return s, hashes, perSession
	})
}

// fillScale inserts n generated sessions and their users, and returns the
// sessions' token hashes and the bytes of file each session added.
func fillScale(b *testing.B, s *Store, n int) ([][]byte, float64) {
	ctx := b.Context()
	sc := storetest.NewScale(n)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	// A large page cache for the fill only, or a million random inserts
	// into the token-hash index spill to the WAL page by page; put back
	// afterwards, so that the lookups run at the store's own setting.
	var cacheSize int
	if err := conn.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cacheSize); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA cache_size = -524288"); err != nil { // 512 MiB
		b.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA cache_size = %d", cacheSize))

	err = inTx(ctx, conn, `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		func(st *sql.Stmt) error {
			for i := range sc.UserIDs {
				u := sc.User(i)
				if _, err := st.ExecContext(ctx, u.ID, u.Email, u.PasswordHash, millis(u.CreatedAt), millis(u.UpdatedAt)); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		b.Fatalf("insert users: %v", err)
	}
	before := fileBytes(b, conn)
	var hashes [][]byte
	err = inTx(ctx, conn, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		func(st *sql.Stmt) error {
			hashes, err = sc.Batches(1000, func(ss []store.Session) error {
				for _, sess := range ss {
					if _, err := st.ExecContext(ctx, sessionArgs(sess)...); err != nil {
						return err
					}
				}
				return nil
			})
			return err
		})
	if err != nil {
		b.Fatalf("insert sessions: %v", err)
	}
	after := fileBytes(b, conn)
	return hashes, float64(after-before) / float64(n)
}

// inTx runs fn with query prepared inside one transaction on conn.
func inTx(ctx context.Context, conn *sql.Conn, query string, fn func(*sql.Stmt) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := fn(st); err != nil {
		return err
	}
	return tx.Commit()
}

// fileBytes checkpoints the WAL into the database file and returns the
// size of the database in pages, less its free pages, times the page
// size.
func fileBytes(b *testing.B, conn *sql.Conn) int64 {
	ctx := b.Context()
	var busy, logged, moved int
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &moved); err != nil {
		b.Fatal(err)
	}
	if busy != 0 {
		b.Fatalf("wal_checkpoint(TRUNCATE) was blocked")
	}
	var pages, free, size int64
	for q, v := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
		if err := conn.QueryRowContext(ctx, q).Scan(v); err != nil {
			b.Fatal(err)
		}
	}
	return (pages - free) * size
}
