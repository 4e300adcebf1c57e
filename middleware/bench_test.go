package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/middleware"
	"github.com/gatehouse/gatehouse/middleware/gatehousetest"
)

// benchEnv is a gatehouse, a middleware for it and a signed-in user.
func benchEnv(b *testing.B) (*middleware.Middleware, gatehousetest.Tokens, gatehousetest.Session) {
	b.Helper()
	g := gatehousetest.Start(b, gatehousetest.Options{})
	g.PutRole(b, "reader", "notes:read")
	g.AddUser(b, "ann@example.com", "reader")
	m, err := middleware.New(context.Background(), g.MiddlewareConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m, g.LoginToken(b, "ann@example.com"), g.LoginCookie(b, "ann@example.com")
}

// BenchmarkVerify is the bearer path without HTTP: signature (EdDSA),
// claims, revocation lookup.
func BenchmarkVerify(b *testing.B) {
	m, tok, _ := benchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, tok.Access); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequirePermission is a whole request through the handler
// chain with a bearer token (no network: an in-memory ResponseWriter).
func BenchmarkRequirePermission(b *testing.B) {
	m, tok, _ := benchEnv(b)
	h := m.RequirePermission("notes:read")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/notes", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Access)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkCookieCached is a session-cookie request answered from the
// cache (the first one asked gatehouse).
func BenchmarkCookieCached(b *testing.B) {
	m, _, s := benchEnv(b)
	h := m.RequireAuth(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/notes", nil)
	req.AddCookie(s.Cookie)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
