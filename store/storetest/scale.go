package storetest

import (
	"encoding/base32"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// ScaleSizesEnv names the environment variable that chooses how many
// sessions the scale benchmarks (each backend's BenchmarkScale) fill their
// store with: a comma-separated list, e.g. "10000,100000,1000000". Unset,
// only ScaleDefaultSize runs, so that CI stays fast.
const ScaleSizesEnv = "GATEHOUSE_BENCH_SESSIONS"

// ScaleDefaultSize is the one size the scale benchmarks fill by default.
const ScaleDefaultSize = 10000

// ScaleSizes returns the store sizes to benchmark, from ScaleSizesEnv.
func ScaleSizes(tb testing.TB) []int {
	tb.Helper()
	return SizesFromEnv(tb, ScaleSizesEnv, ScaleDefaultSize)
}

// SizesFromEnv parses the comma-separated positive integers in the
// environment variable env, or returns def alone when it is unset.
func SizesFromEnv(tb testing.TB, env string, def int) []int {
	tb.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		return []int{def}
	}
	var sizes []int
	for f := range strings.SplitSeq(raw, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			tb.Fatalf("%s=%q: %q is not a positive integer", env, raw, f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// ScaleSessionsPerUser is the average number of sessions per user in a
// scale fill: a laptop, a phone and the odd second browser.
const ScaleSessionsPerUser = 3

// Real User-Agent strings, as a sign-in records them. okhttp stands for
// a mobile app in token mode.
var scaleUserAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"okhttp/4.12.0",
}

var scaleIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Scale generates the records of a scale benchmark: n sessions of about
// n/ScaleSessionsPerUser users, shaped as gatehouse writes them (120-bit
// "usr_"/"ses_" IDs, 32-byte token hashes, real User-Agents, IPv4 and
// IPv6 addresses, a third in token mode with a refresh hash). It is
// deterministic for a given n, and every session is alive for days after
// Now.
type Scale struct {
	N       int
	Now     time.Time
	UserIDs []string
	rng     *rand.Rand
	next    int
}

// NewScale prepares the records of n sessions and their users.
func NewScale(n int) *Scale {
	sc := &Scale{
		N:   n,
		Now: time.Now().Truncate(time.Millisecond).UTC(),
		rng: rand.New(rand.NewChaCha8([32]byte{'g', 'a', 't', 'e', byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)})),
	}
	sc.UserIDs = make([]string, max(1, n/ScaleSessionsPerUser))
	for i := range sc.UserIDs {
		sc.UserIDs[i] = sc.id("usr_")
	}
	return sc
}

// User returns the user record of UserIDs[i].
func (sc *Scale) User(i int) store.User {
	id := sc.UserIDs[i]
	created := sc.Now.Add(-time.Duration(sc.rng.Int64N(int64(365 * 24 * time.Hour))))
	return store.User{
		ID:           id,
		Email:        id + "@example.test",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		CreatedAt:    created,
		UpdatedAt:    created,
	}
}

func (sc *Scale) id(prefix string) string {
	var b [15]byte
	for i := range b {
		b[i] = byte(sc.rng.Uint32())
	}
	return prefix + scaleIDEncoding.EncodeToString(b[:])
}

func (sc *Scale) hash() []byte {
	h := make([]byte, 32)
	for i := 0; i < len(h); i += 8 {
		v := sc.rng.Uint64()
		for j := range 8 {
			h[i+j] = byte(v >> (8 * j))
		}
	}
	return h
}

func (sc *Scale) ip() string {
	if sc.rng.IntN(5) == 0 {
		var a [16]byte
		a[0], a[1] = 0x2a, 0x02
		for i := 2; i < 16; i++ {
			a[i] = byte(sc.rng.Uint32())
		}
		return netip.AddrFrom16(a).String()
	}
	v := sc.rng.Uint32()
	return netip.AddrFrom4([4]byte{byte(1 + v%223), byte(v >> 8), byte(v >> 16), byte(v >> 24)}).String()
}

// Next returns the next session, or false after N of them.
func (sc *Scale) Next() (store.Session, bool) {
	if sc.next >= sc.N {
		return store.Session{}, false
	}
	sc.next++
	created := sc.Now.Add(-time.Duration(sc.rng.Int64N(int64(7 * 24 * time.Hour))))
	seen := created.Add(time.Duration(sc.rng.Int64N(int64(sc.Now.Sub(created)) + 1)))
	s := store.Session{
		ID:            sc.id("ses_"),
		TokenHash:     sc.hash(),
		UserID:        sc.UserIDs[sc.rng.IntN(len(sc.UserIDs))],
		CreatedAt:     created,
		AuthTime:      created,
		LastSeenAt:    seen,
		IdleExpiresAt: sc.Now.Add(7*24*time.Hour + time.Duration(sc.rng.Int64N(int64(7*24*time.Hour)))),
		ExpiresAt:     created.Add(30 * 24 * time.Hour),
		IP:            sc.ip(),
		UserAgent:     scaleUserAgents[sc.rng.IntN(len(scaleUserAgents))],
	}
	if sc.rng.IntN(3) == 0 {
		s.RefreshHash = sc.hash()
		s.RefreshGen = 1 + sc.rng.Int64N(200)
		s.RefreshRotatedAt = seen
	}
	return s, true
}

// Batches calls fn with successive batches of at most size sessions until
// N have been generated, and returns every token hash, in order.
func (sc *Scale) Batches(size int, fn func([]store.Session) error) ([][]byte, error) {
	hashes := make([][]byte, 0, sc.N)
	batch := make([]store.Session, 0, size)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fn(batch)
		batch = batch[:0]
		return err
	}
	for {
		s, ok := sc.Next()
		if !ok {
			return hashes, flush()
		}
		hashes = append(hashes, s.TokenHash)
		batch = append(batch, s)
		if len(batch) == size {
			if err := flush(); err != nil {
				return hashes, err
			}
		}
	}
}

// BenchmarkScale runs one sub-benchmark per size of ScaleSizes: fill
// builds a store of n sessions (before the timer) and returns it, the
// sessions' token hashes and the storage each took; then the lookup is
// timed.
func BenchmarkScale(b *testing.B, fill func(b *testing.B, n int) (s store.Sessions, hashes [][]byte, perSession float64)) {
	for _, n := range ScaleSizes(b) {
		b.Run(scaleName(n), func(b *testing.B) {
			s, hashes, perSession := fill(b, n)
			benchmarkScaleLookup(b, s, hashes, perSession)
		})
	}
}

// benchmarkScaleLookup times SessionByTokenHash of random sessions among
// those whose hashes are given (so that neither the backend's caches nor
// the CPU's are flattered by a hot few), then reports perSession, the
// storage the fill measured, as bytes/session. Reported after the loop,
// because b.Loop's first call resets the metrics.
func benchmarkScaleLookup(b *testing.B, s store.Sessions, hashes [][]byte, perSession float64) {
	ctx := b.Context()
	rng := rand.New(rand.NewPCG(1, uint64(len(hashes))))
	// A few lookups first, so that connecting and preparing statements
	// stay out of a short run's figure.
	for range 10 {
		if _, err := s.SessionByTokenHash(ctx, hashes[rng.IntN(len(hashes))]); err != nil {
			b.Fatalf("SessionByTokenHash: %v", err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		h := hashes[rng.IntN(len(hashes))]
		if _, err := s.SessionByTokenHash(ctx, h); err != nil {
			b.Fatalf("SessionByTokenHash: %v", err)
		}
	}
	b.ReportMetric(perSession, "bytes/session")
}

// scaleName is the sub-benchmark name for a store of n sessions.
func scaleName(n int) string { return fmt.Sprintf("sessions=%d", n) }
