package auth_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/memory"
)

// countingStore counts the reads the session cache exists to avoid, and
// can run a hook in the middle of a user read (after the read, before
// the answer) to stage a race.
type countingStore struct {
	store.Store
	reads        atomic.Int64
	duringUserBy func()
}

func (c *countingStore) SessionByTokenHash(ctx context.Context, h []byte) (store.Session, error) {
	c.reads.Add(1)
	return c.Store.SessionByTokenHash(ctx, h)
}

func (c *countingStore) SessionByID(ctx context.Context, id string) (store.Session, error) {
	c.reads.Add(1)
	return c.Store.SessionByID(ctx, id)
}

func (c *countingStore) UserByID(ctx context.Context, id string) (store.User, error) {
	c.reads.Add(1)
	u, err := c.Store.UserByID(ctx, id)
	if hook := c.duringUserBy; hook != nil {
		c.duringUserBy = nil
		hook()
	}
	return u, err
}

// instance is one gatehouse process: its own service, revocation list
// and feed, over the shared store.
type instance struct {
	svc  *auth.Service
	set  *revocation.Set
	feed *revocation.Feed
}

func (in instance) sync(t *testing.T) {
	t.Helper()
	if err := in.feed.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type cluster struct {
	shared *countingStore
	clk    *testClock
	a, b   instance
}

func newCluster(t *testing.T, maxStale time.Duration) *cluster {
	t.Helper()
	mem := memory.New()
	c := &cluster{shared: &countingStore{Store: mem}, clk: &testClock{time.Now().UTC().Truncate(time.Millisecond)}}
	km := keys.New(keys.Config{VerifyFor: 11 * time.Minute, Now: c.clk.Now}, mem, []byte("0123456789abcdef0123456789abcdef"), nil)
	if err := km.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	mk := func() instance {
		set := revocation.NewSet(maxStale)
		svc := auth.NewService(auth.Config{Now: c.clk.Now}, auth.Deps{
			Store: c.shared, Hasher: password.NewHasher(password.Config{Params: password.TestParams()}),
			Policy: password.NewPolicy(), Keys: km, Revocations: set, ChainKey: make([]byte, 32),
		})
		in := instance{svc: svc, set: set, feed: &revocation.Feed{Store: mem, Set: set, Now: c.clk.Now}}
		in.sync(t)
		return in
	}
	c.a, c.b = mk(), mk()
	return c
}

// authenticate signs the cookie in on instance in and reports how many
// store reads it took.
func (c *cluster) authenticate(t *testing.T, in instance, tok string) (auth.Principal, error, int64) {
	t.Helper()
	before := c.shared.reads.Load()
	p, err := in.svc.Authenticate(context.Background(), tok, auth.Client{IP: "192.0.2.1"})
	return p, err, c.shared.reads.Load() - before
}

// A cookie check on a second instance is answered from memory after the
// first lookup, and every kind of change made on the first instance
// reaches it through the revocation feed: logout, role, email and
// disabled changes, re-authentication.
func TestSessionCacheFollowsTheFeed(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 0)
	in, err := c.a.svc.Signup(ctx, "cache@example.com", "a fine passphrase", auth.Client{IP: "192.0.2.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err, reads := c.authenticate(t, c.b, in.Token); err != nil || reads == 0 {
		t.Fatalf("first check on B: err %v, %d store reads (want a store lookup)", err, reads)
	}
	if _, err, reads := c.authenticate(t, c.b, in.Token); err != nil || reads != 0 {
		t.Fatalf("second check on B: err %v, %d store reads (want a cache hit)", err, reads)
	}

	// Roles changed on A: B rereads the user once the feed brings the news.
	if _, err := c.a.svc.SetRoles(ctx, auth.Actor{}, in.User.ID, []string{"editor"}); err != nil {
		t.Fatal(err)
	}
	c.b.sync(t)
	if p, err, reads := c.authenticate(t, c.b, in.Token); err != nil || reads == 0 || len(p.User.Roles) != 1 || p.User.Roles[0] != "editor" {
		t.Fatalf("after a role change: roles %v, err %v, %d reads", p.User.Roles, err, reads)
	}

	// Email changed on A (a change that revokes no token).
	if _, err := c.a.svc.Reauthenticate(ctx, auth.Principal{User: in.User, Session: in.Session}, "a fine passphrase", auth.Client{}); err != nil {
		t.Fatal(err)
	}
	pa, _, _ := c.authenticate(t, c.a, in.Token)
	if _, err := c.a.svc.ChangeEmail(ctx, pa, "moved@example.com", auth.Client{}); err != nil {
		t.Fatal(err)
	}
	c.b.sync(t)
	if p, err, _ := c.authenticate(t, c.b, in.Token); err != nil || p.User.Email != "moved@example.com" {
		t.Fatalf("after an email change: email %q, err %v", p.User.Email, err)
	}

	// Re-authentication on A opens the window on B too (the cached
	// session's auth time is reread).
	c.clk.t = c.clk.t.Add(11 * time.Minute) // past the re-auth window; touch due anyway
	pb, _, _ := c.authenticate(t, c.b, in.Token)
	if err := c.b.svc.RequireRecentAuth(pb); err == nil {
		t.Fatal("an old sign-in passed the re-auth window")
	}
	if _, err, reads := c.authenticate(t, c.b, in.Token); err != nil || reads != 0 {
		t.Fatalf("check after touch: err %v, %d store reads (want a cache hit)", err, reads)
	}
	if _, err := c.a.svc.Reauthenticate(ctx, pa, "a fine passphrase", auth.Client{}); err != nil {
		t.Fatal(err)
	}
	c.b.sync(t)
	pb, _, _ = c.authenticate(t, c.b, in.Token)
	if err := c.b.svc.RequireRecentAuth(pb); err != nil {
		t.Fatalf("re-authentication on A not seen by B: %v", err)
	}

	// Logout on A: B answers from memory until its feed syncs (the
	// propagation window), then refuses.
	if err := c.a.svc.Logout(ctx, in.Session); err != nil {
		t.Fatal(err)
	}
	if _, err, reads := c.authenticate(t, c.b, in.Token); err != nil || reads != 0 {
		t.Fatalf("before B's feed synced: err %v, %d reads (want the cached answer)", err, reads)
	}
	c.b.sync(t)
	if _, err, _ := c.authenticate(t, c.b, in.Token); err == nil {
		t.Fatal("B accepted a session logged out on A after its feed synced")
	}

	// Disabled on A: B refuses once synced.
	in2, err := c.a.svc.Login(ctx, "moved@example.com", "a fine passphrase", auth.Client{IP: "192.0.2.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err, _ := c.authenticate(t, c.b, in2.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.a.svc.SetDisabled(ctx, auth.Actor{}, in.User.ID, true); err != nil {
		t.Fatal(err)
	}
	c.b.sync(t)
	if _, err, _ := c.authenticate(t, c.b, in2.Token); err == nil {
		t.Fatal("B accepted the session of a user disabled on A")
	}
}

// A change that lands while an instance is loading the user (after its
// read, before it caches the answer) must not leave the old record cached.
func TestSessionCacheDropsARecordChangedWhileLoading(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 0)
	in, err := c.a.svc.Signup(ctx, "race@example.com", "a fine passphrase", auth.Client{IP: "192.0.2.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	c.shared.duringUserBy = func() {
		if _, err := c.a.svc.SetRoles(ctx, auth.Actor{}, in.User.ID, []string{"editor"}); err != nil {
			t.Error(err)
		}
		c.b.sync(t)
	}
	if p, err, _ := c.authenticate(t, c.b, in.Token); err != nil || len(p.User.Roles) != 0 {
		t.Fatalf("staged read: roles %v, err %v (want the old, empty roles)", p.User.Roles, err)
	}
	if p, err, reads := c.authenticate(t, c.b, in.Token); err != nil || reads == 0 || len(p.User.Roles) != 1 {
		t.Fatalf("next check: roles %v, err %v, %d reads: the stale record was served from the cache", p.User.Roles, err, reads)
	}
}

// When the feed is stale the cache is not trusted: the store answers, and
// a signed-in cookie keeps working (only tokens fail closed).
func TestSessionCacheBypassedWhenFeedStale(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 30*time.Second)
	in, err := c.a.svc.Signup(ctx, "stale@example.com", "a fine passphrase", auth.Client{IP: "192.0.2.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	c.authenticate(t, c.b, in.Token)
	if _, err, reads := c.authenticate(t, c.b, in.Token); err != nil || reads != 0 {
		t.Fatalf("fresh feed: err %v, %d reads (want a cache hit)", err, reads)
	}
	c.clk.t = c.clk.t.Add(31 * time.Second)
	if err := c.a.svc.Logout(ctx, in.Session); err != nil {
		t.Fatal(err)
	}
	if _, err, reads := c.authenticate(t, c.b, in.Token); err == nil || reads == 0 {
		t.Fatalf("stale feed: err %v, %d reads (want the store to refuse the logged-out session)", err, reads)
	}
}

// Bearer requests to gatehouse's own API use the cache by session ID,
// and a session revoked elsewhere is refused once the feed syncs; an
// expired session is refused even when cached.
func TestSessionCacheBearer(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 0)
	in, err := c.a.svc.Signup(ctx, "bearer@example.com", "a fine passphrase", auth.Client{IP: "192.0.2.1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := c.a.svc.LoginTokens(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func() (error, int64) {
		before := c.shared.reads.Load()
		_, err := c.b.svc.AuthenticateBearer(ctx, pair.AccessToken, auth.Client{})
		return err, c.shared.reads.Load() - before
	}
	if err, reads := bearer(); err != nil || reads == 0 {
		t.Fatalf("first: %v, %d reads", err, reads)
	}
	if err, reads := bearer(); err != nil || reads != 0 {
		t.Fatalf("second: %v, %d reads (want a cache hit)", err, reads)
	}

	// Introspection on B names the user's email from the cache, and
	// follows an email change made on A.
	introspect := func() (string, int64) {
		before := c.shared.reads.Load()
		got, err := c.b.svc.Introspect(ctx, pair.AccessToken)
		if err != nil || !got.Active {
			t.Fatalf("introspect: %+v, %v", got, err)
		}
		return got.Email, c.shared.reads.Load() - before
	}
	if email, reads := introspect(); email != "bearer@example.com" || reads != 0 {
		t.Fatalf("introspect: email %q, %d reads (want the cached user)", email, reads)
	}
	if _, err := c.a.svc.ChangeEmail(ctx, auth.Principal{User: in.User, Session: in.Session}, "renamed@example.com", auth.Client{}); err != nil {
		t.Fatal(err)
	}
	c.b.sync(t)
	if email, _ := introspect(); email != "renamed@example.com" {
		t.Fatalf("introspect after an email change on A: %q", email)
	}

	if err := c.a.svc.Logout(ctx, in.Session); err != nil {
		t.Fatal(err)
	}
	c.b.sync(t)
	if err, _ := bearer(); err == nil {
		t.Fatal("B accepted a bearer token of a session logged out on A")
	}
}

// Touch still reaches the store once per touch interval, and the idle
// deadline is enforced although the entry is cached.
func TestSessionCacheKeepsIdleClock(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 0)
	in, err := c.a.svc.Signup(ctx, "idle@example.com", "a fine passphrase", auth.Client{IP: "192.0.2.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	c.authenticate(t, c.b, in.Token)
	c.clk.t = c.clk.t.Add(2 * time.Minute)
	if _, err, reads := c.authenticate(t, c.b, in.Token); err != nil || reads == 0 {
		t.Fatalf("touch due: err %v, %d reads (want a store round trip)", err, reads)
	}
	s, err := c.shared.Store.SessionByID(ctx, in.Session.ID)
	if err != nil || !s.LastSeenAt.Equal(c.clk.t) {
		t.Fatalf("last seen %v, want %v (err %v)", s.LastSeenAt, c.clk.t, err)
	}
	c.clk.t = c.clk.t.Add(25 * time.Hour)
	if _, err, _ := c.authenticate(t, c.b, in.Token); err == nil {
		t.Fatal("idle-expired session accepted from the cache")
	}
}

// Session binding holds across a due touch, with the cache on and off: a
// stolen cookie from another network stays refused after the touch
// interval, and the owner keeps working (the touch must not record the
// thief's address).
func TestBindingHoldsAcrossATouch(t *testing.T) {
	for _, size := range []int{0, -1} {
		ctx := context.Background()
		clk := &testClock{time.Now().UTC().Truncate(time.Millisecond)}
		svc := auth.NewService(auth.Config{Now: clk.Now, Binding: auth.BindingStrict, SessionCacheSize: size}, auth.Deps{
			Store: memory.New(), Hasher: password.NewHasher(password.Config{Params: password.TestParams()}), Policy: password.NewPolicy(),
		})
		const ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
		owner := auth.Client{IP: "192.0.2.1", UserAgent: ua}
		thief := auth.Client{IP: "198.51.100.7", UserAgent: ua}
		in, err := svc.Signup(ctx, "bound@example.com", "a fine passphrase", owner, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []time.Duration{0, 2 * time.Minute, 2 * time.Minute} {
			clk.t = clk.t.Add(step)
			if _, err := svc.Authenticate(ctx, in.Token, thief); err == nil {
				t.Fatalf("cache size %d, +%v: the thief's network was accepted", size, step)
			}
			if _, err := svc.Authenticate(ctx, in.Token, owner); err != nil {
				t.Fatalf("cache size %d, +%v: the owner was refused: %v", size, step, err)
			}
		}
	}
}

// failingInvalidations refuses to record invalidation entries only.
type failingInvalidations struct{ store.Store }

func (f failingInvalidations) AddRevocations(ctx context.Context, rs []store.Revocation) ([]store.Revocation, error) {
	for _, r := range rs {
		if store.IsInvalidation(r.Kind) {
			return nil, errors.New("store down for invalidations")
		}
	}
	return f.Store.AddRevocations(ctx, rs)
}

// A failed invalidation does not stop the security steps after a user
// change: disabling still ends the sessions and revokes the tokens.
func TestFailedInvalidationStillRevokes(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	svc := auth.NewService(auth.Config{}, auth.Deps{
		Store: failingInvalidations{mem}, Hasher: password.NewHasher(password.Config{Params: password.TestParams()}), Policy: password.NewPolicy(),
	})
	in, err := svc.Signup(ctx, "gone@example.com", "a fine passphrase", auth.Client{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetDisabled(ctx, auth.Actor{}, in.User.ID, true); err != nil {
		t.Fatalf("SetDisabled: %v", err)
	}
	if left, _ := mem.ListUserSessions(ctx, in.User.ID); len(left) != 0 {
		t.Fatalf("%d sessions survived disabling", len(left))
	}
	rs, err := mem.RevocationsSince(ctx, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range rs {
		kinds[r.Kind] = true
	}
	if !kinds[store.RevokeUser] || !kinds[store.RevokeSession] {
		t.Fatalf("revocations recorded: %v (want user and sid)", kinds)
	}
}
