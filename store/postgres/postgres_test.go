package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/postgres"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// One schema per test, so that tests (and concurrent runs of the suite)
// sharing the test database never see each other's rows.

func TestConformance(t *testing.T) {
	s := openMigrated(t)
	storetest.Run(t, func(*testing.T) store.Store { return s })
}

func TestRoles(t *testing.T) { storetest.RunRoles(t, openMigrated(t)) }

func BenchmarkSessionByTokenHash(b *testing.B) {
	storetest.BenchmarkSessionByTokenHash(b, openMigrated(b))
}

func BenchmarkCreateSession(b *testing.B) {
	storetest.BenchmarkCreateSession(b, openMigrated(b))
}

func BenchmarkUpdateSession(b *testing.B) {
	storetest.BenchmarkUpdateSession(b, openMigrated(b))
}

// admin runs statements on the test database outside any store, to set
// up, look at or tamper with what a store wrote.
func admin(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.Postgres(tb))
	if err != nil {
		tb.Fatalf("connect to the test database: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// newSchema creates an empty schema with a random name, dropped with
// everything in it at cleanup, and returns it with the URL of the test
// database whose search_path is that schema.
func newSchema(tb testing.TB) (dbURL, schema string) {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema = "gatehouse_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()
	conn := admin(tb)
	if _, err := conn.Exec(tb.Context(), "CREATE SCHEMA "+ident); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		// tb.Context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(testenv.Postgres(tb))
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

// open opens a store on dbURL, closed at cleanup.
func open(tb testing.TB, dbURL string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), dbURL)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openMigrated opens a store on a fresh schema, migrated.
func openMigrated(tb testing.TB) *postgres.Store {
	tb.Helper()
	dbURL, _ := newSchema(tb)
	s := open(tb, dbURL)
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s
}

// snapshot is the schema's tables, columns, indexes and migration log, to
// tell whether anything changed.
func snapshot(t *testing.T, conn *pgx.Conn, schema string) []string {
	t.Helper()
	q := `SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = $1
	UNION ALL SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = $1`
	var n int
	if err := conn.QueryRow(t.Context(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_migrations'`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		q += ` UNION ALL SELECT 'migration ' || version || ' ' || name || ' ' || applied_at FROM ` +
			pgx.Identifier{schema, "schema_migrations"}.Sanitize()
	}
	rows, err := conn.Query(t.Context(), q+` ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	dbURL, schema := newSchema(t)
	s := open(t, dbURL)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	conn := admin(t)
	before := snapshot(t, conn, schema)
	for _, want := range []string{"migration 1 0001_init.sql", "migration 2 0002_tokens.sql", "index users_email_lower"} {
		if !strings.Contains(strings.Join(before, "\n"), want) {
			t.Fatalf("schema lacks %q:\n%s", want, strings.Join(before, "\n"))
		}
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if after := snapshot(t, conn, schema); !reflect.DeepEqual(before, after) {
		t.Errorf("second Migrate changed the database:\nbefore %q\nafter  %q", before, after)
	}
	if err := s.CheckSchema(t.Context()); err != nil {
		t.Errorf("CheckSchema after Migrate: %v", err)
	}
	cur, latest, err := s.SchemaVersion(t.Context())
	if err != nil || cur != latest || latest < 3 {
		t.Errorf("SchemaVersion = %d, %d, %v; want equal and at least 3", cur, latest, err)
	}
}

func TestCheckSchemaFresh(t *testing.T) {
	dbURL, schema := newSchema(t)
	s := open(t, dbURL)
	_, latest, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = s.CheckSchema(t.Context())
	if !errors.Is(err, postgres.ErrSchemaNotMigrated) {
		t.Fatalf("CheckSchema on a fresh schema = %v, want ErrSchemaNotMigrated", err)
	}
	for _, want := range []string{"version 0", fmt.Sprintf("wants %d", latest), "gatehouse migrate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckSchema error %q does not say %q", err, want)
		}
	}
	// Checking must not create the schema behind the operator's back.
	if got := snapshot(t, admin(t), schema); len(got) != 0 {
		t.Errorf("CheckSchema wrote to a fresh schema: %q", got)
	}
	// A store on an unmigrated schema fails plainly rather than pretending
	// the record is missing.
	if _, err := s.UserByID(t.Context(), "u"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByID before Migrate = %v, want an error other than ErrNotFound", err)
	}
	if _, err := s.SessionByTokenHash(t.Context(), []byte("h")); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByTokenHash before Migrate = %v, want an error other than ErrNotFound", err)
	}
	if err := s.TouchSession(t.Context(), "s", time.Now(), time.Now(), ""); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession before Migrate = %v, want an error other than ErrNotFound", err)
	}
	if err := s.WatchRevocations(t.Context(), func() {}); err == nil || !strings.Contains(err.Error(), "gatehouse migrate") {
		t.Errorf("WatchRevocations before Migrate = %v, want an error saying to migrate", err)
	}
	// The same store works once migrated: nothing that failed above is
	// cached.
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
	dbURL, schema := newSchema(t)
	s := open(t, dbURL)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, latest, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	conn := admin(t)
	if _, err := conn.Exec(t.Context(), `INSERT INTO `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+
		` (version, name, applied_at) VALUES ($1, 'from_the_future.sql', now())`, latest+1); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, conn, schema)

	err = s.Migrate(t.Context())
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Errorf("Migrate on a newer schema = %v, want ErrSchemaTooNew", err)
	} else if want := fmt.Sprintf("version %d", latest+1); !strings.Contains(err.Error(), want) {
		t.Errorf("Migrate error %q does not say %q", err, want)
	}
	if err := s.CheckSchema(t.Context()); !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Errorf("CheckSchema on a newer schema = %v, want ErrSchemaTooNew", err)
	}
	if after := snapshot(t, conn, schema); !reflect.DeepEqual(before, after) {
		t.Errorf("Migrate changed a newer schema:\nbefore %q\nafter  %q", before, after)
	}
}

// TestConcurrentMigrate runs Migrate from several stores on one schema at
// once, as several gatehouse instances starting together would.
func TestConcurrentMigrate(t *testing.T) {
	dbURL, schema := newSchema(t)
	stores := make([]*postgres.Store, 4)
	for i := range stores {
		stores[i] = open(t, dbURL)
	}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			if err := s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate: %v", err)
			}
		})
	}
	wg.Wait()
	var versions []int
	rows, err := admin(t).Query(t.Context(),
		`SELECT version FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	_, latest, err := stores[0].SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != latest || versions[len(versions)-1] != latest {
		t.Errorf("schema_migrations holds versions %v, want 1..%d once each", versions, latest)
	}
	for _, s := range stores {
		if err := s.CheckSchema(t.Context()); err != nil {
			t.Errorf("CheckSchema: %v", err)
		}
	}
}

// TestReopen checks that what one store wrote another reads back exactly,
// zero times and UTC included.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	dbURL, _ := newSchema(t)
	s := open(t, dbURL)
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
	s.Close()

	s = open(t, dbURL)
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

// TestEmailCase checks that emails fold ASCII case only, exactly as the
// SQLite backend's NOCASE does, whatever the database's locale.
func TestEmailCase(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Now()
	mk := func(id, email string) error {
		return s.CreateUser(ctx, store.User{ID: id, Email: email, PasswordHash: "h", CreatedAt: now, UpdatedAt: now})
	}
	if err := mk("a", "Alice@Example.test"); err != nil {
		t.Fatal(err)
	}
	if err := mk("b", "alice@example.TEST"); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateUser differing in ASCII case = %v, want ErrAlreadyExists", err)
	}
	if got, err := s.UserByEmail(ctx, "ALICE@EXAMPLE.TEST"); err != nil || got.ID != "a" {
		t.Errorf("UserByEmail in upper case = %q, %v; want a", got.ID, err)
	}
	if got, err := s.ListUsers(ctx, store.ListUsersOptions{EmailPrefix: "aLiCe@"}); err != nil || len(got) != 1 || got[0].ID != "a" {
		t.Errorf("ListUsers(EmailPrefix in mixed case) = %+v, %v; want a", got, err)
	}
	// Beyond ASCII, case is not folded: these are two emails.
	if err := mk("c", "émile@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := mk("d", "Émile@example.test"); err != nil {
		t.Errorf("CreateUser differing in non-ASCII case: %v, want it accepted", err)
	}
	if got, err := s.UserByEmail(ctx, "ÉMILE@example.test"); err != nil || got.ID != "d" {
		t.Errorf("UserByEmail(ÉMILE) = %q, %v; want d", got.ID, err)
	}
}

func TestCreateSessionUnknownUser(t *testing.T) {
	s := openMigrated(t)
	now := time.Now()
	err := s.CreateSession(t.Context(), store.Session{ID: "s", TokenHash: []byte("h"), UserID: "nobody",
		CreatedAt: now, AuthTime: now, LastSeenAt: now, IdleExpiresAt: now, ExpiresAt: now})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSession for a missing user = %v, want ErrNotFound (the foreign key)", err)
	}
}

// TestDuplicateTokenHashStaysOutOfErrors checks that the error for a
// taken token hash does not carry the hash, which PostgreSQL quotes in the
// violation's DETAIL.
func TestDuplicateTokenHashStaysOutOfErrors(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Now()
	if err := s.CreateUser(ctx, store.User{ID: "u", Email: "u@example.test", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	hash := []byte("secret-token-hash-0123456789abcd")
	sess := store.Session{ID: "s1", TokenHash: hash, UserID: "u", CreatedAt: now, AuthTime: now, LastSeenAt: now, IdleExpiresAt: now, ExpiresAt: now}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	sess.ID = "s2"
	err := s.CreateSession(ctx, sess)
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateSession with a taken hash = %v, want ErrAlreadyExists", err)
	}
	for e := error(err); e != nil; e = errors.Unwrap(e) {
		if msg := fmt.Sprintf("%+v", e); strings.Contains(msg, "secret-token-hash") || strings.Contains(msg, hex.EncodeToString(hash)) {
			t.Errorf("error chain carries the token hash: %s", msg)
		}
	}
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		t.Errorf("error chain holds the PostgreSQL error (state %s), whose DETAIL quotes the hash", pe.SQLState())
	}
}

// TestContextDeadline checks that a call waiting on the database gives up
// at its context's deadline: here UpdateSession waits for a row that
// another transaction holds.
func TestContextDeadline(t *testing.T) {
	ctx := t.Context()
	dbURL, schema := newSchema(t)
	s := open(t, dbURL)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.CreateUser(ctx, store.User{ID: "u", Email: "u@example.test", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	sess := store.Session{ID: "s", TokenHash: []byte("h"), UserID: "u", CreatedAt: now, AuthTime: now, LastSeenAt: now, IdleExpiresAt: now, ExpiresAt: now}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	tx, err := admin(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT 1 FROM `+pgx.Identifier{schema, "sessions"}.Sanitize()+` WHERE id = 's' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.UpdateSession(dctx, "s", func(*store.Session) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("UpdateSession on a locked row past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("UpdateSession returned after %v, long after its 200ms deadline", d)
	}
	// The store is still usable once the lock is gone.
	tx.Rollback(ctx)
	if _, err := s.UpdateSession(ctx, "s", func(*store.Session) error { return nil }); err != nil {
		t.Errorf("UpdateSession afterwards: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, u := range []string{
		"",
		"postgres://%zz",
		"postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", // nothing listens on port 1
	} {
		if s, err := postgres.Open(ctx, u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	// A password in the URL never reaches the error.
	_, err := postgres.Open(ctx, "postgres://gatehouse:hunter2@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open with a password = %v, want an error without the password", err)
	}
}

// watch runs WatchRevocations on s in a goroutine. Notifications arrive on
// the returned channel (dropped if nobody reads them); the watch's result
// arrives on the other when it returns.
func watch(ctx context.Context, s *postgres.Store) (<-chan struct{}, <-chan error) {
	notes := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.WatchRevocations(ctx, func() {
			select {
			case notes <- struct{}{}:
			default:
			}
		})
	}()
	return notes, done
}

// waitFor fails the test unless something arrives on c within d.
func waitFor[T any](t *testing.T, c <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(d):
		t.Fatalf("no %s within %v", what, d)
		panic("unreachable")
	}
}

// quiet fails the test if anything arrives on c within d.
func quiet[T any](t *testing.T, c <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case <-c:
		t.Fatalf("unexpected %s", what)
	case <-time.After(d):
	}
}

// listeners counts the backends whose last statement was the LISTEN on
// schema's revocation channel: the watch's connection while it is idle.
func listeners(t *testing.T, conn *pgx.Conn, schema string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE query = $1`,
		"LISTEN "+pgx.Identifier{"gatehouse_revocations_" + schema}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWatchRevocations(t *testing.T) {
	ctx := t.Context()
	dbURL, schema := newSchema(t)
	watcher := open(t, dbURL)
	if err := watcher.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	writer := open(t, dbURL)     // another instance on the same schema
	elsewhere := openMigrated(t) // an instance on another schema
	rev := func(s *postgres.Store) {
		t.Helper()
		if _, err := s.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeSession, Key: "sess-1", ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatalf("AddRevocations: %v", err)
		}
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	notes, done := watch(wctx, watcher)
	waitFor(t, notes, 10*time.Second, "notify once LISTEN is in place")

	rev(writer)
	waitFor(t, notes, 5*time.Second, "notify after AddRevocations from another store")
	rev(watcher)
	waitFor(t, notes, 5*time.Second, "notify after AddRevocations from the watching store")
	rev(elsewhere)
	quiet(t, notes, 300*time.Millisecond, "notify for revocations in another schema")

	conn := admin(t)
	if n := listeners(t, conn, schema); n != 1 {
		t.Errorf("%d backends listen on the schema's channel, want the watch's 1", n)
	}

	stop()
	err := waitFor(t, done, 5*time.Second, "return of WatchRevocations after its context was cancelled")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("WatchRevocations after cancel = %v, want context.Canceled", err)
	}
	// The LISTENing connection was closed, not put back in the pool.
	deadline := time.Now().Add(5 * time.Second)
	for listeners(t, conn, schema) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watch's connection is still open after WatchRevocations returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := watcher.Ping(ctx); err != nil {
		t.Errorf("Ping after the watch: %v", err)
	}
}

// TestWatchRevocationsConnectionLost kills the watch's connection from the
// server side: WatchRevocations must return an error that is not a
// shutdown.
func TestWatchRevocationsConnectionLost(t *testing.T) {
	ctx := t.Context()
	dbURL, schema := newSchema(t)
	s := open(t, dbURL)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	notes, done := watch(ctx, s)
	waitFor(t, notes, 10*time.Second, "notify once LISTEN is in place")
	var killed int
	if err := admin(t).QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1) AS t`,
		"LISTEN "+pgx.Identifier{"gatehouse_revocations_" + schema}.Sanitize()).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listening backends, want 1", killed)
	}
	err := waitFor(t, done, 10*time.Second, "return of WatchRevocations after its connection was killed")
	if err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("WatchRevocations after its connection died = %v, want a connection error", err)
	}
	// Watching again works, on a fresh connection.
	notes, _ = watch(ctx, s)
	waitFor(t, notes, 10*time.Second, "notify once LISTEN is in place again")
	if _, err := s.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeToken, Key: "jti", ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, notes, 5*time.Second, "notify after AddRevocations")
}

// TestCloseEndsWatch checks that Close ends a watch in progress, whose
// connection is outside the pool.
func TestCloseEndsWatch(t *testing.T) {
	s := openMigrated(t)
	notes, done := watch(t.Context(), s)
	waitFor(t, notes, 10*time.Second, "notify once LISTEN is in place")
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	if err := waitFor(t, done, 5*time.Second, "return of WatchRevocations after Close"); err == nil {
		t.Error("WatchRevocations after Close returned nil, want an error")
	}
	waitFor(t, closed, 5*time.Second, "return of Close")
}

// TestRevocationSeqVisibilityOrder checks the property the revocation
// feed rests on: no Seq becomes visible while a lower one may still
// commit. A transaction outside the store inserts an entry and holds it
// uncommitted; AddRevocations must wait for it rather than hand out, and
// commit, a higher Seq that a poller would see first.
func TestRevocationSeqVisibilityOrder(t *testing.T) {
	ctx := t.Context()
	dbURL, schema := newSchema(t)
	s := open(t, dbURL)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tx, err := admin(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	var slow int64
	if err := tx.QueryRow(ctx, `INSERT INTO `+pgx.Identifier{schema, "revocations"}.Sanitize()+
		` (kind, key, not_before, expires_at, created_at) VALUES ('sid', 'slow', $1, $2, $1) RETURNING seq`,
		now, now.Add(time.Hour)).Scan(&slow); err != nil {
		t.Fatal(err)
	}

	type result struct {
		rs  []store.Revocation
		err error
	}
	added := make(chan result, 1)
	go func() {
		rs, err := s.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeSession, Key: "fast", ExpiresAt: now.Add(time.Hour)}})
		added <- result{rs, err}
	}()
	quiet(t, added, 300*time.Millisecond, "return of AddRevocations while a lower Seq is uncommitted")
	if got, err := s.RevocationsSince(ctx, 0, now); err != nil || len(got) != 0 {
		t.Fatalf("RevocationsSince(0) while both are pending = %+v, %v; want nothing", got, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := waitFor(t, added, 5*time.Second, "return of AddRevocations once the lower Seq committed")
	if r.err != nil {
		t.Fatalf("AddRevocations: %v", r.err)
	}
	if r.rs[0].Seq <= slow {
		t.Errorf("AddRevocations gave Seq %d, want more than the earlier entry's %d", r.rs[0].Seq, slow)
	}
	got, err := s.RevocationsSince(ctx, 0, now)
	if err != nil || len(got) != 2 || got[0].Key != "slow" || got[1].Key != "fast" {
		t.Errorf("RevocationsSince(0) = %+v, %v; want slow then fast", got, err)
	}
}

func TestResetTokens(t *testing.T) { storetest.RunResetTokens(t, openMigrated(t)) }
