package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/sqlite"
)

// rawDB opens the file beside the store, without the store's settings, to
// look at or tamper with what the store wrote.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// snapshot is the schema and the migration log, to tell whether anything
// changed.
func snapshot(t *testing.T, db *sql.DB) []string {
	t.Helper()
	q := `SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master`
	var n int
	if err := db.QueryRowContext(t.Context(),
		`SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		q += ` UNION ALL SELECT 'migration ' || version || ' ' || name || ' ' || applied_at FROM schema_migrations`
	}
	rows, err := db.QueryContext(t.Context(), q+` ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := open(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	before := snapshot(t, rawDB(t, path))
	if !strings.Contains(strings.Join(before, "\n"), "migration 1 0001_init.sql") {
		t.Fatalf("schema_migrations does not record 0001_init.sql:\n%s", strings.Join(before, "\n"))
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if after := snapshot(t, rawDB(t, path)); !reflect.DeepEqual(before, after) {
		t.Errorf("second Migrate changed the database:\nbefore %q\nafter  %q", before, after)
	}
	if err := s.CheckSchema(t.Context()); err != nil {
		t.Errorf("CheckSchema after Migrate: %v", err)
	}
	cur, latest, err := s.SchemaVersion(t.Context())
	if err != nil || cur != latest || latest < 1 {
		t.Errorf("SchemaVersion = %d, %d, %v; want equal and at least 1", cur, latest, err)
	}
}

func TestCheckSchemaFresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := open(t, path)
	_, latest, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = s.CheckSchema(t.Context())
	if !errors.Is(err, sqlite.ErrSchemaNotMigrated) {
		t.Fatalf("CheckSchema on a fresh file = %v, want ErrSchemaNotMigrated", err)
	}
	for _, want := range []string{"version 0", fmt.Sprintf("wants %d", latest), "gatehouse migrate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckSchema error %q does not say %q", err, want)
		}
	}
	// Checking must not create the schema behind the operator's back.
	if got := snapshot(t, rawDB(t, path)); got != nil {
		t.Errorf("CheckSchema wrote to a fresh database: %q", got)
	}
	// A store on an unmigrated file fails plainly rather than pretending
	// the user is missing.
	if _, err := s.UserByID(t.Context(), "u"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByID before Migrate = %v, want an error other than ErrNotFound", err)
	}
	if _, err := s.SessionByTokenHash(t.Context(), []byte("h")); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByTokenHash before Migrate = %v, want an error other than ErrNotFound", err)
	}
	if err := s.TouchSession(t.Context(), "s", time.Now(), time.Now(), ""); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession before Migrate = %v, want an error other than ErrNotFound", err)
	}
	// The same store works once migrated: nothing failed above is cached.
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByTokenHash(t.Context(), []byte("h")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByTokenHash after Migrate = %v, want ErrNotFound", err)
	}
	if err := s.TouchSession(t.Context(), "s", time.Now(), time.Now(), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession after Migrate = %v, want ErrNotFound", err)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := open(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, latest, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	if _, err := raw.ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future.sql', 0)`, latest+1); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, raw)

	err = s.Migrate(t.Context())
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Errorf("Migrate on a newer database = %v, want ErrSchemaTooNew", err)
	} else if want := fmt.Sprintf("version %d", latest+1); !strings.Contains(err.Error(), want) {
		t.Errorf("Migrate error %q does not say %q", err, want)
	}
	if err := s.CheckSchema(t.Context()); !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Errorf("CheckSchema on a newer database = %v, want ErrSchemaTooNew", err)
	}
	if after := snapshot(t, raw); !reflect.DeepEqual(before, after) {
		t.Errorf("Migrate changed a newer database:\nbefore %q\nafter  %q", before, after)
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "g.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	u := store.User{ID: "u1", Email: "u1@example.test", PasswordHash: "h", Roles: []string{"b", "a"}, CreatedAt: now, UpdatedAt: now}
	sess := store.Session{ID: "s1", TokenHash: []byte("0123456789abcdef0123456789abcdef"), UserID: "u1",
		CreatedAt: now, AuthTime: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour),
		IP: "192.0.2.1", UserAgent: "ua"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after reopening: %v", err)
	}
	gotU, err := s.UserByEmail(ctx, u.Email)
	if err != nil {
		t.Fatalf("UserByEmail after reopening: %v", err)
	}
	u.Roles = []string{"a", "b"}
	if !reflect.DeepEqual(gotU, u) {
		t.Errorf("user after reopening = %+v, want %+v", gotU, u)
	}
	gotS, err := s.SessionByTokenHash(ctx, sess.TokenHash)
	if err != nil {
		t.Fatalf("SessionByTokenHash after reopening: %v", err)
	}
	if !reflect.DeepEqual(gotS, sess) {
		t.Errorf("session after reopening = %+v, want %+v", gotS, sess)
	}
}

func TestWALMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := open(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	// journal_mode=WAL is a property of the file, so a plain connection
	// sees what the store set.
	var mode string
	if err := rawDB(t, path).QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log beside the database: %v", err)
	}
}

func TestCreateSessionUnknownUser(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "g.db"))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err := s.CreateSession(t.Context(), store.Session{ID: "s", TokenHash: []byte("h"), UserID: "nobody",
		CreatedAt: now, AuthTime: now, LastSeenAt: now, IdleExpiresAt: now, ExpiresAt: now})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSession for a missing user = %v, want ErrNotFound (foreign keys on)", err)
	}
}

func TestOpenAwkwardPath(t *testing.T) {
	// Characters that mean something in a URI or to the driver's DSN parser.
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "my db?.sqlite")
	s := open(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not created at the path given: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "my db?.sqlite") {
			t.Errorf("stray file %q beside the database", e.Name())
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	if _, err := sqlite.Open(t.Context(), t.TempDir()); err == nil {
		t.Error("Open(a directory) succeeded")
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "missing", "g.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}
