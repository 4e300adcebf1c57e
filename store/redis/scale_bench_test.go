package redis_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/redis"
	"github.com/gatehouse/gatehouse/store/redis/redistest"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// BenchmarkScale measures the scale of state on Redis: the lookup every
// cookie request pays (SessionByTokenHash of a random live session) among
// N sessions, and the memory each session takes (bytes/session: the
// growth of used_memory in INFO memory while they are written, divided by
// N; it counts the session hash, the token-hash key, the session's share
// of its user's set and of the expiry set, and their TTLs). The server is
// shared, so other writers during the fill show up in that figure: at
// 10000 sessions it is a rough one.
//
// N is 10000 by default; set GATEHOUSE_BENCH_SESSIONS to choose, e.g.
//
//	GATEHOUSE_BENCH_SESSIONS=10000,100000,1000000 go test -run '^$' -bench Scale -benchtime 20000x ./store/redis/
//
// Each size gets a random key prefix of its own, as long as DefaultPrefix
// (key names are part of what a session costs). It is filled once, before
// the timer starts, through the store's own CreateSession from many
// goroutines at once (rueidis pipelines them), and purged at the end.
func BenchmarkScale(b *testing.B) {
	storetest.BenchmarkScale(b, func(b *testing.B, n int) (store.Sessions, [][]byte, float64) {
		h := openScale(b)
		hashes, perSession := fillScale(b, h, n)
		return h, hashes, perSession
	})
}

// openScale opens a store under a fresh prefix as long as DefaultPrefix,
// which it purges at cleanup: redistest's prefixes are longer, and its
// purge is timed for a test's few keys, not millions.
func openScale(b *testing.B) *redis.Hot {
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		b.Fatal(err)
	}
	prefix := "g" + hex.EncodeToString(r[:]) + ":"
	h, err := redis.Open(b.Context(), testenv.Redis(b), redis.Options{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		defer h.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := redistest.Purge(ctx, h.Client(), prefix); err != nil {
			b.Errorf("purging %s*: %v", prefix, err)
		}
	})
	return h
}

// fillWorkers is how many goroutines write sessions at once during a
// fill: enough for rueidis to pipeline deeply.
const fillWorkers = 64

// fillScale writes n generated sessions and returns their token hashes
// and the memory each added.
func fillScale(b *testing.B, h *redis.Hot, n int) ([][]byte, float64) {
	ctx := b.Context()
	before := usedMemory(b, h.Client())
	sc := storetest.NewScale(n)
	hashes, err := sc.Batches(20*fillWorkers, func(ss []store.Session) error {
		var (
			wg    sync.WaitGroup
			errMu sync.Mutex
			first error
		)
		for w := range fillWorkers {
			wg.Go(func() {
				for i := w; i < len(ss); i += fillWorkers {
					if err := h.CreateSession(ctx, ss[i]); err != nil {
						errMu.Lock()
						if first == nil {
							first = err
						}
						errMu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		return first
	})
	if err != nil {
		b.Fatalf("CreateSession: %v", err)
	}
	after := usedMemory(b, h.Client())
	return hashes, float64(after-before) / float64(n)
}

// usedMemory returns used_memory from INFO memory.
func usedMemory(b *testing.B, c rueidis.Client) int64 {
	info, err := c.Do(b.Context(), c.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		b.Fatalf("INFO memory: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("INFO memory: used_memory:%s: %v", v, err)
			}
			return n
		}
	}
	b.Fatalf("INFO memory has no used_memory line")
	return 0
}
