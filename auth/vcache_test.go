package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store/memory"
)

type testClock struct{ t time.Time }

func (c *testClock) Now() time.Time { return c.t }

func tokenService(t testing.TB) (*auth.Service, *keys.Manager, *testClock) {
	st := memory.New()
	clk := &testClock{time.Now().UTC()}
	km := keys.New(keys.Config{VerifyFor: 11 * time.Minute, Now: clk.Now}, st, []byte("0123456789abcdef0123456789abcdef"), nil)
	if err := km.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := auth.NewService(auth.Config{Now: clk.Now}, auth.Deps{
		Store: st, Hasher: password.NewHasher(password.Config{Params: password.TestParams()}), Policy: password.NewPolicy(),
		Keys: km, Revocations: revocation.NewSet(0), ChainKey: make([]byte, 32),
	})
	return svc, km, clk
}

// A cached token is never returned once revoked, expired, or signed by a
// key that left the key set.
func TestVerifiedCacheNeverVouchesForDeadTokens(t *testing.T) {
	ctx := context.Background()
	svc, km, clk := tokenService(t)
	in, err := svc.Signup(ctx, "cache@example.com", "a fine passphrase", auth.Client{}, true)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := svc.LoginTokens(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the second and third checks are cache hits
		if _, err := svc.VerifyAccessToken(pair.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	// Revoked: refused although cached.
	if err := svc.Logout(ctx, in.Session); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyAccessToken(pair.AccessToken); err == nil {
		t.Fatal("cache hit returned a revoked token")
	}

	// Expired: refused although cached.
	in2, _ := svc.Login(ctx, "cache@example.com", "a fine passphrase", auth.Client{}, true)
	pair2, _ := svc.LoginTokens(ctx, in2)
	if _, err := svc.VerifyAccessToken(pair2.AccessToken); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(10*time.Minute + 6*time.Second)
	if _, err := svc.VerifyAccessToken(pair2.AccessToken); err == nil {
		t.Fatal("cache hit returned an expired token")
	}

	// Key gone: after rotation and expiry of the old key, a token it
	// signed is not vouched for by the cache.
	in3, _ := svc.Login(ctx, "cache@example.com", "a fine passphrase", auth.Client{}, true)
	pair3, _ := svc.LoginTokens(ctx, in3)
	if _, err := svc.VerifyAccessToken(pair3.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := km.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(12 * time.Minute)
	if err := km.Load(ctx); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(-12 * time.Minute) // back inside the token's lifetime
	if _, err := svc.VerifyAccessToken(pair3.AccessToken); err == nil {
		t.Fatal("cache vouched for a token whose key left the key set")
	}
}

// BenchmarkVerifyAccessToken compares a first verification (signature,
// claims, revocation list) with a repeat (cache hit: map lookup, clock and
// revocation list), on the same token.
func BenchmarkVerifyAccessToken(b *testing.B) {
	ctx := context.Background()
	svc, _, _ := tokenService(b)
	in, err := svc.Signup(ctx, "bench@example.com", "a fine passphrase", auth.Client{}, true)
	if err != nil {
		b.Fatal(err)
	}
	var toks []string
	for range 64 {
		p, _ := svc.LoginTokens(ctx, in)
		toks = append(toks, p.AccessToken)
	}
	b.Run("repeat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.VerifyAccessToken(toks[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("distinct", func(b *testing.B) {
		// 64 tokens cycling through a 4096-entry cache are hits after the
		// first round; to measure the miss path, make fresh tokens.
		fresh := make([]string, 0, 1024)
		for range 1024 {
			p, _ := svc.LoginTokens(ctx, in)
			fresh = append(fresh, p.AccessToken)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i == len(fresh) {
				b.StopTimer()
				for j := range fresh {
					p, _ := svc.LoginTokens(ctx, in)
					fresh[j] = p.AccessToken
				}
				i = 0
				b.StartTimer()
			}
			if _, err := svc.VerifyAccessToken(fresh[i]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
