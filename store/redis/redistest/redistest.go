// Package redistest gives tests a Redis-backed store of their own: a
// fresh random key prefix on the test server, every key under it deleted
// when the test ends. Tests may run in parallel, and beside other
// packages' tests, on one Redis database.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/store/redis"
)

// Open returns a Hot on the test Redis server (testenv.Redis: skipped
// loudly, or failed under GATEHOUSE_TEST_REQUIRE_SERVICES=1, when there
// is none) under a random prefix. At cleanup it deletes every key under
// the prefix and closes the client.
func Open(tb testing.TB) *redis.Hot {
	tb.Helper()
	url := testenv.Redis(tb)
	h, err := redis.Open(tb.Context(), url, redis.Options{Prefix: NewPrefix(tb)})
	if err != nil {
		tb.Fatalf("redis.Open(%s): %v", url, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := Purge(ctx, h.Client(), h.Prefix()); err != nil {
			tb.Errorf("purging test keys %s*: %v", h.Prefix(), err)
		}
		h.Close()
	})
	return h
}

// NewPrefix returns a key prefix that no other test uses.
func NewPrefix(tb testing.TB) string {
	tb.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return "gatehouse-test-" + hex.EncodeToString(b[:]) + ":"
}

// Purge deletes every key that starts with prefix.
func Purge(ctx context.Context, c rueidis.Client, prefix string) error {
	match := globEscape(prefix) + "*"
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(match).Count(1000).Build()).AsScanEntry()
		if err != nil {
			return err
		}
		if len(e.Elements) > 0 {
			if err := c.Do(ctx, c.B().Unlink().Key(e.Elements...).Build()).Error(); err != nil {
				return err
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return nil
		}
	}
}

// globEscape quotes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
