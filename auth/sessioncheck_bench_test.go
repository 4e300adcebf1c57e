package auth_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/combined"
	"github.com/gatehouse/gatehouse/store/memory"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/store/redis/redistest"
	"github.com/gatehouse/gatehouse/store/sqlite"
)

// BenchmarkSessionCheck is the cookie → user check (Service.Authenticate)
// on every backend, answered from the in-process session cache ("cached")
// and with the cache off, a store round trip for the session and one for
// the user on every call ("store"). 200 signed-in users, a different
// cookie on every call.
//
//	go test -run '^$' -bench SessionCheck -benchmem ./auth/
func BenchmarkSessionCheck(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"memory", func(*testing.B) store.Store { return memory.New() }},
		{"sqlite", func(b *testing.B) store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "gatehouse.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			if err := st.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			return st
		}},
		{"postgres", func(b *testing.B) store.Store { return pgtest.Open(b) }},
		{"redis", func(b *testing.B) store.Store { return combined.New(memory.New(), redistest.Open(b)) }},
		{"postgres+redis", func(b *testing.B) store.Store { return combined.New(pgtest.Open(b), redistest.Open(b)) }},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			var cookies []string
			for _, mode := range []struct {
				name string
				size int
			}{{"cached", 0}, {"store", -1}} {
				svc := auth.NewService(auth.Config{SessionCacheSize: mode.size}, auth.Deps{
					Store: st, Hasher: password.NewHasher(password.Config{Params: password.TestParams()}),
					Policy: password.NewPolicy(), Revocations: revocation.NewSet(0),
				})
				if cookies == nil {
					for i := range 200 {
						in, err := svc.Signup(context.Background(), fmt.Sprintf("bench%d@example.com", i), "a fine passphrase", auth.Client{}, false)
						if err != nil {
							b.Fatal(err)
						}
						cookies = append(cookies, in.Token)
					}
				}
				for _, c := range cookies { // warm the cache (no effect with it off)
					if _, err := svc.Authenticate(context.Background(), c, auth.Client{}); err != nil {
						b.Fatal(err)
					}
				}
				b.Run(mode.name, func(b *testing.B) {
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if _, err := svc.Authenticate(context.Background(), cookies[i%len(cookies)], auth.Client{}); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		})
	}
}
