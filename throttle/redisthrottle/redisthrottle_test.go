package redisthrottle_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/store/redis/redistest"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gatehouse/gatehouse/throttle/redisthrottle"
	"github.com/gatehouse/gatehouse/throttle/throttletest"
)

func TestConformance(t *testing.T) {
	testenv.Redis(t)
	throttletest.Run(t, func(t *testing.T, cfg throttle.Config) throttle.Limiter {
		h := redistest.Open(t) // a fresh prefix: the limiter starts empty
		return redisthrottle.New(h.Client(), h.Prefix()+"throttle:", cfg)
	})
}

// TestTTL checks that a key's Redis TTL is ForgetAfter from its last
// failure, so Redis reclaims it no earlier than the limiter forgets it.
func TestTTL(t *testing.T) {
	h := redistest.Open(t)
	l := redisthrottle.New(h.Client(), h.Prefix(), throttle.Config{ForgetAfter: 90 * time.Minute})
	if err := l.Fail(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	c := h.Client()
	ms, err := c.Do(t.Context(), c.B().Pttl().Key(h.Prefix()+"k").Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(ms) * time.Millisecond; got > 90*time.Minute || got < 90*time.Minute-5*time.Second {
		t.Errorf("PTTL = %v, want about 90m", got)
	}
	if err := l.Reset(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Do(t.Context(), c.B().Exists().Key(h.Prefix()+"k").Build()).AsInt64(); err != nil || n != 0 {
		t.Errorf("key still exists after Reset: %d, %v", n, err)
	}
}

// TestSharedAcrossLimiters checks what a shared backend is for: two
// limiters (two replicas) on one prefix count the same failures.
func TestSharedAcrossLimiters(t *testing.T) {
	h := redistest.Open(t)
	clock := throttletest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := throttle.Config{FreeFailures: 2, BaseDelay: time.Second, Now: clock.Now}
	a := redisthrottle.New(h.Client(), h.Prefix(), cfg)
	b := redisthrottle.New(h.Client(), h.Prefix(), cfg)
	for _, l := range []throttle.Limiter{a, b, a} {
		if err := l.Fail(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := b.Wait(t.Context(), "k"); err != nil || d != 2*time.Second {
		t.Errorf("Wait on the other limiter = %v, %v; want 2s", d, err)
	}
}

func BenchmarkFailWait(b *testing.B) {
	h := redistest.Open(b)
	l := redisthrottle.New(h.Client(), h.Prefix(), throttle.Config{})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		if err := l.Fail(ctx, k); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Wait(ctx, k); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
