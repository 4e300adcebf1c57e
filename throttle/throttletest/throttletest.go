// Package throttletest is the conformance suite every throttle.Limiter
// implementation runs, so the in-memory and shared backends behave alike.
//
// The suite drives time through Config.Now and never sleeps, so an
// implementation must take "now" from Config.Now for every decision,
// including forgetting a key after ForgetAfter; a backend may still use
// its own expiry to reclaim storage, as long as that is no earlier.
package throttletest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/throttle"
)

// Clock is a fake clock that only moves when told. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// NewLimiter returns the implementation under test, empty, configured with
// cfg. cfg.Now is the suite's clock.
type NewLimiter func(t *testing.T, cfg throttle.Config) throttle.Limiter

// Run runs the conformance tests as subtests of t.
func Run(t *testing.T, newLimiter NewLimiter) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewLimiter)
	}{
		{"UnknownKey", testUnknownKey},
		{"FreeFailures", testFreeFailures},
		{"ExponentialGrowth", testExponentialGrowth},
		{"Cap", testCap},
		{"WaitCountsDown", testWaitCountsDown},
		{"NoPermanentLockout", testNoPermanentLockout},
		{"Reset", testReset},
		{"KeysIndependent", testKeysIndependent},
		{"Forget", testForget},
		{"ForgetBeforeDelayEnds", testForgetBeforeDelayEnds},
		{"Defaults", testDefaults},
		{"CancelledContext", testCancelledContext},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newLimiter) })
	}
}

// start is an arbitrary fixed instant, so failures are reproducible.
func start() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

// setup builds a limiter with a fresh clock and cfg's zero fields left for
// the implementation to default.
func setup(t *testing.T, newLimiter NewLimiter, cfg throttle.Config) (throttle.Limiter, *Clock) {
	clock := NewClock(start())
	cfg.Now = clock.Now
	return newLimiter(t, cfg), clock
}

func fail(t *testing.T, l throttle.Limiter, key string, n int) {
	t.Helper()
	for range n {
		if err := l.Fail(context.Background(), key); err != nil {
			t.Fatalf("Fail(%q): %v", key, err)
		}
	}
}

func wantWait(t *testing.T, l throttle.Limiter, key string, want time.Duration) {
	t.Helper()
	got, err := l.Wait(context.Background(), key)
	if err != nil {
		t.Fatalf("Wait(%q): %v", key, err)
	}
	if got != want {
		t.Fatalf("Wait(%q) = %v, want %v", key, got, want)
	}
}

func testUnknownKey(t *testing.T, newLimiter NewLimiter) {
	l, _ := setup(t, newLimiter, throttle.Config{})
	wantWait(t, l, "nobody", 0)
	if err := l.Reset(context.Background(), "nobody"); err != nil {
		t.Fatalf("Reset of unknown key: %v", err)
	}
}

func testFreeFailures(t *testing.T, newLimiter NewLimiter) {
	l, _ := setup(t, newLimiter, throttle.Config{FreeFailures: 3, BaseDelay: time.Second})
	for i := range 3 {
		wantWait(t, l, "alice", 0)
		fail(t, l, "alice", 1)
		if i < 2 {
			wantWait(t, l, "alice", 0)
		}
	}
	// Three failures used up the free ones: the next attempt waits.
	wantWait(t, l, "alice", time.Second)
}

func testExponentialGrowth(t *testing.T, newLimiter NewLimiter) {
	l, clock := setup(t, newLimiter, throttle.Config{FreeFailures: 2, BaseDelay: time.Second, MaxDelay: time.Hour})
	fail(t, l, "bob", 2)
	want := time.Second
	for range 8 {
		wantWait(t, l, "bob", want)
		// The caller waits it out, then fails again.
		clock.Advance(want)
		wantWait(t, l, "bob", 0)
		fail(t, l, "bob", 1)
		want *= 2
	}
	wantWait(t, l, "bob", 256*time.Second)
}

func testCap(t *testing.T, newLimiter NewLimiter) {
	l, _ := setup(t, newLimiter, throttle.Config{FreeFailures: 1, BaseDelay: time.Second, MaxDelay: 10 * time.Second})
	fail(t, l, "carol", 4) // 1s * 2^3 = 8s, under the cap
	wantWait(t, l, "carol", 8*time.Second)
	fail(t, l, "carol", 1) // 16s, capped
	wantWait(t, l, "carol", 10*time.Second)
	// Far past the point where 2^n overflows, still the cap.
	fail(t, l, "carol", 200)
	wantWait(t, l, "carol", 10*time.Second)
}

func testWaitCountsDown(t *testing.T, newLimiter NewLimiter) {
	l, clock := setup(t, newLimiter, throttle.Config{FreeFailures: 1, BaseDelay: 10 * time.Second})
	fail(t, l, "dave", 1)
	wantWait(t, l, "dave", 10*time.Second)
	clock.Advance(3 * time.Second)
	wantWait(t, l, "dave", 7*time.Second)
	clock.Advance(7 * time.Second)
	wantWait(t, l, "dave", 0)
	clock.Advance(time.Hour)
	wantWait(t, l, "dave", 0)
}

func testNoPermanentLockout(t *testing.T, newLimiter NewLimiter) {
	l, clock := setup(t, newLimiter, throttle.Config{})
	fail(t, l, "erin", 1000)
	d, err := l.Wait(context.Background(), "erin")
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > 15*time.Minute {
		t.Fatalf("after 1000 failures Wait = %v, want in (0, 15m]", d)
	}
	clock.Advance(d)
	wantWait(t, l, "erin", 0)
}

func testReset(t *testing.T, newLimiter NewLimiter) {
	l, _ := setup(t, newLimiter, throttle.Config{FreeFailures: 2, BaseDelay: time.Second})
	fail(t, l, "frank", 5)
	wantWait(t, l, "frank", 8*time.Second)
	if err := l.Reset(context.Background(), "frank"); err != nil {
		t.Fatal(err)
	}
	wantWait(t, l, "frank", 0)
	// The count starts over: the free failures are free again.
	fail(t, l, "frank", 1)
	wantWait(t, l, "frank", 0)
	fail(t, l, "frank", 1)
	wantWait(t, l, "frank", time.Second)
}

func testKeysIndependent(t *testing.T, newLimiter NewLimiter) {
	l, _ := setup(t, newLimiter, throttle.Config{FreeFailures: 1, BaseDelay: time.Second})
	fail(t, l, "grace", 3)
	wantWait(t, l, "grace", 4*time.Second)
	wantWait(t, l, "heidi", 0)
	wantWait(t, l, "grace2", 0)
	if err := l.Reset(context.Background(), "heidi"); err != nil {
		t.Fatal(err)
	}
	wantWait(t, l, "grace", 4*time.Second)
}

func testForget(t *testing.T, newLimiter NewLimiter) {
	l, clock := setup(t, newLimiter, throttle.Config{FreeFailures: 1, BaseDelay: time.Second, MaxDelay: time.Hour, ForgetAfter: 2 * time.Hour})
	fail(t, l, "ivan", 20) // 2^19 s, capped at an hour
	wantWait(t, l, "ivan", time.Hour)

	// Just before ForgetAfter the count is remembered: one more failure
	// still waits the full capped delay.
	clock.Advance(2*time.Hour - time.Second)
	fail(t, l, "ivan", 1)
	wantWait(t, l, "ivan", time.Hour)

	// ForgetAfter counts from the last failure; once it passes, the key
	// starts over with its free failure.
	clock.Advance(2 * time.Hour)
	wantWait(t, l, "ivan", 0)
	fail(t, l, "ivan", 1)
	wantWait(t, l, "ivan", time.Second)
}

func testForgetBeforeDelayEnds(t *testing.T, newLimiter NewLimiter) {
	// With ForgetAfter shorter than the delay, forgetting wins: the key is
	// free once ForgetAfter has passed since the last failure.
	l, clock := setup(t, newLimiter, throttle.Config{FreeFailures: 1, BaseDelay: time.Hour, MaxDelay: time.Hour, ForgetAfter: time.Minute})
	fail(t, l, "ken", 3)
	wantWait(t, l, "ken", time.Hour)
	clock.Advance(time.Minute)
	wantWait(t, l, "ken", 0)
}

func testDefaults(t *testing.T, newLimiter NewLimiter) {
	// Zero Config: 5 free failures, 1s base, 15m cap, forget after 24h.
	l, clock := setup(t, newLimiter, throttle.Config{})
	fail(t, l, "judy", 4)
	wantWait(t, l, "judy", 0)
	fail(t, l, "judy", 1)
	wantWait(t, l, "judy", time.Second)
	fail(t, l, "judy", 20)
	wantWait(t, l, "judy", 15*time.Minute)
	clock.Advance(24 * time.Hour)
	fail(t, l, "judy", 1)
	wantWait(t, l, "judy", 0)
}

func testCancelledContext(t *testing.T, newLimiter NewLimiter) {
	l, _ := setup(t, newLimiter, throttle.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Wait(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with cancelled ctx: %v, want context.Canceled", err)
	}
	if err := l.Fail(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Fail with cancelled ctx: %v, want context.Canceled", err)
	}
	if err := l.Reset(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Reset with cancelled ctx: %v, want context.Canceled", err)
	}
	// The cancelled Fail must not have counted.
	fail(t, l, "k", 4)
	wantWait(t, l, "k", 0)
}

func testConcurrent(t *testing.T, newLimiter NewLimiter) {
	// Failures from many goroutines must all count: a lost update would
	// show as a shorter delay. Run under -race to check the locking.
	const (
		workers = 8
		each    = 5
		keys    = 4
	)
	l, _ := setup(t, newLimiter, throttle.Config{FreeFailures: 30, BaseDelay: time.Second, MaxDelay: time.Hour})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			for i := range each * keys {
				key := fmt.Sprintf("key-%d", (w+i)%keys)
				if err := l.Fail(ctx, key); err != nil {
					t.Errorf("Fail: %v", err)
				}
				if _, err := l.Wait(ctx, key); err != nil {
					t.Errorf("Wait: %v", err)
				}
			}
		})
	}
	wg.Wait()
	// 8 workers * 5 rounds = 40 failures per key: 2^(40-30) seconds.
	for k := range keys {
		wantWait(t, l, fmt.Sprintf("key-%d", k), 1024*time.Second)
	}
}
