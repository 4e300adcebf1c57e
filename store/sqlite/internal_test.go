package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestConnectionSettings(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Hold several connections at once, so the check covers the pool and
	// not just the first connection.
	for i := range 3 {
		c, err := s.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"busy_timeout": "5000",
			"synchronous":  "2", // FULL
		} {
			var got string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("connection %d: PRAGMA %s = %q, want %q", i, pragma, got, want)
			}
		}
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || ms[0].name != "0001_init.sql" || ms[1].name != "0002_tokens.sql" {
		t.Errorf("migrations = %+v, want 0001_init.sql then 0002_tokens.sql", ms)
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := map[string]fstest.MapFS{
		"gap":       {"migrations/0001_a.sql": file, "migrations/0003_c.sql": file},
		"repeat":    {"migrations/0001_a.sql": file, "migrations/0001_b.sql": file},
		"no number": {"migrations/init.sql": file},
		"zero":      {"migrations/0000_a.sql": file},
		"not first": {"migrations/0002_b.sql": file},
		"empty":     {},
	}
	for name, fsys := range tests {
		if ms, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: loadMigrations accepted %+v", name, ms)
		}
	}
}

// TestMigrateFailureRollsBack checks that a migration that fails leaves
// nothing of itself behind and the version at the last good one.
func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.migrations, err = loadMigrations(fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("Migrate = %v, want an error naming 0002_b.sql", err)
	}
	cur, _, err := s.SchemaVersion(ctx)
	if err != nil || cur != 1 {
		t.Errorf("SchemaVersion after the failure = %d, %v; want 1", cur, err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'b'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table b of the failed migration: count %d, %v; want 0", n, err)
	}
	if err := s.CheckSchema(ctx); !errors.Is(err, ErrSchemaNotMigrated) {
		t.Errorf("CheckSchema = %v, want ErrSchemaNotMigrated", err)
	}
}

// TestConcurrentMigrate runs Migrate from several stores on one file at
// once, as several gatehouse instances starting together would.
func TestConcurrentMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "g.db")
	stores := make([]*Store, 4)
	for i := range stores {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			if err := s.Migrate(ctx); err != nil {
				t.Errorf("Migrate: %v", err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := stores[0].db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(stores[0].migrations) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(stores[0].migrations))
	}
}

// TestDeleteExpiredSessionsBatches checks the loop over batches: more
// expired sessions than one batch all go, the live one stays, and the
// count is the total.
func TestDeleteExpiredSessionsBatches(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u', 'u@example.test', '', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	const expired = 2*expiredBatch + 7
	// One statement for all rows: a session per CreateSession call would
	// cost a commit each.
	_, err = s.db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO sessions (`+sessionColumns+`)
		SELECT 's' || i, randomblob(32), 'u', 0, 0, 0, CASE WHEN i = 0 THEN 10000 ELSE 500 END, 10000, '', '', NULL, 0, 0 FROM n`, expired)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredSessions(ctx, fromMillis(1000))
	if err != nil || n != expired {
		t.Errorf("DeleteExpiredSessions = %d, %v; want %d", n, err, expired)
	}
	if _, err := s.SessionByID(ctx, "s0"); err != nil {
		t.Errorf("the live session: %v", err)
	}
}

// TestMigrateKeepsSessions upgrades a database holding a session from
// version 1 to the latest: the session must read back as it was, with no
// refresh state (a cookie session), which is what the defaults of the
// columns 0002 adds are for.
func TestMigrateKeepsSessions(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := s.migrations
	s.migrations = all[:1]
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Written with version 1's columns, as a gatehouse of that time would.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u', 'u@example.test', '', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id, token_hash, user_id, created_at, auth_time, last_seen_at, idle_expires_at, expires_at, ip, user_agent)
		VALUES ('s', x'01', 'u', 1000, 2000, 3000, 4000, 5000, '192.0.2.1', 'ua')`); err != nil {
		t.Fatal(err)
	}
	s.migrations = all
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionByID(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshHash != nil || got.RefreshGen != 0 || !got.RefreshRotatedAt.IsZero() {
		t.Errorf("session from version 1: RefreshHash %#v, RefreshGen %d, RefreshRotatedAt %v; want nil, 0, the zero time",
			got.RefreshHash, got.RefreshGen, got.RefreshRotatedAt)
	}
	if got.ExpiresAt != fromMillis(5000) || got.IP != "192.0.2.1" {
		t.Errorf("session from version 1 changed: %+v", got)
	}
	// The default in 0002_tokens.sql is spelt as a number; it must be the
	// zero time's.
	var def string
	if err := s.db.QueryRowContext(ctx,
		`SELECT dflt_value FROM pragma_table_info('sessions') WHERE name = 'refresh_rotated_at'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(millis(time.Time{})); def != want {
		t.Errorf("default of sessions.refresh_rotated_at = %s, want %s (the zero time)", def, want)
	}
}
