package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/server"
)

// BenchmarkForwardAuth is the forward-auth handler alone — the whole
// handler chain (request ID, log line, security headers, routing), no
// network — on embedded SQLite, for CPU and allocation profiles:
//
//	go test -run '^$' -bench ForwardAuth -benchmem -cpuprofile cpu.out -memprofile mem.out ./server/
//
// cookie: 100 signed-in users' cookies in turn (the session cache
// answers); bearer: their access tokens in turn (the verified-token
// cache answers); noop: a handler that writes 200, the floor of the
// in-process loop.
func BenchmarkForwardAuth(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	cfg := config.Default()
	cfg.Store = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	cfg.SecretFile = filepath.Join(dir, "secret")
	cfg.CookieSecure = false
	cfg.LogLevel = "warn"
	cfg.Access = config.Access{Rules: []config.RuleConfig{{Path: []string{"/"}, Allow: "authenticated"}}}
	params := password.TestParams()
	srv, err := server.New(ctx, cfg, server.Options{PasswordParams: &params})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	var cookies, bearers []string
	for i := range 100 {
		in, err := srv.Service.Signup(ctx, fmt.Sprintf("fwd%d@example.com", i), "a fine passphrase", auth.Client{}, true)
		if err != nil {
			b.Fatal(err)
		}
		pair, err := srv.Service.LoginTokens(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		cookies = append(cookies, "gatehouse_session="+in.Token)
		bearers = append(bearers, "Bearer "+pair.AccessToken)
	}
	forward := func(header, value string) *http.Request {
		r := httptest.NewRequest("GET", "http://gatehouse.internal/v1/authz/forward", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("X-Forwarded-Method", "GET")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.example.com")
		r.Header.Set("X-Forwarded-Uri", "/dashboard?tab=1")
		r.Header.Set(header, value)
		return r
	}
	run := func(b *testing.B, h http.Handler, header string, values []string) {
		reqs := make([]*http.Request, len(values))
		for i, v := range values {
			reqs[i] = forward(header, v)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, reqs[i%len(reqs)])
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			i++
		}
	}
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	b.Run("noop", func(b *testing.B) { run(b, noop, "Cookie", cookies) })
	b.Run("cookie", func(b *testing.B) { run(b, h, "Cookie", cookies) })
	b.Run("bearer", func(b *testing.B) { run(b, h, "Authorization", bearers) })
}
