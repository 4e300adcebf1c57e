package throttle_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gatehouse/gatehouse/throttle/throttletest"
)

func TestMemoryConformance(t *testing.T) {
	throttletest.Run(t, func(t *testing.T, cfg throttle.Config) throttle.Limiter {
		return throttle.NewMemory(cfg)
	})
}

func TestDelay(t *testing.T) {
	c := throttle.Config{FreeFailures: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute}.WithDefaults()
	cases := []struct {
		failures int
		want     time.Duration
	}{
		{-1, 0}, {0, 0}, {4, 0},
		{5, time.Second}, {6, 2 * time.Second}, {7, 4 * time.Second},
		{14, 512 * time.Second},
		{15, 15 * time.Minute}, // 1024s > 900s
		{100, 15 * time.Minute},
		{math.MaxInt, 15 * time.Minute},
	}
	for _, tc := range cases {
		if got := c.Delay(tc.failures); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}

	// A cap near the top of the range must not overflow into a negative
	// or short delay.
	huge := throttle.Config{FreeFailures: 1, BaseDelay: time.Nanosecond, MaxDelay: math.MaxInt64}.WithDefaults()
	for _, n := range []int{62, 63, 64, 65, 1000} {
		if got := huge.Delay(n); got < huge.Delay(n-1) || got <= 0 {
			t.Errorf("huge cap: Delay(%d) = %v after Delay(%d) = %v", n, got, n-1, huge.Delay(n-1))
		}
	}
	// BaseDelay above MaxDelay is clamped.
	clamped := throttle.Config{FreeFailures: 1, BaseDelay: time.Hour, MaxDelay: time.Minute}.WithDefaults()
	if got := clamped.Delay(1); got != time.Minute {
		t.Errorf("BaseDelay > MaxDelay: Delay(1) = %v, want 1m", got)
	}
	// Negative FreeFailures means no free failure.
	none := throttle.Config{FreeFailures: -1}.WithDefaults()
	if got := none.Delay(1); got != 2*time.Second {
		t.Errorf("no free failures: Delay(1) = %v, want 2s", got)
	}
}

func TestMemoryEvictionBound(t *testing.T) {
	ctx := context.Background()
	clock := throttletest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	// An hour's delay per key, so a key still held is visibly throttled.
	m := throttle.NewMemory(throttle.Config{FreeFailures: 1, BaseDelay: time.Hour, MaxDelay: time.Hour, MaxKeys: 100, Now: clock.Now})
	for i := range 1000 {
		clock.Advance(time.Second)
		if err := m.Fail(ctx, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
		if n := m.Len(); n > 100 {
			t.Fatalf("after %d keys Len = %d, want <= 100", i+1, n)
		}
	}
	if n := m.Len(); n != 100 {
		t.Fatalf("Len = %d, want 100", n)
	}
	// The oldest keys went; the newest 100 remain.
	if d, _ := m.Wait(ctx, "k899"); d != 0 {
		t.Errorf("evicted key k899 still throttled for %v", d)
	}
	if d, _ := m.Wait(ctx, "k999"); d != time.Hour {
		t.Errorf("newest key k999: Wait = %v, want 1h", d)
	}
	if d, _ := m.Wait(ctx, "k900"); d == 0 {
		t.Errorf("key k900 was evicted too early")
	}

	// A repeated failure moves a key to the back: failing k900 again makes
	// k901 the oldest, so the next new key evicts k901, not k900.
	if err := m.Fail(ctx, "k900"); err != nil {
		t.Fatal(err)
	}
	if err := m.Fail(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if d, _ := m.Wait(ctx, "k900"); d == 0 {
		t.Errorf("recently failed k900 was evicted")
	}
	if d, _ := m.Wait(ctx, "k901"); d != 0 {
		t.Errorf("oldest key k901 was not evicted")
	}
}

func TestMemoryPrunesExpired(t *testing.T) {
	ctx := context.Background()
	clock := throttletest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	m := throttle.NewMemory(throttle.Config{ForgetAfter: time.Hour, Now: clock.Now})
	for i := range 50 {
		if err := m.Fail(ctx, fmt.Sprintf("old%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
	// Any later failure sweeps the expired keys, without a goroutine.
	if err := m.Fail(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	if n := m.Len(); n != 1 {
		t.Errorf("Len = %d after expiry, want 1", n)
	}
}

func BenchmarkMemoryFailWait(b *testing.B) {
	ctx := context.Background()
	m := throttle.NewMemory(throttle.Config{MaxKeys: 1000})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		m.Fail(ctx, k)
		m.Wait(ctx, k)
		i++
	}
}
