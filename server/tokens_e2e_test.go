package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/server"
	"github.com/gatehouse/gatehouse/store"
)

// tokenEnv is an env whose revocation list never goes stale on the fake
// clock (staleness has its own test).
func tokenEnv(t *testing.T, mutate ...func(*config.Config)) *env {
	return newEnv(t, append([]func(*config.Config){func(c *config.Config) { c.Revocation.MaxStale = 0 }}, mutate...)...)
}

type pair struct {
	Access, Refresh, SessionID string
	ExpiresIn                  float64
}

func tokenLogin(t *testing.T, b *browser, email string) pair {
	t.Helper()
	r := b.do("POST", "/v1/login", map[string]string{"email": email, "password": pw, "mode": "token"})
	expect(t, r, http.StatusOK)
	return toPair(t, r)
}

func toPair(t *testing.T, r response) pair {
	t.Helper()
	m := r.json(t)
	if m["token_type"] != "Bearer" {
		t.Fatalf("token_type %v", m["token_type"])
	}
	p := pair{Access: m["access_token"].(string), ExpiresIn: m["expires_in"].(float64)}
	p.Refresh, _ = m["refresh_token"].(string)
	p.SessionID, _ = m["session_id"].(string)
	return p
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// refresh posts to the token endpoint as an OAuth client would (form body).
func refresh(e *env, tok string) response {
	e.t.Helper()
	b := e.browser("")
	return b.do("POST", "/v1/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(tok), "Content-Type", "application/x-www-form-urlencoded")
}

func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenModeLoginAndBearer(t *testing.T) {
	e := tokenEnv(t)
	e.browser("").signup("kim@example.com", pw)
	api := e.browser("")
	p := tokenLogin(t, api, "kim@example.com")
	if p.Refresh == "" || p.SessionID == "" || p.ExpiresIn != 600 {
		t.Fatalf("token response: %+v", p)
	}
	h := jwtPart(t, p.Access, 0)
	if h["typ"] != "at+jwt" || h["alg"] != "EdDSA" || h["kid"] == "" {
		t.Fatalf("header %v", h)
	}
	c := jwtPart(t, p.Access, 1)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "sid"} {
		if c[k] == nil || c[k] == "" {
			t.Errorf("claim %s missing: %v", k, c)
		}
	}
	if c["sid"] != p.SessionID || c["iss"] != "http://localhost:8080" {
		t.Fatalf("claims %v", c)
	}
	if api.sessionCookie() != nil {
		t.Fatal("token mode set a cookie")
	}
	r := api.do("GET", "/v1/me", nil, bearer(p.Access)...)
	expect(t, r, http.StatusOK)
	if r.json(t)["user"].(map[string]any)["email"] != "kim@example.com" {
		t.Fatalf("/v1/me: %s", r.body)
	}
	// Bearer requests need no CSRF token; a bearer cannot mint more tokens.
	expect(t, api.do("POST", "/v1/session/token", nil, bearer(p.Access)...), http.StatusForbidden)
	// Bad Authorization headers are refused, not ignored.
	for _, h := range []string{"Bearer", "Basic a2ltOnB3", "Bearer " + p.Access + "x", "Bearer a.b.c", "Bearer " + strings.Repeat("a", 9000)} {
		expect(t, api.do("GET", "/v1/me", nil, "Authorization", h), http.StatusUnauthorized)
	}
	// Expired: eleven minutes later the token is refused.
	e.clock.Advance(11 * time.Minute)
	expect(t, api.do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusUnauthorized)
}

func TestCookieSessionMintsAccessToken(t *testing.T) {
	e := tokenEnv(t)
	b := e.browser("")
	b.signup("lee@example.com", pw)
	expect(t, b.do("POST", "/v1/session/token", nil, "X-CSRF-Token", ""), http.StatusForbidden)
	r := b.do("POST", "/v1/session/token", nil)
	expect(t, r, http.StatusOK)
	p := toPair(t, r)
	if p.Refresh != "" {
		t.Fatal("a cookie session got a refresh token")
	}
	other := e.browser("")
	expect(t, other.do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusOK)
	// Logging the cookie session out kills the minted token too.
	expect(t, b.do("POST", "/v1/logout", nil), http.StatusNoContent)
	expect(t, other.do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusUnauthorized)
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	e := tokenEnv(t)
	e.browser("").signup("max@example.com", pw)
	p1 := tokenLogin(t, e.browser(""), "max@example.com")

	r := refresh(e, p1.Refresh)
	expect(t, r, http.StatusOK)
	p2 := toPair(t, r)
	if p2.Refresh == p1.Refresh || p2.Access == p1.Access || p2.SessionID != p1.SessionID {
		t.Fatalf("no rotation: %+v -> %+v", p1, p2)
	}
	r = refresh(e, p2.Refresh)
	expect(t, r, http.StatusOK)
	p3 := toPair(t, r)

	// Past the grace window, the spent token p2 comes back: theft.
	e.clock.Advance(11 * time.Second)
	r = refresh(e, p2.Refresh)
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("reuse answered %d %s", r.status, r.body)
	}
	// The whole session is gone: its newest refresh token and every access
	// token stop working.
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(p3.Access)...), http.StatusUnauthorized)
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(p1.Access)...), http.StatusUnauthorized)
	if r := refresh(e, p3.Refresh); r.status != http.StatusBadRequest {
		t.Fatalf("refresh after theft: %d %s", r.status, r.body)
	}
	events, err := e.srv.Service.ListAudit(context.Background(), store.AuditFilter{Type: auth.EventRefreshReuse})
	if err != nil || len(events) != 1 || events[0].SessionID != p1.SessionID {
		t.Fatalf("audit: %v %v", events, err)
	}
}

func TestOlderGenerationReuseIsTheftToo(t *testing.T) {
	e := tokenEnv(t)
	e.browser("").signup("ned@example.com", pw)
	p := tokenLogin(t, e.browser(""), "ned@example.com")
	first := p.Refresh
	for range 3 {
		r := refresh(e, p.Refresh)
		expect(t, r, http.StatusOK)
		p = toPair(t, r)
	}
	// Generation 1 is three rotations old; it is recognised as genuine.
	if r := refresh(e, first); r.status != http.StatusBadRequest {
		t.Fatalf("old token: %d", r.status)
	}
	if r := refresh(e, p.Refresh); r.status != http.StatusBadRequest {
		t.Fatal("session survived reuse of an old generation")
	}
	// A forged token for a live session is refused but revokes nothing.
	p = tokenLogin(t, e.browser(""), "ned@example.com")
	forged := p.SessionID + ".1." + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	if r := refresh(e, forged); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("forged: %d %s", r.status, r.body)
	}
	expect(t, refresh(e, p.Refresh), http.StatusOK)
}

// Two tabs refreshing with the same token at the same moment both get a
// working pair, and the session survives.
func TestConcurrentRefreshWithinGrace(t *testing.T) {
	e := tokenEnv(t)
	e.browser("").signup("oz@example.com", pw)
	p := tokenLogin(t, e.browser(""), "oz@example.com")
	const tabs = 8
	results := make([]response, tabs)
	var wg sync.WaitGroup
	for i := range tabs {
		wg.Go(func() { results[i] = refresh(e, p.Refresh) })
	}
	wg.Wait()
	var next string
	for i, r := range results {
		if r.status != http.StatusOK {
			t.Fatalf("tab %d: %d %s", i, r.status, r.body)
		}
		got := toPair(t, r)
		if next == "" {
			next = got.Refresh
		}
		if got.Refresh != next {
			t.Fatalf("tabs got different refresh tokens (a second family): %q vs %q", got.Refresh, next)
		}
		expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(got.Access)...), http.StatusOK)
	}
	// The family goes on from the shared successor.
	expect(t, refresh(e, next), http.StatusOK)
}

func TestTokenEndpointErrors(t *testing.T) {
	e := tokenEnv(t)
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"no grant type", "refresh_token=x", form, 400, "invalid_request"},
		{"unsupported grant", "grant_type=password&username=a&password=b", form, 400, "invalid_request"},
		{"other grant", "grant_type=client_credentials", form, 400, "unsupported_grant_type"},
		{"no refresh token", "grant_type=refresh_token", form, 400, "invalid_request"},
		{"garbage token", "grant_type=refresh_token&refresh_token=garbage", form, 400, "invalid_grant"},
		{"unknown session", "grant_type=refresh_token&refresh_token=ses_aaaaaaaaaaaaaaaaaaaaaaaa.1." + strings.Repeat("A", 43), form, 400, "invalid_grant"},
		{"repeated parameter", "grant_type=refresh_token&grant_type=refresh_token&refresh_token=x", form, 400, "invalid_request"},
		{"bad content type", "grant_type=refresh_token", "text/plain", 400, "invalid_request"},
		{"json body", `{"grant_type":"refresh_token","refresh_token":"garbage"}`, "application/json", 400, "invalid_grant"},
		{"huge body", "grant_type=refresh_token&refresh_token=" + strings.Repeat("a", 1<<20), form, 413, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.browser("").do("POST", "/v1/token", c.body, "Content-Type", c.ctype)
			if r.status != c.status || r.json(t)["error"] != c.code || r.json(t)["error_description"] == "" {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	// Tokens never travel in URLs.
	r := e.browser("").do("POST", "/v1/token?refresh_token=x", "grant_type=refresh_token", "Content-Type", form)
	if r.status != 400 {
		t.Fatalf("query parameters accepted: %d", r.status)
	}
}

// Every way a session ends kills its access tokens at once.
func TestRevocationKillsAccessTokens(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	if _, err := e.srv.Service.CreateUser(ctx, auth.Actor{}, "root@example.com", pw, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	admin := e.browser("")
	admin.login("root@example.com", pw)
	uid := e.browser("").signup("pat@example.com", pw)["user"].(map[string]any)["id"].(string)
	ok := func(tok string) int { return e.browser("").do("GET", "/v1/me", nil, bearer(tok)...).status }

	// Logout with the bearer token itself.
	p := tokenLogin(t, e.browser(""), "pat@example.com")
	expect(t, e.browser("").do("POST", "/v1/logout", nil, bearer(p.Access)...), http.StatusNoContent)
	if ok(p.Access) != 401 {
		t.Fatal("token survived logout")
	}
	// Revoke one session from another device.
	laptop := e.browser("")
	laptop.login("pat@example.com", pw)
	p = tokenLogin(t, e.browser(""), "pat@example.com")
	expect(t, laptop.do("DELETE", "/v1/sessions/"+p.SessionID, nil), http.StatusNoContent)
	if ok(p.Access) != 401 {
		t.Fatal("token survived session revocation")
	}
	// Admin force logout.
	p = tokenLogin(t, e.browser(""), "pat@example.com")
	expect(t, admin.do("POST", "/v1/admin/users/"+uid+"/logout", nil), http.StatusOK)
	if ok(p.Access) != 401 {
		t.Fatal("token survived force logout")
	}
	// Disabling the user.
	p = tokenLogin(t, e.browser(""), "pat@example.com")
	expect(t, admin.do("PATCH", "/v1/admin/users/"+uid, map[string]any{"disabled": true}), http.StatusOK)
	if ok(p.Access) != 401 {
		t.Fatal("token survived disabling")
	}
	// The revocations are also checked without any store lookup: the
	// verifier alone refuses them.
	if _, err := e.srv.Service.VerifyAccessToken(p.Access); err == nil {
		t.Fatal("VerifyAccessToken accepted a revoked token")
	}
}

// A revocation made by another process (here a second core on the same
// SQLite file, as `gatehouse sessions revoke` is) reaches the server
// through its feed.
func TestRevocationFromAnotherProcessArrivesByFeed(t *testing.T) {
	e := tokenEnv(t)
	uid := e.browser("").signup("quin@example.com", pw)["user"].(map[string]any)["id"].(string)
	p := tokenLogin(t, e.browser(""), "quin@example.com")
	if _, err := e.srv.Service.VerifyAccessToken(p.Access); err != nil {
		t.Fatal(err)
	}
	other, err := server.Open(context.Background(), e.cfg, server.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Service.RevokeSessions(context.Background(), auth.Actor{}, uid, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Feed.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Service.VerifyAccessToken(p.Access); err == nil {
		t.Fatal("revocation from another process did not arrive")
	}
}

func TestStaleRevocationListFailsClosed(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Revocation.MaxStale = 30 * time.Second })
	e.browser("").signup("rae@example.com", pw)
	p := tokenLogin(t, e.browser(""), "rae@example.com")
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusOK)
	e.clock.Advance(31 * time.Second) // no sync for 31s: the feed is "down"
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusServiceUnavailable)
	if err := e.srv.Feed.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusOK)
}

func TestRevokeAndIntrospect(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	if _, err := e.srv.Service.CreateUser(ctx, auth.Actor{}, "ops@example.com", pw, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	ops := tokenLogin(t, e.browser(""), "ops@example.com")
	e.browser("").signup("sam@example.com", pw)
	sam := tokenLogin(t, e.browser(""), "sam@example.com")
	form := "application/x-www-form-urlencoded"
	introspect := func(caller, tok string) response {
		return e.browser("").do("POST", "/v1/introspect", "token="+url.QueryEscape(tok), append(bearer(caller), "Content-Type", form)...)
	}
	// Needs the tokens:introspect permission.
	r := introspect(sam.Access, sam.Access)
	if r.status != http.StatusForbidden {
		t.Fatalf("non-admin introspection: %d", r.status)
	}
	r = introspect(ops.Access, sam.Access)
	expect(t, r, http.StatusOK)
	m := r.json(t)
	if m["active"] != true || m["username"] != "sam@example.com" || m["sid"] != sam.SessionID || m["token_type"] != "access_token" {
		t.Fatalf("introspection: %s", r.body)
	}
	r = introspect(ops.Access, sam.Refresh)
	if r.json(t)["active"] != true || r.json(t)["token_type"] != "refresh_token" {
		t.Fatalf("refresh introspection: %s", r.body)
	}
	for _, junk := range []string{"junk", "a.b.c", sam.Access[:len(sam.Access)-2]} {
		if r := introspect(ops.Access, junk); r.json(t)["active"] != false || len(r.json(t)) != 1 {
			t.Fatalf("junk %q: %s", junk, r.body)
		}
	}

	// RFC 7009: revoking the access token kills only it.
	revoke := func(tok string) {
		t.Helper()
		r := e.browser("").do("POST", "/v1/revoke", "token="+url.QueryEscape(tok), "Content-Type", form)
		if r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
	}
	revoke(sam.Access)
	if introspect(ops.Access, sam.Access).json(t)["active"] != false {
		t.Fatal("revoked access token still active")
	}
	r = refresh(e, sam.Refresh)
	expect(t, r, http.StatusOK)
	sam = toPair(t, r)
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(sam.Access)...), http.StatusOK)
	// Revoking the refresh token ends the session, access tokens included.
	revoke(sam.Refresh)
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(sam.Access)...), http.StatusUnauthorized)
	if r := refresh(e, sam.Refresh); r.status != http.StatusBadRequest {
		t.Fatalf("refresh after revoke: %d", r.status)
	}
	revoke("not-a-token") // unknown tokens: still 200
	// Expired access tokens are inactive.
	e.clock.Advance(11 * time.Minute)
	fresh := tokenLogin(t, e.browser(""), "ops@example.com")
	if introspect(fresh.Access, ops.Access).json(t)["active"] != false {
		t.Fatal("expired token reported active")
	}
}

func TestJWKSAndDiscoveryInterop(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			e := tokenEnv(t, func(c *config.Config) { c.Tokens.Alg = alg })
			e.browser("").signup("ty@example.com", pw)
			p := tokenLogin(t, e.browser(""), "ty@example.com")
			r := e.browser("").do("GET", "/.well-known/openid-configuration", nil)
			expect(t, r, http.StatusOK)
			meta := r.json(t)
			if meta["issuer"] != "http://localhost:8080" || meta["jwks_uri"] != "http://localhost:8080/.well-known/jwks.json" {
				t.Fatalf("discovery: %s", r.body)
			}
			r = e.browser("").do("GET", "/.well-known/jwks.json", nil)
			expect(t, r, http.StatusOK)
			for _, private := range []string{`"d"`, `"p"`, `"q"`, `"k"`} {
				if strings.Contains(string(r.body), private) {
					t.Fatalf("JWKS leaks %s: %s", private, r.body)
				}
			}
			// An independent JOSE library, given only the JWKS, verifies it.
			set, err := jwk.Parse(r.body)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.ParseString(p.Access, jwt.WithKeySet(set), jwt.WithIssuer("http://localhost:8080"), jwt.WithAudience("gatehouse"),
				jwt.WithClock(jwt.ClockFunc(e.clock.Now)))
			if err != nil {
				t.Fatalf("jwx could not verify a gatehouse token: %v", err)
			}
			if sub, _ := tok.Subject(); sub == "" {
				t.Fatal("no sub")
			}
			// And the other way: a token the independent library signs with a
			// key gatehouse does not publish — even claiming a published kid —
			// is refused.
			forged := forgeWithJWX(t, alg, jwtPart(t, p.Access, 0)["kid"].(string), jwtPart(t, p.Access, 1))
			expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(forged)...), http.StatusUnauthorized)
		})
	}
}

// forgeWithJWX signs claims with a fresh key of alg using jwx, under kid.
func forgeWithJWX(t *testing.T, alg, kid string, claims map[string]any) string {
	t.Helper()
	var raw any
	var err error
	switch alg {
	case "EdDSA":
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, kid)
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	sa, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		t.Fatalf("jwx does not know %s", alg)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "at+jwt")
	signed, err := jwt.Sign(tok, jwt.WithKey(sa, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func TestKeyRotationKeepsOldTokensUntilTheyExpire(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	if _, err := e.srv.Service.CreateUser(ctx, auth.Actor{}, "kit@example.com", pw, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	admin := e.browser("")
	admin.login("kit@example.com", pw)
	old := tokenLogin(t, e.browser(""), "kit@example.com")
	oldKid := jwtPart(t, old.Access, 0)["kid"]

	r := admin.do("POST", "/v1/admin/keys/rotate", nil)
	expect(t, r, http.StatusOK)
	newKid := r.json(t)["id"]
	if newKid == oldKid {
		t.Fatal("rotation kept the kid")
	}
	fresh := tokenLogin(t, e.browser(""), "kit@example.com")
	if jwtPart(t, fresh.Access, 0)["kid"] != newKid {
		t.Fatal("new tokens are not signed by the new key")
	}
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(old.Access)...), http.StatusOK)
	jwks := string(e.browser("").do("GET", "/.well-known/jwks.json", nil).body)
	if !strings.Contains(jwks, oldKid.(string)) || !strings.Contains(jwks, newKid.(string)) {
		t.Fatalf("JWKS should hold both keys: %s", jwks)
	}
	// Once every token of the old key has expired, it leaves the JWKS.
	e.clock.Advance(11 * time.Minute)
	if err := e.srv.Keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	jwks = string(e.browser("").do("GET", "/.well-known/jwks.json", nil).body)
	if strings.Contains(jwks, oldKid.(string)) || !strings.Contains(jwks, newKid.(string)) {
		t.Fatalf("old key still published after expiry: %s", jwks)
	}
	events, _ := e.srv.Service.ListAudit(ctx, store.AuditFilter{Type: auth.EventKeyRotated})
	if len(events) != 1 {
		t.Fatalf("rotation audit events: %v", events)
	}
}

func TestPasswordChangeEndsOtherSessionsAndTheirTokens(t *testing.T) {
	e := tokenEnv(t)
	b := e.browser("")
	b.signup("uma@example.com", pw)
	phone := tokenLogin(t, e.browser(""), "uma@example.com")
	// Wrong current password, weak new password: refused, nothing changes.
	expect(t, b.do("POST", "/v1/password", map[string]string{"current_password": "not my password", "new_password": "another good passphrase"}), http.StatusUnauthorized)
	expect(t, b.do("POST", "/v1/password", map[string]string{"current_password": pw, "new_password": "short"}), http.StatusUnprocessableEntity)
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(phone.Access)...), http.StatusOK)
	// Cross-site: refused.
	expect(t, b.do("POST", "/v1/password", map[string]string{"current_password": pw, "new_password": "another good passphrase"}, "Origin", "https://evil.example"), http.StatusForbidden)

	expect(t, b.do("POST", "/v1/password", map[string]string{"current_password": pw, "new_password": "another good passphrase"}), http.StatusNoContent)
	expect(t, b.do("GET", "/v1/me", nil), http.StatusOK)
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(phone.Access)...), http.StatusUnauthorized)
	if r := refresh(e, phone.Refresh); r.status != http.StatusBadRequest {
		t.Fatalf("refresh after password change: %d", r.status)
	}
	expect(t, e.browser("").do("POST", "/v1/login", map[string]string{"email": "uma@example.com", "password": pw}), http.StatusUnauthorized)
	e.browser("").login("uma@example.com", "another good passphrase")
}
