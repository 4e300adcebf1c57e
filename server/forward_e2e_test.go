package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
)

func forwardEnv(t *testing.T) *env {
	return tokenEnv(t, func(c *config.Config) {
		c.ForwardAuth.RedirectDomains = []string{"*.example.com"}
		c.ForwardAuth.AccessTokenHeader = "X-Gatehouse-Token"
		c.Access = config.Access{Rules: []config.RuleConfig{
			{Path: []string{"/public/"}, Allow: "public"},
			{Host: []string{"notes.example.com"}, Path: []string{"/api/"}, Methods: []string{"GET"}, Permission: "notes:read"},
			{Host: []string{"notes.example.com"}, Path: []string{"/api/"}, Permission: "notes:write"},
			{Host: []string{"*.example.com"}, Path: []string{"/"}, Allow: "authenticated"},
		}}
	})
}

// traefik asks as Traefik and Caddy do, with X-Forwarded-* headers.
func traefik(method, host, uri string, extra ...string) []string {
	return append([]string{"X-Forwarded-Method", method, "X-Forwarded-Proto", "https", "X-Forwarded-Host", host, "X-Forwarded-Uri", uri}, extra...)
}

func TestForwardAuth(t *testing.T) {
	e := forwardEnv(t)
	ctx := context.Background()
	if _, err := e.srv.Service.PutRole(ctx, auth.Actor{}, "reader", []string{"notes:read"}, ""); err != nil {
		t.Fatal(err)
	}
	uid := e.browser("").signup("vic@example.com", pw)["user"].(map[string]any)["id"].(string)
	if _, err := e.srv.Service.SetRoles(ctx, auth.Actor{}, uid, []string{"reader"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser("")
	b.login("vic@example.com", pw)
	anon := e.browser("")

	// Anonymous: public is open; an API call gets 401; a browser is sent to
	// sign in with its return URL.
	expect(t, anon.do("GET", "/v1/authz/forward", nil, traefik("GET", "a.example.com", "/public/x.css")...), http.StatusOK)
	expect(t, anon.do("GET", "/v1/authz/forward", nil, traefik("GET", "notes.example.com", "/api/notes")...), http.StatusUnauthorized)
	r := anon.do("GET", "/v1/authz/forward", nil, traefik("GET", "notes.example.com", "/page?x=1", "Accept", "text/html")...)
	if r.status != http.StatusFound || r.header.Get("Location") != "http://localhost:8080/?rd="+url.QueryEscape("https://notes.example.com/page?x=1") {
		t.Fatalf("browser redirect: %d %q", r.status, r.header.Get("Location"))
	}
	// nginx flavour: a 401 carrying the Location.
	r = anon.do("GET", "/v1/authz/forward", nil, "X-Original-URI", "/page", "X-Original-Method", "GET", "X-Forwarded-Host", "notes.example.com", "Accept", "text/html")
	if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("Location"), "rd=") {
		t.Fatalf("nginx redirect: %d %q", r.status, r.header.Get("Location"))
	}
	// A return URL on a foreign host is dropped (no open redirect).
	r = anon.do("GET", "/v1/authz/forward", nil, traefik("GET", "evil.test", "/x", "Accept", "text/html")...)
	if loc := r.header.Get("Location"); r.status == http.StatusFound && strings.Contains(loc, "evil") {
		t.Fatalf("open redirect: %q", loc)
	}

	// Signed in with notes:read: reads pass with identity headers and a
	// token for the upstream; writes are forbidden.
	r = b.do("GET", "/v1/authz/forward", nil, traefik("GET", "notes.example.com", "/api/notes")...)
	expect(t, r, http.StatusOK)
	if r.header.Get("Remote-User") != uid || r.header.Get("Remote-Email") != "vic@example.com" || r.header.Get("Remote-Groups") != "reader" {
		t.Fatalf("identity headers: %v", r.header)
	}
	tok := strings.TrimPrefix(r.header.Get("X-Gatehouse-Token"), "Bearer ")
	if c := jwtPart(t, tok, 1); c["scope"] != "notes:read" || c["sub"] != uid {
		t.Fatalf("upstream token claims: %v", c)
	}
	expect(t, b.do("GET", "/v1/authz/forward", nil, traefik("POST", "notes.example.com", "/api/notes")...), http.StatusForbidden)
	// A bearer token works the same way.
	p := tokenLogin(t, e.browser(""), "vic@example.com")
	expect(t, anon.do("GET", "/v1/authz/forward", nil, traefik("GET", "notes.example.com", "/api/notes", bearer(p.Access)...)...), http.StatusOK)
	// One spelling per host: a trailing dot or a port does not dodge a rule.
	expect(t, b.do("GET", "/v1/authz/forward", nil, traefik("POST", "notes.example.com.", "/api/notes")...), http.StatusForbidden)
	expect(t, b.do("GET", "/v1/authz/forward", nil, traefik("POST", "notes.example.com:443", "/api/notes")...), http.StatusForbidden)
	// Default deny: a host no rule covers.
	expect(t, b.do("GET", "/v1/authz/forward", nil, traefik("GET", "other.test", "/")...), http.StatusForbidden)

	// Role change takes effect on the next request, for cookie and token.
	if _, err := e.srv.Service.PutRole(ctx, auth.Actor{}, "reader", []string{"notes:read", "notes:write"}, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, b.do("GET", "/v1/authz/forward", nil, traefik("POST", "notes.example.com", "/api/notes")...), http.StatusOK)
	if _, err := e.srv.Service.SetRoles(ctx, auth.Actor{}, uid, nil); err != nil {
		t.Fatal(err)
	}
	expect(t, b.do("GET", "/v1/authz/forward", nil, traefik("GET", "notes.example.com", "/api/notes")...), http.StatusForbidden)
	expect(t, anon.do("GET", "/v1/authz/forward", nil, traefik("GET", "notes.example.com", "/api/notes", bearer(p.Access)...)...), http.StatusUnauthorized)

	// After logout, at once: 401.
	expect(t, b.do("POST", "/v1/logout", nil), http.StatusNoContent)
	expect(t, b.do("GET", "/v1/authz/forward", nil, traefik("GET", "a.example.com", "/")...), http.StatusUnauthorized)
}

func TestForwardAuthRefusesBadHeaders(t *testing.T) {
	e := forwardEnv(t)
	b := e.browser("")
	cases := map[string][]string{
		"no uri":               {"X-Forwarded-Method", "GET", "X-Forwarded-Host", "a.example.com"},
		"no method (traefik)":  {"X-Forwarded-Uri", "/x", "X-Forwarded-Host", "a.example.com"},
		"uris disagree":        {"X-Forwarded-Method", "GET", "X-Forwarded-Host", "a.example.com", "X-Forwarded-Uri", "/public/a", "X-Original-URI", "/admin"},
		"methods disagree":     {"X-Forwarded-Method", "GET", "X-Original-Method", "POST", "X-Forwarded-Host", "a.example.com", "X-Forwarded-Uri", "/x"},
		"relative uri":         traefik("GET", "a.example.com", "public/x"),
		"absolute uri":         traefik("GET", "a.example.com", "http://evil/public/x"),
		"dot segments":         traefik("GET", "a.example.com", "/public/../admin"),
		"encoded slash":        traefik("GET", "a.example.com", "/public%2f..%2fadmin"),
		"encoded dot segments": traefik("GET", "a.example.com", "/public/%2e%2e/admin"),
		"double slash":         traefik("GET", "a.example.com", "//public/x"),
		"backslash":            traefik("GET", "a.example.com", "/public\\..\\admin"),
		"bad method":           traefik("BREW", "a.example.com", "/public/x"),
		"bad proto":            {"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "gopher", "X-Forwarded-Host", "a.example.com", "X-Forwarded-Uri", "/public/x"},
		"bad host":             traefik("GET", "user@a.example.com", "/public/x"),
		"huge uri":             traefik("GET", "a.example.com", "/public/"+strings.Repeat("a", 9000)),
		"matrix parameter":     traefik("GET", "a.example.com", "/public;x=1/../admin"),
		"fragment":             traefik("GET", "a.example.com", "/admin#/public/"),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			expect(t, b.do("GET", "/v1/authz/forward", nil, h...), http.StatusBadRequest)
		})
	}
}

func TestRedirectEndpointIsNotOpen(t *testing.T) {
	e := forwardEnv(t)
	b := e.browser("")
	for rd, want := range map[string]string{
		"https://notes.example.com/x":    "https://notes.example.com/x",
		"https://evil.test/x":            "/account",
		"https://user@notes.example.com": "/account",
		"javascript:alert(1)":            "/account",
		"//evil.test":                    "/account",
		"":                               "/account",
	} {
		r := b.do("GET", "/v1/redirect?rd="+url.QueryEscape(rd), nil)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Errorf("rd=%q: %d %q, want %q", rd, r.status, r.header.Get("Location"), want)
		}
	}
}

func TestBadAccessRulesFailStartNamingTheLine(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/gatehouse.yaml"
	writeFileT(t, file, "access:\n  rules:\n    - path: /a/\n      allow: public\n    - path: /b/\n      permission: notes\n")
	_, err := parseConfig([]string{"--config", file})
	if err == nil || !strings.Contains(err.Error(), "line 5") || !strings.Contains(err.Error(), "resource:action") {
		t.Fatalf("err %v", err)
	}
	writeFileT(t, file, "access:\n  rules:\n    - path: /a/\n      allow: public\n      pathh: /x\n")
	if _, err := parseConfig([]string{"--config", file}); err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("unknown key: %v", err)
	}
	writeFileT(t, file, "access:\n  rules:\n    - path: /a/\n      allow: public\n      role: admin\n")
	if _, err := parseConfig([]string{"--config", file}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("two policies: %v", err)
	}
}

func TestRevocationFeedLongPoll(t *testing.T) {
	const feedToken = "a-feed-token-of-at-least-32-characters!"
	e := tokenEnv(t, func(c *config.Config) { c.Revocation.FeedToken = feedToken })
	b := e.browser("")
	b.signup("wes@example.com", pw)
	sid := b.do("GET", "/v1/me", nil).json(t)["session"].(map[string]any)["id"].(string)
	expect(t, e.browser("").do("GET", "/v1/revocations", nil), http.StatusUnauthorized)
	expect(t, e.browser("").do("GET", "/v1/revocations", nil, bearer("wrong-token-wrong-token-wrong-token")...), http.StatusUnauthorized)
	expect(t, e.browser("").do("GET", "/v1/revocations?after=x", nil, bearer(feedToken)...), http.StatusBadRequest)
	expect(t, e.browser("").do("GET", "/v1/revocations?wait=5m", nil, bearer(feedToken)...), http.StatusBadRequest)
	r := e.browser("").do("GET", "/v1/revocations?after=0", nil, bearer(feedToken)...)
	expect(t, r, http.StatusOK)
	start := int64(r.json(t)["seq"].(float64))

	done := make(chan response, 1)
	go func() {
		done <- e.browser("").do("GET", "/v1/revocations?after="+strconv.FormatInt(start, 10)+"&wait=20s", nil, bearer(feedToken)...)
	}()
	time.Sleep(100 * time.Millisecond) // let the poll start waiting (the test passes either way)
	expect(t, b.do("POST", "/v1/logout", nil), http.StatusNoContent)
	select {
	case r := <-done:
		expect(t, r, http.StatusOK)
		entries := r.json(t)["entries"].([]any)
		if len(entries) != 1 || entries[0].(map[string]any)["key"] != sid || entries[0].(map[string]any)["kind"] != "sid" {
			t.Fatalf("long poll: %s", r.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll did not wake on logout")
	}
	// Cache invalidations (here: an email change) move the feed's seq on
	// but never reach its clients, which know only revocation kinds.
	r = e.browser("").do("GET", "/v1/revocations?after=0", nil, bearer(feedToken)...)
	before := int64(r.json(t)["seq"].(float64))
	b2 := e.browser("")
	b2.signup("wes2@example.com", pw)
	expect(t, b2.do("PATCH", "/v1/me", map[string]any{"email": "wes3@example.com"}), http.StatusOK)
	r = e.browser("").do("GET", "/v1/revocations?after="+strconv.FormatInt(before, 10), nil, bearer(feedToken)...)
	expect(t, r, http.StatusOK)
	if seq := int64(r.json(t)["seq"].(float64)); seq <= before || len(r.json(t)["entries"].([]any)) != 0 {
		t.Fatalf("after an email change the feed said %s (want an advanced seq and no entries)", r.body)
	}
	// The feed is off without a token configured.
	expect(t, tokenEnv(t).browser("").do("GET", "/v1/revocations", nil, bearer(feedToken)...), http.StatusNotFound)
}

// Every answer a browser may render carries the security headers — API
// answers, and forward-auth's refusals and redirects, which Traefik and
// Caddy pass on to the browser; forward-auth's 200, read only by the
// proxy, goes without them. HSTS comes with TLS (the test server's).
func TestSecurityHeaders(t *testing.T) {
	e := forwardEnv(t)
	b := e.browser("")
	b.signup("sh@example.com", pw)
	anon := e.browser("")
	browserHeaders := map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "no-referrer",
		"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
	}
	check := func(name string, r response, want bool) {
		t.Helper()
		for k, v := range browserHeaders {
			if got := r.header.Get(k); want && got != v {
				t.Errorf("%s (%d): %s = %q, want %q", name, r.status, k, got, v)
			} else if !want && got != "" {
				t.Errorf("%s (%d): %s = %q, want none", name, r.status, k, got)
			}
		}
	}
	check("GET /v1/me signed in", b.do("GET", "/v1/me", nil), true)
	check("GET /v1/me anonymous", anon.do("GET", "/v1/me", nil), true)
	check("forward-auth 401", anon.do("GET", "/v1/authz/forward", nil, traefik("GET", "notes.example.com", "/api/notes")...), true)
	check("forward-auth 302", anon.do("GET", "/v1/authz/forward", nil, traefik("GET", "notes.example.com", "/page", "Accept", "text/html")...), true)
	check("forward-auth 403", b.do("GET", "/v1/authz/forward", nil, traefik("POST", "notes.example.com", "/api/notes")...), true)
	check("forward-auth 400", anon.do("GET", "/v1/authz/forward", nil, "X-Forwarded-Host", "a.example.com"), true)
	r := b.do("GET", "/v1/authz/forward", nil, traefik("GET", "a.example.com", "/dash")...)
	expect(t, r, http.StatusOK)
	check("forward-auth 200", r, false)
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Request-Id") == "" {
		t.Errorf("forward-auth 200 lost Cache-Control or X-Request-ID: %v", r.header)
	}
}
