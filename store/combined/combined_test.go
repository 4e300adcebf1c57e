package combined_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/combined"
	"github.com/gatehouse/gatehouse/store/memory"
	"github.com/gatehouse/gatehouse/store/postgres"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/store/redis/redistest"
	"github.com/gatehouse/gatehouse/store/sqlite"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestConformanceSQLiteRedis is the embedded durable store with Redis for
// hot data.
func TestConformanceSQLiteRedis(t *testing.T) {
	testenv.Redis(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return combined.New(openSQLite(t), redistest.Open(t))
	})
}

// TestConformancePostgresRedis is the scaled-out configuration:
// PostgreSQL for durable data, Redis for hot data.
func TestConformancePostgresRedis(t *testing.T) {
	testenv.Postgres(t)
	testenv.Redis(t)
	pg := pgtest.Open(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return combined.New(nopClose{pg}, redistest.Open(t))
	})
	storetest.RunRoles(t, combined.New(nopClose{pg}, redistest.Open(t)).(store.RoleStore))
	storetest.RunResetTokens(t, combined.New(nopClose{pg}, redistest.Open(t)))
}

// nopClose shares one durable store between suites: the combined store's
// Close must not close it (pgtest does at cleanup).
type nopClose struct{ *postgres.Store }

func (nopClose) Close() error { return nil }

// TestConformanceMemoryRedis is Redis for hot data beside the memory
// store.
func TestConformanceMemoryRedis(t *testing.T) {
	testenv.Redis(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return combined.New(memory.New(), redistest.Open(t))
	})
}

// TestConformanceMemoryMemory runs the suite on two memory stores, so
// that the routing itself is checked where no service is needed.
func TestConformanceMemoryMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return combined.New(memory.New(), memory.New())
	})
}

func openSQLite(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "gatehouse.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestRouting checks that each concern lands in the store meant for it.
func TestRouting(t *testing.T) {
	ctx := t.Context()
	durable, hot := memory.New(), memory.New()
	s := combined.New(durable, hot)
	now := time.Now()

	u := store.User{ID: "u1", Email: "u1@example.test", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, store.SigningKey{ID: "k1", Alg: "EdDSA", Sealed: []byte("sealed"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(ctx, store.AuditEvent{Time: now, Type: "signin.ok", UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	sess := store.Session{ID: "s1", TokenHash: []byte("h"), UserID: "u1", IdleExpiresAt: now, ExpiresAt: now}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeSession, Key: "s0", ExpiresAt: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}

	if _, err := durable.UserByID(ctx, "u1"); err != nil {
		t.Errorf("user not in the durable store: %v", err)
	}
	if _, err := hot.UserByID(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user in the hot store: %v", err)
	}
	if ks, _ := durable.ListKeys(ctx); len(ks) != 1 {
		t.Errorf("durable store has %d keys, want 1", len(ks))
	}
	if ks, _ := hot.ListKeys(ctx); len(ks) != 0 {
		t.Errorf("hot store has %d keys, want 0", len(ks))
	}
	if es, _ := durable.ListAudit(ctx, store.AuditFilter{}); len(es) != 1 {
		t.Errorf("durable store has %d audit events, want 1", len(es))
	}
	if es, _ := hot.ListAudit(ctx, store.AuditFilter{}); len(es) != 0 {
		t.Errorf("hot store has %d audit events, want 0", len(es))
	}
	if _, err := hot.SessionByID(ctx, "s1"); err != nil {
		t.Errorf("session not in the hot store: %v", err)
	}
	if _, err := durable.SessionByID(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session in the durable store: %v", err)
	}
	if rs, _ := hot.RevocationsSince(ctx, 0, now); len(rs) != 1 {
		t.Errorf("hot store has %d revocations, want 1", len(rs))
	}
	if rs, _ := durable.RevocationsSince(ctx, 0, now); len(rs) != 0 {
		t.Errorf("durable store has %d revocations, want 0", len(rs))
	}
}

// fakeHot is a memory store with a lifetime that can fail, and optionally
// a revocation feed.
type fakeHot struct {
	*memory.Store
	pingErr, closeErr error
	closed            int
}

func (f *fakeHot) Ping(context.Context) error { return f.pingErr }
func (f *fakeHot) Close() error               { f.closed++; return f.closeErr }

type watchingHot struct{ *fakeHot }

var errWatched = errors.New("watched")

func (watchingHot) WatchRevocations(ctx context.Context, notify func()) error {
	notify()
	return errWatched
}

// failingDurable is a memory store whose Ping and Close fail.
type failingDurable struct {
	*memory.Store
	err    error
	closed int
}

func (f *failingDurable) Ping(context.Context) error { return f.err }
func (f *failingDurable) Close() error               { f.closed++; return f.err }

func TestPingAndClose(t *testing.T) {
	errDurable, errHot := errors.New("durable down"), errors.New("hot down")
	durable := &failingDurable{Store: memory.New(), err: errDurable}
	hot := &fakeHot{Store: memory.New(), pingErr: errHot, closeErr: errHot}
	s := combined.New(durable, hot)
	if err := s.Ping(t.Context()); !errors.Is(err, errDurable) || !errors.Is(err, errHot) {
		t.Errorf("Ping = %v, want both failures", err)
	}
	if err := s.Close(); !errors.Is(err, errDurable) || !errors.Is(err, errHot) {
		t.Errorf("Close = %v, want both failures", err)
	}
	if durable.closed != 1 || hot.closed != 1 {
		t.Errorf("Close closed durable %d times and hot %d times, want once each", durable.closed, hot.closed)
	}

	ok := combined.New(memory.New(), &fakeHot{Store: memory.New()})
	if err := ok.Ping(t.Context()); err != nil {
		t.Errorf("Ping of healthy stores = %v", err)
	}
}

func TestRevocationWatcher(t *testing.T) {
	plain := combined.New(memory.New(), &fakeHot{Store: memory.New()})
	if _, ok := plain.(store.RevocationWatcher); ok {
		t.Error("combined store is a RevocationWatcher though its hot store is not")
	}
	watching := combined.New(memory.New(), watchingHot{&fakeHot{Store: memory.New()}})
	w, ok := watching.(store.RevocationWatcher)
	if !ok {
		t.Fatal("combined store is not a RevocationWatcher though its hot store is")
	}
	called := false
	if err := w.WatchRevocations(t.Context(), func() { called = true }); !errors.Is(err, errWatched) || !called {
		t.Errorf("WatchRevocations = %v, notified %v; want the hot store's feed", err, called)
	}
}

func TestNilHot(t *testing.T) {
	durable := memory.New()
	if s := combined.New(durable, nil); s != store.Store(durable) {
		t.Errorf("New(durable, nil) = %T, want durable itself", s)
	}
}

func TestAccessors(t *testing.T) {
	durable, hot := memory.New(), &fakeHot{Store: memory.New()}
	s := combined.New(durable, hot).(*combined.Store)
	if s.Durable() != store.Store(durable) || s.Hot() != combined.Hot(hot) {
		t.Error("Durable() or Hot() does not return what New was given")
	}
}

func BenchmarkSessionByTokenHash(b *testing.B) {
	storetest.BenchmarkSessionByTokenHash(b, combined.New(memory.New(), redistest.Open(b)))
}

func BenchmarkCreateSession(b *testing.B) {
	storetest.BenchmarkCreateSession(b, combined.New(memory.New(), redistest.Open(b)))
}

func BenchmarkUpdateSession(b *testing.B) {
	storetest.BenchmarkUpdateSession(b, combined.New(memory.New(), redistest.Open(b)))
}

func TestRolesGoToTheDurableStore(t *testing.T) {
	durable := memory.New()
	s := combined.New(durable, memory.New()).(store.RoleStore)
	storetest.RunRoles(t, s)
	if err := s.PutRole(context.Background(), store.Role{Name: "r", Permissions: []string{"a:b"}}); err != nil {
		t.Fatal(err)
	}
	if list, _ := durable.ListRoles(context.Background()); len(list) != 1 {
		t.Fatalf("role not in the durable store: %v", list)
	}
}

func TestResetTokensGoToTheDurableStore(t *testing.T) {
	storetest.RunResetTokens(t, combined.New(memory.New(), memory.New()))
}
