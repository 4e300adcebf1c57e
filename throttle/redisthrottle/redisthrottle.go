// Package redisthrottle is a throttle.Limiter in Redis, so that every
// replica behind a load balancer counts the same failures. It behaves as
// throttle.Memory does (the shared suite throttletest checks both), except
// that it needs no MaxKeys bound: each key expires by itself.
//
// Each key is one hash, {prefix}{key}, holding the failure count and the
// time of the last failure as seconds and nanoseconds since the epoch
// (both exact as Lua numbers). Every decision takes its time from
// Config.Now, never from Redis, so a fake clock drives it in tests; the
// Redis TTL of ForgetAfter, refreshed on every failure, only reclaims
// memory, and never before Config.Now would forget the key as long as that
// clock keeps up with real time.
package redisthrottle

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/throttle"
)

// maxCount bounds the stored failure count, as throttle.Memory does: past
// about 64 failures the delay is at its cap anyway.
const maxCount = 1 << 20

// Limiter is a throttle.Limiter on Redis. It is safe for concurrent use.
type Limiter struct {
	client rueidis.Client
	prefix string
	cfg    throttle.Config
}

var _ throttle.Limiter = (*Limiter)(nil)

// New returns a Limiter that keeps its keys under prefix on client (the
// session store's: redis.Hot.Client, with a prefix of its own such as
// hot.Prefix()+"throttle:"), with cfg's zero fields set to the defaults.
// MaxKeys is not used. The Limiter does not own the client: closing it is
// the caller's business.
func New(client rueidis.Client, prefix string, cfg throttle.Config) *Limiter {
	return &Limiter{client: client, prefix: prefix, cfg: cfg.WithDefaults()}
}

// failScript counts a failure at now unless the previous one is forgotten
// (at or before the cutoff now - ForgetAfter), when the count starts over.
// KEYS[1]: the key. ARGV: now (seconds, nanoseconds), cutoff (seconds,
// nanoseconds), TTL in milliseconds, maxCount.
var failScript = rueidis.NewLuaScript(`
local cur = redis.call('HMGET', KEYS[1], 'f', 's', 'n')
local count = 1
if cur[1] then
  local s, n = tonumber(cur[2]), tonumber(cur[3])
  local cs, cn = tonumber(ARGV[3]), tonumber(ARGV[4])
  if s > cs or (s == cs and n > cn) then
    count = math.min(tonumber(cur[1]) + 1, tonumber(ARGV[6]))
  end
end
redis.call('HSET', KEYS[1], 'f', tostring(count), 's', ARGV[1], 'n', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return count
`)

// Wait implements throttle.Limiter. It is a single read; a key that
// Config.Now says is forgotten waits 0 even if Redis still holds it.
func (l *Limiter) Wait(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := l.cfg.Now()
	k := l.prefix + key
	msgs, err := l.client.Do(ctx, l.client.B().Hmget().Key(k).Field("f", "s", "n").Build()).ToArray()
	if err != nil {
		return 0, fmt.Errorf("redisthrottle: wait: %w", err)
	}
	if len(msgs) != 3 || msgs[0].IsNil() {
		return 0, nil
	}
	var v [3]int64
	for i := range msgs {
		if v[i], err = msgs[i].AsInt64(); err != nil {
			return 0, fmt.Errorf("redisthrottle: wait: malformed key %q: %w", k, err)
		}
	}
	last := time.Unix(v[1], v[2])
	if now.Sub(last) >= l.cfg.ForgetAfter {
		return 0, nil
	}
	return max(last.Add(l.cfg.Delay(int(v[0]))).Sub(now), 0), nil
}

// Fail implements throttle.Limiter, atomically: concurrent failures all
// count.
func (l *Limiter) Fail(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := l.cfg.Now()
	cutoff := now.Add(-l.cfg.ForgetAfter)
	// Round the TTL up so that it never ends before ForgetAfter does.
	ttl := (l.cfg.ForgetAfter + time.Millisecond - 1).Milliseconds()
	args := []string{
		strconv.FormatInt(now.Unix(), 10), strconv.Itoa(now.Nanosecond()),
		strconv.FormatInt(cutoff.Unix(), 10), strconv.Itoa(cutoff.Nanosecond()),
		strconv.FormatInt(ttl, 10), strconv.Itoa(maxCount),
	}
	if err := failScript.Exec(ctx, l.client, []string{l.prefix + key}, args).Error(); err != nil {
		return fmt.Errorf("redisthrottle: fail: %w", err)
	}
	return nil
}

// Reset implements throttle.Limiter.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.client.Do(ctx, l.client.B().Del().Key(l.prefix+key).Build()).Error(); err != nil {
		return fmt.Errorf("redisthrottle: reset: %w", err)
	}
	return nil
}
