// Package throttle slows down password guessing. Each key (an account, an
// IP address, or both joined) may fail a few times freely; after that,
// every further attempt must wait an exponentially growing delay since the
// last failure, up to a cap. There is never a permanent lockout, so an
// attacker cannot lock a real user out for longer than MaxDelay.
//
// A login handler calls Wait before checking the password and refuses
// (429 with Retry-After) while it returns a positive duration, calls Fail
// after a wrong password, and Reset after a right one.
package throttle

import (
	"context"
	"time"
)

// Limiter tracks failures per key. Implementations are safe for concurrent
// use. Keys are opaque strings; callers choose them and should not put
// secrets in them, since a shared backend may store them in clear.
type Limiter interface {
	// Wait returns how long the caller must wait before another attempt
	// for key is allowed; 0 means now. An unknown key returns 0.
	Wait(ctx context.Context, key string) (time.Duration, error)
	// Fail records a failed attempt for key at the current time.
	Fail(ctx context.Context, key string) error
	// Reset forgets key, typically after a successful login. Resetting an
	// unknown key is not an error.
	Reset(ctx context.Context, key string) error
}

// Config sets the throttling policy. Zero fields take the defaults listed.
type Config struct {
	// FreeFailures is how many failures are allowed without delay.
	// Default 5; a negative value means none.
	FreeFailures int
	// BaseDelay is the wait once FreeFailures failures have happened;
	// each further failure doubles it. Default 1s.
	BaseDelay time.Duration
	// MaxDelay caps the wait. Default 15m.
	MaxDelay time.Duration
	// ForgetAfter drops a key that has had no failure for this long.
	// Default 24h.
	ForgetAfter time.Duration
	// MaxKeys bounds how many keys an in-memory limiter keeps; beyond it
	// the key with the oldest failure is evicted. Default 100000.
	MaxKeys int
	// Now returns the current time. Default time.Now; tests inject a
	// fake clock.
	Now func() time.Time
}

// WithDefaults returns c with its zero fields set to the defaults, for
// implementations of Limiter.
func (c Config) WithDefaults() Config {
	switch {
	case c.FreeFailures == 0:
		c.FreeFailures = 5
	case c.FreeFailures < 0:
		c.FreeFailures = 0
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = time.Second
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 15 * time.Minute
	}
	if c.ForgetAfter <= 0 {
		c.ForgetAfter = 24 * time.Hour
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Delay is the wait required after the given number of failures, counted
// from the last one: zero while failures < FreeFailures (or no failure at
// all), then BaseDelay*2^(failures-FreeFailures), capped at MaxDelay. Call
// it on a Config returned by WithDefaults. Every Limiter implementation
// uses it so that they agree.
func (c Config) Delay(failures int) time.Duration {
	if failures <= 0 || failures < c.FreeFailures {
		return 0
	}
	d := min(c.BaseDelay, c.MaxDelay)
	// Doubling step by step, stopping at the cap, cannot overflow and takes
	// at most 63 steps however large failures is.
	for i := c.FreeFailures; i < failures; i++ {
		if d > c.MaxDelay/2 {
			return c.MaxDelay
		}
		d *= 2
	}
	return d
}
