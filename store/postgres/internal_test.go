package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/store"
)

// openFresh opens a store on a new schema of the test database, neither
// migrated nor checked; the schema is dropped and the store closed at
// cleanup.
func openFresh(t *testing.T) *Store {
	t.Helper()
	base := testenv.Postgres(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "gatehouse_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		conn.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	// The same versions as the SQLite backend's, so that a version number
	// means the same records on both.
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
	}
	if got, want := strings.Join(names, " "), "0001_init.sql 0002_tokens.sql 0003_roles.sql 0004_reset_tokens.sql"; got != want {
		t.Errorf("migrations = %s, want %s", got, want)
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
	s := openFresh(t)
	var err error
	s.migrations, err = loadMigrations(fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x integer);")},
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x integer); INSERT INTO nowhere VALUES (1);")},
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
	var b, a bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('b') IS NOT NULL, to_regclass('a') IS NOT NULL`).Scan(&b, &a); err != nil {
		t.Fatal(err)
	}
	if b || !a {
		t.Errorf("after the failure: table a exists %v, table b exists %v; want a only", a, b)
	}
	if err := s.CheckSchema(ctx); !errors.Is(err, ErrSchemaNotMigrated) {
		t.Errorf("CheckSchema = %v, want ErrSchemaNotMigrated", err)
	}
}

// TestMigrateKeepsSessions upgrades a schema holding a session from
// version 1 to the latest: the session must read back as it was, with no
// refresh state (a cookie session), which is what the defaults of the
// columns 0002 adds are for.
func TestMigrateKeepsSessions(t *testing.T) {
	ctx := t.Context()
	s := openFresh(t)
	all := s.migrations
	s.migrations = all[:1]
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Written with version 1's columns, as a gatehouse of that time would.
	at := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
	if _, err := s.pool.Exec(ctx, `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u', 'u@example.test', '', now(), now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, created_at, auth_time, last_seen_at, idle_expires_at, expires_at, ip, user_agent)
		VALUES ('s', '\x01', 'u', $1, $2, $3, $4, $5, '192.0.2.1', 'ua')`, at(1), at(2), at(3), at(4), at(5)); err != nil {
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
	if got.ExpiresAt != at(5) || got.IP != "192.0.2.1" {
		t.Errorf("session from version 1 changed: %+v", got)
	}
}

func TestChannelName(t *testing.T) {
	if got, want := channelName("public"), "gatehouse_revocations_public"; got != want {
		t.Errorf("channelName(public) = %q, want %q", got, want)
	}
	long1 := strings.Repeat("s", 63)
	long2 := strings.Repeat("s", 62) + "t"
	c1, c2 := channelName(long1), channelName(long2)
	if len(c1) > maxIdentifier || len(c2) > maxIdentifier {
		t.Errorf("channel names of long schemas are %d and %d bytes, want at most %d", len(c1), len(c2), maxIdentifier)
	}
	if c1 == c2 {
		t.Errorf("two long schemas share channel %q", c1)
	}
	if edge := strings.Repeat("e", maxIdentifier-len(channelPrefix)); channelName(edge) != channelPrefix+edge {
		t.Errorf("channelName of a schema that just fits = %q, want it spelt out", channelName(edge))
	}
}

// TestWatchPings runs a watch whose line is checked every few
// milliseconds: notifications must still come through across the pings,
// and the pings must not end the watch.
func TestWatchPings(t *testing.T) {
	ctx := t.Context()
	s := openFresh(t)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s.pingEvery, s.pingTimeout = 10*time.Millisecond, 5*time.Second
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	notes := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.WatchRevocations(wctx, func() { notes <- struct{}{} })
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-notes:
		case err := <-done:
			t.Fatalf("WatchRevocations returned %v while waiting for %s", err, what)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	wait("notify once LISTEN is in place")
	for i := range 3 {
		time.Sleep(100 * time.Millisecond) // several pings
		if _, err := s.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeToken, Key: "jti", ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		wait("notify after AddRevocations " + string(rune('1'+i)))
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WatchRevocations after cancel = %v, want context.Canceled", err)
	}
}
