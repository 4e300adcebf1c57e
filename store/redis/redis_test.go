package redis_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/combined"
	"github.com/gatehouse/gatehouse/store/memory"
	"github.com/gatehouse/gatehouse/store/redis"
	"github.com/gatehouse/gatehouse/store/redis/redistest"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestConformance runs the suite on Redis for sessions and revocations,
// with memory for what Redis does not keep. Each subtest has a prefix of
// its own.
func TestConformance(t *testing.T) {
	testenv.Redis(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return combined.New(memory.New(), redistest.Open(t))
	})
}

func TestOpenBadURL(t *testing.T) {
	testenv.Redis(t)
	for _, url := range []string{"http://example.test", "redis://user:s3cret@127.0.0.1:port/0"} {
		_, err := redis.Open(t.Context(), url, redis.Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded, want an error", url)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v: the error shows the password", url, err)
		}
	}
}

func TestDefaultPrefix(t *testing.T) {
	url := testenv.Redis(t)
	h, err := redis.Open(t.Context(), url, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Prefix() != redis.DefaultPrefix {
		t.Errorf("Prefix() = %q, want %q", h.Prefix(), redis.DefaultPrefix)
	}
}

// keys returns every key under h's prefix, without it, sorted.
func keys(t *testing.T, h *redis.Hot) []string {
	t.Helper()
	c := h.Client()
	var out []string
	var cursor uint64
	for {
		e, err := c.Do(t.Context(), c.B().Scan().Cursor(cursor).Match(h.Prefix()+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range e.Elements {
			out = append(out, strings.TrimPrefix(k, h.Prefix()))
		}
		if cursor = e.Cursor; cursor == 0 {
			break
		}
	}
	slices.Sort(out)
	return out
}

// pttl returns the TTL of h's key in milliseconds (-1: none, -2: no key).
func pttl(t *testing.T, h *redis.Hot, key string) int64 {
	t.Helper()
	c := h.Client()
	ms, err := c.Do(t.Context(), c.B().Pttl().Key(h.Prefix()+key).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func tokenHash(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// session returns a session of user u that dies at dead (by its idle
// deadline; the absolute one is a day later).
func session(t *testing.T, id, u string, dead time.Time) store.Session {
	return store.Session{
		ID: id, TokenHash: tokenHash(t), UserID: u,
		CreatedAt: dead.Add(-time.Hour), AuthTime: dead.Add(-time.Hour), LastSeenAt: dead.Add(-time.Hour),
		IdleExpiresAt: dead, ExpiresAt: dead.Add(24 * time.Hour),
	}
}

// hexKey is the token index key of hash.
func hexKey(hash []byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2+2*len(hash))
	b = append(b, "t:"...)
	for _, c := range hash {
		b = append(b, digits[c>>4], digits[c&15])
	}
	return string(b)
}

// TestLayout checks the documented key layout, and that deleting sessions
// leaves no key behind.
func TestLayout(t *testing.T) {
	h := redistest.Open(t)
	ctx := t.Context()
	future := time.Now().Add(time.Hour)
	a := session(t, "a", "alice", future)
	b := session(t, "b", "alice", future)
	for _, s := range []store.Session{a, b} {
		if err := h.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"exp", "s:a", "s:b", hexKey(a.TokenHash), hexKey(b.TokenHash), "u:alice"}
	slices.Sort(want)
	if got := keys(t, h); !slices.Equal(got, want) {
		t.Errorf("keys = %q, want %q", got, want)
	}
	if err := h.DeleteSession(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DeleteUserSessions(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, h); len(got) != 0 {
		t.Errorf("keys left after deleting every session: %q", got)
	}
	if _, err := h.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeToken, Key: "j", ExpiresAt: future}}); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, h), []string{"rev", "rev:exp", "rev:seq"}; !slices.Equal(got, want) {
		t.Errorf("keys after a revocation = %q, want %q", got, want)
	}
}

// TestPrefixesIsolate checks that two prefixes on one database share
// nothing.
func TestPrefixesIsolate(t *testing.T) {
	h1, h2 := redistest.Open(t), redistest.Open(t)
	ctx := t.Context()
	s := session(t, "same-id", "u", time.Now().Add(time.Hour))
	if err := h1.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := h2.SessionByID(ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other prefix: SessionByID = %v, want ErrNotFound", err)
	}
	if _, err := h2.SessionByTokenHash(ctx, s.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other prefix: SessionByTokenHash = %v, want ErrNotFound", err)
	}
	if err := h2.CreateSession(ctx, s); err != nil {
		t.Errorf("other prefix: CreateSession of the same session: %v", err)
	}
	if _, err := h1.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeToken, Key: "j", ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if rs, err := h2.RevocationsSince(ctx, 0, time.Time{}); err != nil || len(rs) != 0 {
		t.Errorf("other prefix: RevocationsSince = %v, %v; want none", rs, err)
	}
}

// TestTTL checks that Redis expiry follows the session's death in real
// time, and that a session dead by the real clock gets no TTL (tests write
// sessions with clocks in the past and collect them with
// DeleteExpiredSessions).
func TestTTL(t *testing.T) {
	h := redistest.Open(t)
	ctx := t.Context()
	const grace = time.Minute
	near := func(key string, want time.Duration) {
		t.Helper()
		got := time.Duration(pttl(t, h, key)) * time.Millisecond
		if d := got - want; d > time.Second || d < -5*time.Second {
			t.Errorf("PTTL(%s) = %v, want about %v", key, got, want)
		}
	}
	live := session(t, "live", "u", time.Now().Add(time.Hour))
	if err := h.CreateSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	near("s:live", time.Hour+grace)
	near(hexKey(live.TokenHash), time.Hour+grace)
	near("u:u", time.Hour+grace)

	// A second session that lives longer pushes the user's set out; one
	// that dies sooner does not pull it in.
	long := session(t, "long", "u", time.Now().Add(3*time.Hour))
	short := session(t, "short", "u", time.Now().Add(10*time.Minute))
	for _, s := range []store.Session{long, short} {
		if err := h.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	near("s:short", 10*time.Minute+grace)
	near("u:u", 3*time.Hour+grace)

	// A touch moves the idle deadline, and the TTL with it; the absolute
	// deadline still caps it.
	if err := h.TouchSession(ctx, "live", time.Now(), time.Now().Add(2*time.Hour), "ip"); err != nil {
		t.Fatal(err)
	}
	near("s:live", 2*time.Hour+grace)
	if err := h.TouchSession(ctx, "live", time.Now(), time.Now().Add(48*time.Hour), "ip"); err != nil {
		t.Fatal(err)
	}
	near("s:live", time.Until(live.ExpiresAt)+grace)

	// A session already dead by the real clock has no TTL, nor its user's
	// set; updating it into the future gives it one.
	old := session(t, "old", "v", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := h.CreateSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"s:old", hexKey(old.TokenHash), "u:v"} {
		if ms := pttl(t, h, k); ms != -1 {
			t.Errorf("PTTL(%s) = %d, want -1 (no TTL)", k, ms)
		}
	}
	if _, err := h.UpdateSession(ctx, "old", func(s *store.Session) error {
		s.IdleExpiresAt = time.Now().Add(time.Hour)
		s.ExpiresAt = time.Now().Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	near("s:old", time.Hour+grace)
	near(hexKey(old.TokenHash), time.Hour+grace)
}

// TestDeleteExpiredSweepsDropped checks that sessions Redis has already
// expired are neither listed nor counted, and that their index entries
// are swept.
func TestDeleteExpiredSweepsDropped(t *testing.T) {
	h := redistest.Open(t)
	ctx := t.Context()
	past := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	gone := session(t, "gone", "u", past)
	kept := session(t, "kept", "u", past.Add(time.Hour))
	for _, s := range []store.Session{gone, kept} {
		if err := h.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// What Redis expiry does: the hash and the token index go, the
	// sorted sets stay.
	c := h.Client()
	if err := c.Do(ctx, c.B().Del().Key(h.Prefix()+"s:gone", h.Prefix()+hexKey(gone.TokenHash)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	list, err := h.ListUserSessions(ctx, "u")
	if err != nil || len(list) != 1 || list[0].ID != "kept" {
		t.Errorf("ListUserSessions = %v, %v; want only kept", list, err)
	}
	n, err := h.DeleteExpiredSessions(ctx, past)
	if err != nil || n != 0 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 0 (gone was already dropped)", n, err)
	}
	c2 := c.Do(ctx, c.B().Zscore().Key(h.Prefix()+"exp").Member("gone").Build())
	if err := c2.Error(); !rueidis.IsRedisNil(err) {
		t.Errorf("gone is still in the expiry index: %v", err)
	}
	if n, err := h.DeleteExpiredSessions(ctx, past.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions later = %d, %v; want 1", n, err)
	}
}

// TestDeleteExpiredBatches removes more sessions than one script
// examines.
func TestDeleteExpiredBatches(t *testing.T) {
	h := redistest.Open(t)
	ctx := t.Context()
	past := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 1234
	for i := range n {
		s := session(t, "s"+strconv.Itoa(i), "u", past)
		if err := h.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := h.DeleteExpiredSessions(ctx, past); err != nil || got != n {
		t.Errorf("DeleteExpiredSessions = %d, %v; want %d", got, err, n)
	}
	if got := keys(t, h); len(got) != 0 {
		t.Errorf("%d keys left, e.g. %q", len(got), got[:min(3, len(got))])
	}

	var rs []store.Revocation
	for range n {
		rs = append(rs, store.Revocation{Kind: store.RevokeToken, Key: "j", ExpiresAt: past})
	}
	if _, err := h.AddRevocations(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if got, err := h.DeleteExpiredRevocations(ctx, past); err != nil || got != n {
		t.Errorf("DeleteExpiredRevocations = %d, %v; want %d", got, err, n)
	}
}

// TestUpdateSessionRetriesAfterTouch checks that a touch between
// UpdateSession's read and write makes it read again, so the touch is not
// lost.
func TestUpdateSessionRetriesAfterTouch(t *testing.T) {
	h := redistest.Open(t)
	ctx := t.Context()
	s := session(t, "s", "u", time.Now().Add(time.Hour))
	if err := h.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	seen := time.Now().Add(time.Minute).Truncate(time.Millisecond).UTC()
	calls := 0
	got, err := h.UpdateSession(ctx, "s", func(cur *store.Session) error {
		calls++
		if calls == 1 {
			if err := h.TouchSession(ctx, "s", seen, seen.Add(time.Hour), "198.51.100.1"); err != nil {
				t.Error(err)
			}
		}
		cur.RefreshGen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("fn ran %d times, want 2", calls)
	}
	if got.RefreshGen != 1 || !got.LastSeenAt.Equal(seen) || got.IP != "198.51.100.1" {
		t.Errorf("UpdateSession = gen %d, last seen %v, IP %q; want 1, %v, the touched IP", got.RefreshGen, got.LastSeenAt, got.IP, seen)
	}
}

// TestUpdateSessionConflict checks that a session rewritten under every
// attempt ends in ErrConflict, having written nothing.
func TestUpdateSessionConflict(t *testing.T) {
	h := redistest.Open(t)
	ctx := t.Context()
	s := session(t, "s", "u", time.Now().Add(time.Hour))
	if err := h.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	calls := 0
	_, err := h.UpdateSession(ctx, "s", func(cur *store.Session) error {
		calls++
		if err := h.TouchSession(ctx, "s", time.Now(), time.Now().Add(time.Hour), "x"); err != nil {
			t.Error(err)
		}
		cur.UserAgent = "never written"
		return nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("UpdateSession under constant interference = %v, want ErrConflict", err)
	}
	if calls < 2 {
		t.Errorf("fn ran %d times; want retries", calls)
	}
	if got, err := h.SessionByID(ctx, "s"); err != nil || got.UserAgent == "never written" {
		t.Errorf("SessionByID = %q, %v; the losing write landed", got.UserAgent, err)
	}
}

// TestWatchRevocations checks the feed: a call once subscribed, a call
// per addition, and ctx's error at the end.
func TestWatchRevocations(t *testing.T) {
	h := redistest.Open(t)
	ctx, cancel := context.WithCancel(t.Context())
	notified := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- h.WatchRevocations(ctx, func() { notified <- struct{}{} }) }()

	wait := func(what string) {
		t.Helper()
		select {
		case <-notified:
		case err := <-done:
			t.Fatalf("%s: WatchRevocations returned %v", what, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no notification within 5s", what)
		}
	}
	wait("subscribed")
	for i := range 3 {
		if _, err := h.AddRevocations(t.Context(), []store.Revocation{{Kind: store.RevokeSession, Key: "s", ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		wait("addition " + string(rune('1'+i)))
	}

	// Another prefix's additions do not reach this watcher.
	other := redistest.Open(t)
	if _, err := other.AddRevocations(t.Context(), []store.Revocation{{Kind: store.RevokeSession, Key: "s", ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
		t.Error("notified of another prefix's revocation")
	case <-time.After(200 * time.Millisecond):
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WatchRevocations after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchRevocations did not return after cancel")
	}
}

// TestWatchRevocationsConnectionLost checks that a dropped connection
// ends the watch with an error instead of resubscribing silently, so that
// the caller resynchronises.
func TestWatchRevocationsConnectionLost(t *testing.T) {
	h := redistest.Open(t)
	ids := make(chan int64, 1)
	redis.SetWatchHook(h, func(id int64) { ids <- id })
	notified := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- h.WatchRevocations(t.Context(), func() { notified <- struct{}{} }) }()
	id := <-ids
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification once subscribed")
	}
	c := h.Client()
	if err := c.Do(t.Context(), c.B().ClientKill().Id(id).Build()).Error(); err != nil {
		t.Fatalf("CLIENT KILL ID %d: %v", id, err)
	}
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("WatchRevocations after the connection was killed = %v, want the connection's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchRevocations did not return after its connection was killed")
	}
	// The store still works, and so does a new watch.
	if err := h.Ping(t.Context()); err != nil {
		t.Errorf("Ping after the watch connection died: %v", err)
	}
}

// TestWatchRevocationsClosed checks that closing the store ends a watch.
func TestWatchRevocationsClosed(t *testing.T) {
	url := testenv.Redis(t)
	h, err := redis.Open(t.Context(), url, redis.Options{Prefix: redistest.NewPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- h.WatchRevocations(t.Context(), func() { subscribed <- struct{}{} }) }()
	<-subscribed
	go h.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("WatchRevocations after Close = nil, want an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchRevocations did not return after Close")
	}
}

// BenchmarkSessionByTokenHashParallel measures lookups from 32 goroutines
// at once, as a busy server makes them: the load that auto-pipelining
// (the reason for rueidis, see the package doc) is for.
func BenchmarkSessionByTokenHashParallel(b *testing.B) {
	h := redistest.Open(b)
	ctx := b.Context()
	hashes := make([][]byte, 1000)
	for i := range hashes {
		s := store.Session{ID: "s" + strconv.Itoa(i), TokenHash: make([]byte, 32), UserID: "u",
			IdleExpiresAt: time.Now().Add(time.Hour), ExpiresAt: time.Now().Add(time.Hour)}
		rand.Read(s.TokenHash)
		if err := h.CreateSession(ctx, s); err != nil {
			b.Fatal(err)
		}
		hashes[i] = s.TokenHash
	}
	b.ReportAllocs()
	b.SetParallelism(16) // 16 x GOMAXPROCS goroutines
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1))
		for pb.Next() {
			if _, err := h.SessionByTokenHash(ctx, hashes[i%len(hashes)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
