package revocation_test

import (
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// revocationSizesEnv chooses the sizes of BenchmarkSet, like
// storetest.ScaleSizesEnv for the stores.
const revocationSizesEnv = "GATEHOUSE_BENCH_REVOCATIONS"

// BenchmarkSet measures the in-process revocation list at scale, for each
// kind of entry: the heap a Set holding N entries of that kind takes
// (bytes/entry: the live heap after a GC, less the empty Set's, divided
// by N), and Check of a token that is not revoked (the verify path's
// common case: random sid, jti and user that miss every map).
//
// N is 100000 by default; set GATEHOUSE_BENCH_REVOCATIONS to choose, e.g.
//
//	GATEHOUSE_BENCH_REVOCATIONS=100000,1000000 go test -run '^$' -bench Set -benchtime 1000000x ./revocation/
func BenchmarkSet(b *testing.B) {
	for _, kind := range []string{store.RevokeSession, store.RevokeToken, store.RevokeUser} {
		for _, n := range storetest.SizesFromEnv(b, revocationSizesEnv, 100000) {
			b.Run(fmt.Sprintf("kind=%s/entries=%d", kind, n), func(b *testing.B) {
				benchmarkSet(b, kind, n)
			})
		}
	}
}

var (
	idEncoding  = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	jtiEncoding = base64.RawURLEncoding
)

// keyGen makes keys shaped as gatehouse's: "ses_"/"usr_" and 120 bits of
// base32 for sessions and users, 128 bits of base64url for token IDs.
type keyGen struct{ rng *rand.Rand }

func (g keyGen) key(kind string) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	switch kind {
	case store.RevokeSession:
		return "ses_" + idEncoding.EncodeToString(b[:15])
	case store.RevokeUser:
		return "usr_" + idEncoding.EncodeToString(b[:15])
	default:
		return jtiEncoding.EncodeToString(b[:])
	}
}

func benchmarkSet(b *testing.B, kind string, n int) {
	now := time.Now()
	g := keyGen{rand.New(rand.NewPCG(uint64(n), uint64(len(kind))))}

	before := liveHeap()
	s := revocation.NewSet(0)
	// Fresh entries per chunk, dropped after Apply, so that the heap
	// afterwards holds what the Set keeps (its maps and key strings) and
	// nothing of the input.
	chunk := make([]store.Revocation, 0, 1000)
	for added := 0; added < n; {
		chunk = chunk[:0]
		for ; len(chunk) < cap(chunk) && added < n; added++ {
			chunk = append(chunk, store.Revocation{Kind: kind, Key: g.key(kind), NotBefore: now, ExpiresAt: now.Add(time.Hour)})
		}
		s.Apply(now, chunk)
	}
	clear(chunk[:cap(chunk)])
	perEntry := float64(liveHeap()-before) / float64(n)

	// Tokens that are not revoked; enough distinct ones that the lookups
	// land all over the maps rather than in a cached few.
	type claims struct{ sid, jti, user string }
	queries := make([]claims, 1<<17)
	for i := range queries {
		queries[i] = claims{g.key(store.RevokeSession), g.key(store.RevokeToken), g.key(store.RevokeUser)}
	}
	rng := rand.New(rand.NewPCG(2, uint64(n)))
	b.ReportAllocs()
	for b.Loop() {
		q := &queries[rng.IntN(len(queries))]
		if err := s.Check(now, q.sid, q.jti, q.user, now); err != nil {
			b.Fatalf("Check: %v", err)
		}
	}
	b.ReportMetric(perEntry, "bytes/entry")
	runtime.KeepAlive(s)
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC() // the second one frees what the first one's finalizers released
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
