package middleware_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/middleware"
	"github.com/gatehouse/gatehouse/middleware/gatehousetest"
	"github.com/gatehouse/gatehouse/token"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newMiddleware builds a middleware for g, closed at cleanup; with run it
// also follows the feed.
func newMiddleware(t *testing.T, g *gatehousetest.Gatehouse, run bool, mutate ...func(*middleware.Config)) *middleware.Middleware {
	t.Helper()
	cfg := g.MiddlewareConfig()
	for _, f := range mutate {
		f(&cfg)
	}
	m, err := middleware.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("middleware.New: %v", err)
	}
	if run {
		errc := make(chan error, 1)
		go func() { errc <- m.Run(context.Background()) }()
		t.Cleanup(func() {
			m.Close()
			if err := <-errc; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	} else {
		t.Cleanup(func() { m.Close() })
	}
	return m
}

// app is a small app behind the middleware: each route echoes the caller.
func app(t *testing.T, m *middleware.Middleware) *httptest.Server {
	t.Helper()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := middleware.UserFrom(r.Context())
		if !ok {
			io.WriteString(w, `{"anonymous":true}`)
			return
		}
		json.NewEncoder(w).Encode(u)
	})
	mux := http.NewServeMux()
	mux.Handle("/auth", m.RequireAuth(echo))
	mux.Handle("/read", m.RequirePermission("notes:read")(echo))
	mux.Handle("/write", m.RequirePermission("notes:write")(echo))
	mux.Handle("/admin", m.RequireRole("admin")(echo))
	mux.Handle("/opt", m.Authenticate(echo))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) user(t *testing.T) middleware.User {
	t.Helper()
	var u middleware.User
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatalf("not a user: %s", r.body)
	}
	return u
}

// call sends a request to the app; headers are name, value pairs.
func call(t *testing.T, method, u string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: body}
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// expect checks the status and, for errors, gatehouse's problem format.
func expect(t *testing.T, r reply, status int, problemCode string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if status < 400 {
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != status || p.Detail == "" || p.Type != "urn:gatehouse:problem:"+problemCode {
		t.Fatalf("problem %s, want type %s", r.body, problemCode)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("401 without WWW-Authenticate: %v", r.header)
	}
}

// eventually polls cond every 20ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func TestBearerTokenAcceptedWithRolesAndPermissions(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	g.PutRole(t, "reader", "notes:read")
	uid := g.AddUser(t, "ann@example.com", "reader")
	tok := g.LoginToken(t, "ann@example.com")
	a := app(t, newMiddleware(t, g, false))

	r := call(t, "GET", a.URL+"/auth", bearer(tok.Access)...)
	expect(t, r, 200, "")
	u := r.user(t)
	if u.ID != uid || u.SessionID != tok.SessionID || u.Source != middleware.FromBearer || u.TokenID == "" ||
		len(u.Roles) != 1 || u.Roles[0] != "reader" || len(u.Permissions) != 1 || u.Permissions[0] != "notes:read" {
		t.Fatalf("user %+v", u)
	}
	if v := r.header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "Authorization") {
		t.Fatalf("Vary %v", v)
	}
	expect(t, call(t, "GET", a.URL+"/read", bearer(tok.Access)...), 200, "")
	r = call(t, "GET", a.URL+"/write", bearer(tok.Access)...)
	expect(t, r, 403, "forbidden")
	if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="notes:write"`) {
		t.Fatalf("403 WWW-Authenticate %q", h)
	}
	expect(t, call(t, "GET", a.URL+"/admin", bearer(tok.Access)...), 403, "forbidden")
	expect(t, call(t, "GET", a.URL+"/auth"), 401, "unauthenticated")
	if r := call(t, "GET", a.URL+"/opt"); r.status != 200 || !strings.Contains(string(r.body), "anonymous") {
		t.Fatalf("optional, anonymous: %d %s", r.status, r.body)
	}
	if u := call(t, "GET", a.URL+"/opt", bearer(tok.Access)...).user(t); u.ID != uid {
		t.Fatalf("optional, signed in: %+v", u)
	}
}

func TestWildcardPermissionsAndRoles(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	g.PutRole(t, "editor", "notes:*")
	g.AddUser(t, "ed@example.com", "editor")
	g.AddUser(t, "root@example.com", "admin")
	a := app(t, newMiddleware(t, g, false))
	ed := g.LoginToken(t, "ed@example.com").Access
	root := g.LoginToken(t, "root@example.com").Access
	for _, p := range []string{"/read", "/write"} {
		expect(t, call(t, "GET", a.URL+p, bearer(ed)...), 200, "")
		expect(t, call(t, "GET", a.URL+p, bearer(root)...), 200, "")
	}
	expect(t, call(t, "GET", a.URL+"/admin", bearer(ed)...), 403, "forbidden")
	expect(t, call(t, "GET", a.URL+"/admin", bearer(root)...), 200, "")
}

func TestRequirePermissionRefusesMalformedPermissionAtSetup(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	m := newMiddleware(t, g, false)
	for _, p := range []string{"", "notes", "notes:*", "*", "Notes:read"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RequirePermission(%q) did not panic", p)
				}
			}()
			m.RequirePermission(p)
		}()
	}
}

// forge builds a token with the given header and payload and a junk
// signature of sigLen bytes.
func forge(header, payload string, sigLen int) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + enc(bytes.Repeat([]byte{7}, sigLen))
}

func TestBadTokensRefused(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	g.AddUser(t, "ann@example.com")
	tok := g.LoginToken(t, "ann@example.com")
	other := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	other.AddUser(t, "ann@example.com")
	otherTok := other.LoginToken(t, "ann@example.com").Access
	a := app(t, newMiddleware(t, g, false))

	parts := strings.Split(tok.Access, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
		return string(b)
	}
	evil := bytes.Replace(payload, []byte(`"sub":"`), []byte(`"sub":"usr_evil`), 1)
	noneHeader := strings.Replace(string(header), `"alg":"EdDSA"`, `"alg":"none"`, 1)
	hsHeader := strings.Replace(string(header), `"alg":"EdDSA"`, `"alg":"HS256"`, 1)

	cases := map[string][]string{
		"forged signature":          bearer(parts[0] + "." + parts[1] + "." + flip(parts[2], 10)),
		"changed payload":           bearer(parts[0] + "." + base64.RawURLEncoding.EncodeToString(evil) + "." + parts[2]),
		"alg none":                  bearer(base64.RawURLEncoding.EncodeToString([]byte(noneHeader)) + "." + parts[1] + "."),
		"alg HS256, known kid":      bearer(forge(hsHeader, string(payload), 32)),
		"another gatehouse's token": bearer(otherTok),
		"refresh token as bearer":   bearer(tok.Refresh),
		"garbage":                   bearer("abc"),
		"three garbage segments":    bearer("a.b.c"),
		"oversized":                 bearer(parts[0] + "." + strings.Repeat("A", 9000) + "." + parts[2]),
		"basic scheme":              {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ann:pw"))},
		"empty bearer":              {"Authorization", "Bearer "},
		"two Authorization headers": {"Authorization", "Bearer " + tok.Access, "Authorization", "Bearer " + tok.Access},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			r := call(t, "GET", a.URL+"/auth", h...)
			expect(t, r, 401, "unauthenticated")
			if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			// A refused bearer token is not "anonymous" on optional routes.
			expect(t, call(t, "GET", a.URL+"/opt", h...), 401, "unauthenticated")
		})
	}
	// The genuine token still works: the cases above were refused for
	// what they changed.
	expect(t, call(t, "GET", a.URL+"/auth", bearer(tok.Access)...), 200, "")
}

func TestOtherIssuerOrAudienceRefused(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	g.AddUser(t, "ann@example.com")
	tok := g.LoginToken(t, "ann@example.com").Access
	// Same keys and feed, but the middleware expects another issuer or
	// audience: the signature verifies, the claims must not.
	otherIss := app(t, newMiddleware(t, g, false, func(c *middleware.Config) {
		c.Issuer = "https://auth.other.example"
		c.JWKSURL = g.URL + "/.well-known/jwks.json"
		c.FeedURL = g.URL + "/v1/revocations"
	}))
	otherAud := app(t, newMiddleware(t, g, false, func(c *middleware.Config) { c.Audience = "billing" }))
	expect(t, call(t, "GET", otherIss.URL+"/auth", bearer(tok)...), 401, "unauthenticated")
	expect(t, call(t, "GET", otherAud.URL+"/auth", bearer(tok)...), 401, "unauthenticated")
	expect(t, call(t, "GET", app(t, newMiddleware(t, g, false)).URL+"/auth", bearer(tok)...), 200, "")
}

func TestExpiredTokenRefused(t *testing.T) {
	clk := newClock()
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true, Now: clk.Now})
	g.AddUser(t, "ann@example.com")
	tok := g.LoginToken(t, "ann@example.com").Access
	// Without the feed, so that moving the clock does not make the
	// revocation list stale: exp alone decides here.
	a := app(t, newMiddleware(t, g, false, func(c *middleware.Config) {
		c.FeedToken, c.AllowNoFeed, c.Now = "", true, clk.Now
	}))
	ttl := g.Config.Tokens.AccessTTL
	clk.Advance(ttl - time.Second)
	expect(t, call(t, "GET", a.URL+"/auth", bearer(tok)...), 200, "")
	clk.Advance(time.Second + token.DefaultLeeway + time.Second) // past exp and the default leeway
	expect(t, call(t, "GET", a.URL+"/auth", bearer(tok)...), 401, "unauthenticated")
}

func TestRevocationReachesTheMiddlewareWithinOneLongPoll(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	uid := g.AddUser(t, "ann@example.com")
	a := app(t, newMiddleware(t, g, true))
	ok := func(tok string) func() bool {
		return func() bool { return call(t, "GET", a.URL+"/auth", bearer(tok)...).status == 200 }
	}
	refused := func(tok string) func() bool {
		return func() bool { return call(t, "GET", a.URL+"/auth", bearer(tok)...).status == 401 }
	}

	// Logout ends that session's tokens; the other session is untouched.
	s1, s2 := g.LoginToken(t, "ann@example.com"), g.LoginToken(t, "ann@example.com")
	expect(t, call(t, "GET", a.URL+"/auth", bearer(s1.Access)...), 200, "")
	time.Sleep(200 * time.Millisecond) // the feed is now waiting in a long poll
	g.Logout(t, s1.Access)
	took := eventually(t, 5*time.Second, "logged-out token still accepted", refused(s1.Access))
	t.Logf("logout reached the middleware in %v", took)
	expect(t, call(t, "GET", a.URL+"/auth", bearer(s1.Access)...), 401, "unauthenticated")
	if !ok(s2.Access)() {
		t.Fatal("the other session's token was refused too")
	}

	// RFC 7009 revocation of one access token (its jti).
	res, _ := g.Do(t, "POST", "/v1/revoke", map[string]string{"token": s2.Access})
	if res.StatusCode != 200 {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	eventually(t, 5*time.Second, "revoked (jti) token still accepted", refused(s2.Access))

	// Force-logout of every session of the user (user not-before).
	s3 := g.LoginToken(t, "ann@example.com")
	eventually(t, 5*time.Second, "fresh token refused", ok(s3.Access))
	if _, err := g.Server.Service.RevokeSessions(context.Background(), auth.Actor{}, uid, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "force-logged-out token still accepted", refused(s3.Access))
	// A new sign-in after all that works.
	eventually(t, 5*time.Second, "new sign-in refused", ok(g.LoginToken(t, "ann@example.com").Access))
}

func TestRoleChangeTakesEffect(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	g.PutRole(t, "reader", "notes:read")
	uid := g.AddUser(t, "ann@example.com", "reader")
	a := app(t, newMiddleware(t, g, true))
	tok := g.LoginToken(t, "ann@example.com")
	expect(t, call(t, "GET", a.URL+"/write", bearer(tok.Access)...), 403, "forbidden")

	// Granting more revokes the old tokens; a refreshed one carries the
	// new permission.
	g.PutRole(t, "reader", "notes:read", "notes:write")
	eventually(t, 5*time.Second, "token with the old permissions still accepted", func() bool {
		return call(t, "GET", a.URL+"/read", bearer(tok.Access)...).status == 401
	})
	res, body := g.Do(t, "POST", "/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok.Refresh})
	if res.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", res.StatusCode, body)
	}
	var fresh struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(body, &fresh)
	eventually(t, 5*time.Second, "refreshed token cannot write", func() bool {
		return call(t, "GET", a.URL+"/write", bearer(fresh.AccessToken)...).status == 200
	})

	// Taking the role away: the token dies, and a new one grants nothing.
	g.SetRoles(t, uid)
	eventually(t, 5*time.Second, "token of a user without roles still accepted", func() bool {
		return call(t, "GET", a.URL+"/read", bearer(fresh.AccessToken)...).status == 401
	})
	expect(t, call(t, "GET", a.URL+"/read", bearer(g.LoginToken(t, "ann@example.com").Access)...), 403, "forbidden")
}

// outage wraps gatehouse so that tests can fail some of its endpoints and
// count requests to them.
type outage struct {
	feedDown, meDown atomic.Bool
	jwks, me         atomic.Int64
}

func (o *outage) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/revocations":
			if o.feedDown.Load() {
				http.Error(w, "down", http.StatusBadGateway)
				return
			}
		case "/.well-known/jwks.json":
			o.jwks.Add(1)
		case "/v1/me":
			o.me.Add(1)
			if o.meDown.Load() {
				http.Error(w, "down", http.StatusBadGateway)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func TestStaleFeedFailsClosedAndRecovers(t *testing.T) {
	var o outage
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true, Wrap: o.wrap})
	g.AddUser(t, "ann@example.com")
	s1, s2 := g.LoginToken(t, "ann@example.com"), g.LoginToken(t, "ann@example.com")
	m := newMiddleware(t, g, true, func(c *middleware.Config) { c.MaxStale = 2 * time.Second })
	a := app(t, m)
	expect(t, call(t, "GET", a.URL+"/auth", bearer(s1.Access)...), 200, "")
	if err := m.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	o.feedDown.Store(true)
	eventually(t, 10*time.Second, "stale list still trusted", func() bool {
		return call(t, "GET", a.URL+"/auth", bearer(s1.Access)...).status == 503
	})
	r := call(t, "GET", a.URL+"/auth", bearer(s1.Access)...)
	expect(t, r, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if !errors.Is(m.Ready(), middleware.ErrStale) {
		t.Fatalf("Ready: %v", m.Ready())
	}
	// Anonymous callers are still just unauthenticated; forged tokens
	// still 401.
	expect(t, call(t, "GET", a.URL+"/auth"), 401, "unauthenticated")
	expect(t, call(t, "GET", a.URL+"/auth", bearer("a.b.c")...), 401, "unauthenticated")

	// A logout during the outage is applied when the feed comes back.
	g.Logout(t, s2.Access)
	o.feedDown.Store(false)
	eventually(t, 15*time.Second, "feed did not recover", func() bool {
		return call(t, "GET", a.URL+"/auth", bearer(s1.Access)...).status == 200
	})
	expect(t, call(t, "GET", a.URL+"/auth", bearer(s2.Access)...), 401, "unauthenticated")
}

func TestUnknownKeyRefetchesJWKSRateLimited(t *testing.T) {
	var o outage
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true, Wrap: o.wrap})
	g.AddUser(t, "ann@example.com")
	clk := newClock()
	m := newMiddleware(t, g, false, func(c *middleware.Config) { c.Now, c.MaxStale = clk.Now, time.Hour })
	a := app(t, m)
	fetches := func(want int64) {
		t.Helper()
		if n := o.jwks.Load(); n != want {
			t.Fatalf("%d JWKS fetches, want %d", n, want)
		}
	}
	fetches(1) // New
	expect(t, call(t, "GET", a.URL+"/auth", bearer(g.LoginToken(t, "ann@example.com").Access)...), 200, "")
	fetches(1)

	rotate := func() string {
		t.Helper()
		info, err := g.Server.Keys.Rotate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	// A token signed by a new key: one refetch, then it verifies.
	newKid := rotate()
	tok := g.LoginToken(t, "ann@example.com").Access
	expect(t, call(t, "GET", a.URL+"/auth", bearer(tok)...), 200, "")
	fetches(2)
	expect(t, call(t, "GET", a.URL+"/auth", bearer(tok)...), 200, "")
	fetches(2)

	// Made-up key IDs: refused, and at most one fetch per 10s between them.
	junk := func(i int) []string {
		return bearer(forge(`{"alg":"EdDSA","kid":"made-up-`+string(rune('a'+i))+`","typ":"at+jwt"}`, `{"sub":"x"}`, 64))
	}
	for i := range 20 {
		expect(t, call(t, "GET", a.URL+"/auth", junk(i)...), 401, "unauthenticated")
	}
	fetches(2)
	clk.Advance(11 * time.Second)
	for i := range 20 {
		expect(t, call(t, "GET", a.URL+"/auth", junk(i)...), 401, "unauthenticated")
	}
	fetches(3)
	// A known kid with another algorithm is not a reason to refetch.
	clk.Advance(11 * time.Second)
	expect(t, call(t, "GET", a.URL+"/auth", bearer(forge(`{"alg":"HS256","kid":"`+newKid+`","typ":"at+jwt"}`, `{"sub":"x"}`, 32))...), 401, "unauthenticated")
	fetches(3)

	// The limit also delays a genuine new key until the window passes.
	expect(t, call(t, "GET", a.URL+"/auth", junk(0)...), 401, "unauthenticated")
	fetches(4)
	rotate()
	tok = g.LoginToken(t, "ann@example.com").Access
	expect(t, call(t, "GET", a.URL+"/auth", bearer(tok)...), 401, "unauthenticated")
	fetches(4)
	clk.Advance(11 * time.Second)
	expect(t, call(t, "GET", a.URL+"/auth", bearer(tok)...), 200, "")
	fetches(5)
}

func TestSessionCookie(t *testing.T) {
	var o outage
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true, Wrap: o.wrap})
	g.PutRole(t, "reader", "notes:read")
	uid := g.AddUser(t, "ann@example.com", "reader")
	var logs bytes.Buffer
	var logMu sync.Mutex
	m := newMiddleware(t, g, true, func(c *middleware.Config) {
		// A long cache: whatever ends a session here quicker than a
		// minute is the revocation feed.
		c.CookieCacheTTL = time.Minute
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	a := app(t, m)
	s := g.LoginCookie(t, "ann@example.com")
	cookie := []string{"Cookie", s.CookieHeader()}

	r := call(t, "GET", a.URL+"/auth", cookie...)
	expect(t, r, 200, "")
	u := r.user(t)
	if u.ID != uid || u.Email != "ann@example.com" || u.Source != middleware.FromCookie || u.SessionID == "" ||
		len(u.Permissions) != 1 || u.Permissions[0] != "notes:read" || u.Roles[0] != "reader" {
		t.Fatalf("cookie user %+v", u)
	}
	if v := strings.Join(r.header.Values("Vary"), ","); !strings.Contains(v, "Cookie") {
		t.Fatalf("Vary %q", v)
	}
	// Cached: more requests do not ask gatehouse again.
	asked := o.me.Load()
	for range 5 {
		expect(t, call(t, "GET", a.URL+"/read", cookie...), 200, "")
	}
	expect(t, call(t, "GET", a.URL+"/write", cookie...), 403, "forbidden")
	if o.me.Load() != asked {
		t.Fatalf("gatehouse asked %d more times, want 0", o.me.Load()-asked)
	}

	// CSRF: a cookie-authenticated write must be same-origin.
	expect(t, call(t, "POST", a.URL+"/auth", append(cookie, "Sec-Fetch-Site", "cross-site")...), 403, "csrf")
	expect(t, call(t, "POST", a.URL+"/auth", append(cookie, "Origin", "https://evil.example")...), 403, "csrf")
	expect(t, call(t, "POST", a.URL+"/opt", append(cookie, "Sec-Fetch-Site", "cross-site")...), 403, "csrf")
	expect(t, call(t, "POST", a.URL+"/auth", append(cookie, "Sec-Fetch-Site", "same-origin")...), 200, "")
	expect(t, call(t, "GET", a.URL+"/auth", append(cookie, "Sec-Fetch-Site", "cross-site")...), 200, "")
	tok := g.LoginToken(t, "ann@example.com").Access
	expect(t, call(t, "POST", a.URL+"/auth", append(bearer(tok), "Sec-Fetch-Site", "cross-site")...), 200, "")

	// A role change reaches a cached session at once (its minted token is
	// revoked, so the middleware asks again).
	g.PutRole(t, "reader", "notes:read", "notes:write")
	eventually(t, 5*time.Second, "cached cookie session kept its old permissions", func() bool {
		return call(t, "GET", a.URL+"/write", cookie...).status == 200
	})

	// gatehouse unreachable for a new cookie: 503, not 401.
	o.meDown.Store(true)
	s2 := g.LoginCookie(t, "ann@example.com")
	expect(t, call(t, "GET", a.URL+"/auth", "Cookie", s2.CookieHeader()), 503, "unavailable")
	o.meDown.Store(false)
	expect(t, call(t, "GET", a.URL+"/auth", "Cookie", s2.CookieHeader()), 200, "")

	// Logout: the cached session ends within a long-poll round.
	g.LogoutCookie(t, s)
	took := eventually(t, 5*time.Second, "logged-out cookie still accepted", func() bool {
		return call(t, "GET", a.URL+"/auth", cookie...).status == 401
	})
	t.Logf("cookie logout reached the middleware in %v", took)
	expect(t, call(t, "GET", a.URL+"/auth", cookie...), 401, "unauthenticated")
	if r := call(t, "GET", a.URL+"/opt", cookie...); r.status != 200 || !strings.Contains(string(r.body), "anonymous") {
		t.Fatalf("optional route with a dead cookie: %d %s", r.status, r.body)
	}

	logMu.Lock()
	defer logMu.Unlock()
	for _, secret := range []string{s.Cookie.Value, s2.Cookie.Value, gatehousetest.FeedToken} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a secret reached the log")
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestBadCookiesRefusedWithoutAskingGatehouse(t *testing.T) {
	var o outage
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true, Wrap: o.wrap})
	a := app(t, newMiddleware(t, g, false))
	for _, v := range []string{"not-base64url!", strings.Repeat("A", 600), "has.dot", "%41%41"} {
		expect(t, call(t, "GET", a.URL+"/auth", "Cookie", g.CookieName+"="+v), 401, "unauthenticated")
	}
	if n := o.me.Load(); n != 0 {
		t.Fatalf("gatehouse asked %d times about impossible cookies", n)
	}
	// A plausible but unknown cookie is asked about once, then cached.
	unknown := []string{"Cookie", g.CookieName + "=" + strings.Repeat("A", 43)}
	expect(t, call(t, "GET", a.URL+"/auth", unknown...), 401, "unauthenticated")
	expect(t, call(t, "GET", a.URL+"/auth", unknown...), 401, "unauthenticated")
	if n := o.me.Load(); n != 1 {
		t.Fatalf("gatehouse asked %d times, want 1", n)
	}
	// Another cookie name is not gatehouse's session.
	g.AddUser(t, "ann@example.com")
	s := g.LoginCookie(t, "ann@example.com")
	expect(t, call(t, "GET", a.URL+"/auth", "Cookie", "session="+s.Cookie.Value), 401, "unauthenticated")
	expect(t, call(t, "GET", a.URL+"/auth", "Cookie", s.CookieHeader()), 200, "")
}

func TestNewChecksConfig(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	big := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"keys":[`+strings.Repeat(" ", 2<<20)+`]}`)
	}))
	t.Cleanup(big.Close)
	cases := map[string]struct {
		mutate func(*middleware.Config)
		want   string
	}{
		"no issuer":              {func(c *middleware.Config) { c.Issuer = "" }, "Issuer"},
		"no audience":            {func(c *middleware.Config) { c.Audience = "" }, "Audience"},
		"no feed token":          {func(c *middleware.Config) { c.FeedToken = "" }, "AllowNoFeed"},
		"wrong feed token":       {func(c *middleware.Config) { c.FeedToken = "wrong-wrong-wrong-wrong-wrong-wrong" }, "401"},
		"plain http remote":      {func(c *middleware.Config) { c.Issuer = "http://auth.example.com" }, "AllowInsecureHTTP"},
		"issuer with query":      {func(c *middleware.Config) { c.Issuer = g.URL + "?x=1" }, "query"},
		"JWKS not found":         {func(c *middleware.Config) { c.JWKSURL = g.URL + "/nope" }, "404"},
		"JWKS too large":         {func(c *middleware.Config) { c.JWKSURL, c.HTTPClient = big.URL, big.Client() }, "larger"},
		"tiny MaxStale":          {func(c *middleware.Config) { c.MaxStale = time.Millisecond }, "MaxStale"},
		"bad trusted origin":     {func(c *middleware.Config) { c.TrustedOrigins = []string{"not an origin"} }, "TrustedOrigins"},
		"gatehouse unreachable":  {func(c *middleware.Config) { c.Issuer = "https://127.0.0.1:1" }, "JWKS"},
		"negative leeway":        {func(c *middleware.Config) { c.Leeway = -time.Second }, "Leeway"},
		"negative cookie TTL":    {func(c *middleware.Config) { c.CookieCacheTTL = -time.Second }, "negative"},
		"ftp issuer":             {func(c *middleware.Config) { c.Issuer = "ftp://auth.example.com" }, "http"},
		"issuer with user info":  {func(c *middleware.Config) { c.Issuer = "https://u:p@auth.example.com" }, "user info"},
		"relative issuer":        {func(c *middleware.Config) { c.Issuer = "/auth" }, "absolute"},
		"plain http remote feed": {func(c *middleware.Config) { c.FeedURL = "http://auth.example.com/v1/revocations" }, "FeedURL"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := g.MiddlewareConfig()
			tc.mutate(&cfg)
			m, err := middleware.New(context.Background(), cfg)
			if err == nil {
				m.Close()
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestAllowNoFeedTrustsTokensUntilExpiry(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	g.AddUser(t, "ann@example.com")
	a := app(t, newMiddleware(t, g, true, func(c *middleware.Config) { c.FeedToken, c.AllowNoFeed = "", true }))
	tok := g.LoginToken(t, "ann@example.com").Access
	g.Logout(t, tok)
	// This is the documented cost of running without the feed.
	time.Sleep(300 * time.Millisecond)
	expect(t, call(t, "GET", a.URL+"/auth", bearer(tok)...), 200, "")
}

func TestRunAndClose(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	m, err := middleware.New(context.Background(), g.MiddlewareConfig())
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- m.Run(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	if err := m.Run(context.Background()); err == nil {
		t.Fatal("a second Run started")
	}
	m.Close()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if err := m.Run(context.Background()); !errors.Is(err, middleware.ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	// Run also ends with its context.
	m2, err := middleware.New(context.Background(), g.MiddlewareConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { errc <- m2.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}

func TestSignInURL(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	m := newMiddleware(t, g, false)
	got := m.SignInURL("http://localhost:8081/notes?x=1")
	if got != g.URL+"/?rd="+url.QueryEscape("http://localhost:8081/notes?x=1") {
		t.Fatalf("SignInURL %q", got)
	}
	if m.SignInURL("") != g.URL+"/" {
		t.Fatalf("SignInURL empty %q", m.SignInURL(""))
	}
}

func TestCachedCookieAnswerCannotBeChangedByAHandler(t *testing.T) {
	g := gatehousetest.Start(t, gatehousetest.Options{TLS: true})
	g.PutRole(t, "reader", "notes:read")
	g.AddUser(t, "ann@example.com", "reader")
	m := newMiddleware(t, g, false)
	s := g.LoginCookie(t, "ann@example.com")
	u, err := m.VerifyCookie(context.Background(), s.Cookie.Value)
	if err != nil || len(u.Permissions) != 1 {
		t.Fatalf("VerifyCookie: %+v %v", u, err)
	}
	// Both the first answer (from gatehouse) and later ones (from the
	// cache) are the caller's own copy.
	for range 2 {
		u.Permissions[0], u.Roles[0] = "*", "admin" // a careless handler
		u, err = m.VerifyCookie(context.Background(), s.Cookie.Value)
		if err != nil || u.Can("users:delete") || u.HasRole("admin") {
			t.Fatalf("the cached answer changed: %+v %v", u, err)
		}
	}
}
