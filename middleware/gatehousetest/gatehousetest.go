// Package gatehousetest starts a real gatehouse inside a test, over a real
// loopback listener, for tests of apps that use the middleware package:
// the whole server (SQLite store in a temporary directory, keys, sessions,
// revocation feed), with cheap password hashing so that sign-ins are fast.
//
//	g := gatehousetest.Start(t, gatehousetest.Options{})
//	g.AddUser(t, "ann@example.com")
//	m, err := middleware.New(ctx, g.MiddlewareConfig())
//	tok := g.LoginToken(t, "ann@example.com").Access
package gatehousetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/middleware"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/server"
)

// Password is the password of every user AddUser creates.
const Password = "correct horse battery staple"

// FeedToken is the revocation-feed token the test gatehouse accepts.
const FeedToken = "gatehousetest-feed-token-0123456789abcdef"

// Options adjust the test gatehouse.
type Options struct {
	// TLS serves https with httptest's certificate (Client trusts it) and
	// a Secure __Host- session cookie; otherwise plain http with the
	// gatehouse_session cookie (--cookie-secure=false).
	TLS bool
	// Now is gatehouse's clock; default time.Now.
	Now func() time.Time
	// Configure may change the configuration before the server is built
	// (access rules, token lifetime, …). PublicURL is already the
	// listener's URL.
	Configure func(*config.Config)
	// Wrap, if set, wraps gatehouse's handler: to count requests or to
	// simulate an outage of one endpoint.
	Wrap func(http.Handler) http.Handler
}

// Gatehouse is a running test gatehouse. Close happens at test cleanup.
type Gatehouse struct {
	// URL is the base URL, also the token issuer (PublicURL).
	URL string
	// CookieName is the session cookie's name.
	CookieName string
	// Server is the gatehouse itself, for direct use of its service.
	Server *server.Server
	// Config is the configuration it runs with.
	Config config.Config

	ts *httptest.Server
}

// Start builds and starts a gatehouse; it is closed when the test ends.
func Start(tb testing.TB, opts Options) *Gatehouse {
	tb.Helper()
	dir := tb.TempDir()
	ts := httptest.NewUnstartedServer(nil)
	scheme := "http"
	if opts.TLS {
		scheme = "https"
	}
	cfg := config.Default()
	cfg.Store = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	cfg.SecretFile = filepath.Join(dir, "gatehouse.secret")
	cfg.PublicURL = scheme + "://" + ts.Listener.Addr().String()
	cfg.CookieSecure = opts.TLS
	cfg.Revocation.FeedToken = FeedToken
	// One instance: its own revocations apply at once, and nothing runs
	// its store feed, so its list must not go stale.
	cfg.Revocation.MaxStale = 0
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	params := password.TestParams()
	srv, err := server.New(context.Background(), cfg, server.Options{Now: opts.Now, PasswordParams: &params})
	if err != nil {
		ts.Close()
		tb.Fatalf("gatehousetest: start gatehouse: %v", err)
	}
	h := srv.Handler()
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	ts.Config.Handler = h
	if opts.TLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	g := &Gatehouse{URL: ts.URL, Server: srv, Config: cfg, ts: ts}
	switch {
	case cfg.CookieSecure && cfg.CookieDomain != "":
		g.CookieName = "__Secure-gatehouse_session"
	case cfg.CookieSecure:
		g.CookieName = "__Host-gatehouse_session"
	default:
		g.CookieName = "gatehouse_session"
	}
	tb.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return g
}

// Client is an HTTP client for the gatehouse (it trusts the test TLS
// certificate); it keeps no cookies and follows no redirects.
func (g *Gatehouse) Client() *http.Client {
	c := g.ts.Client()
	return &http.Client{Transport: c.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// MiddlewareConfig is a middleware.Config for this gatehouse, with the
// feed token.
func (g *Gatehouse) MiddlewareConfig() middleware.Config {
	return middleware.Config{
		Issuer:     g.URL,
		Audience:   g.Config.Tokens.Audience,
		FeedToken:  FeedToken,
		HTTPClient: g.Client(),
		CookieName: g.CookieName,
	}
}

// AddUser creates a user with Password and the roles, and returns its ID.
func (g *Gatehouse) AddUser(tb testing.TB, email string, roles ...string) string {
	tb.Helper()
	u, err := g.Server.Service.CreateUser(context.Background(), auth.Actor{}, email, Password, roles)
	if err != nil {
		tb.Fatalf("gatehousetest: add user %s: %v", email, err)
	}
	return u.ID
}

// SetRoles replaces a user's roles; their tokens issued before are revoked.
func (g *Gatehouse) SetRoles(tb testing.TB, userID string, roles ...string) {
	tb.Helper()
	if _, err := g.Server.Service.SetRoles(context.Background(), auth.Actor{}, userID, roles); err != nil {
		tb.Fatalf("gatehousetest: set roles: %v", err)
	}
}

// PutRole defines a role and the permissions it grants; tokens of its
// holders issued before are revoked.
func (g *Gatehouse) PutRole(tb testing.TB, name string, permissions ...string) {
	tb.Helper()
	if _, err := g.Server.Service.PutRole(context.Background(), auth.Actor{}, name, permissions, ""); err != nil {
		tb.Fatalf("gatehousetest: put role %s: %v", name, err)
	}
}

// Tokens is what a token-mode sign-in returns.
type Tokens struct {
	Access, Refresh, SessionID string
}

// LoginToken signs in with Password in token mode.
func (g *Gatehouse) LoginToken(tb testing.TB, email string) Tokens {
	tb.Helper()
	res, body := g.Do(tb, "POST", "/v1/login", map[string]string{"email": email, "password": Password, "mode": "token"})
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("gatehousetest: token login %s: %d %s", email, res.StatusCode, body)
	}
	var t struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		SessionID    string `json:"session_id"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		tb.Fatalf("gatehousetest: token login answer: %v", err)
	}
	return Tokens{Access: t.AccessToken, Refresh: t.RefreshToken, SessionID: t.SessionID}
}

// Session is a browser sign-in: the session cookie and its CSRF token.
type Session struct {
	Cookie *http.Cookie
	CSRF   string
}

// LoginCookie signs in with Password in cookie mode.
func (g *Gatehouse) LoginCookie(tb testing.TB, email string) Session {
	tb.Helper()
	res, body := g.Do(tb, "POST", "/v1/login", map[string]string{"email": email, "password": Password})
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("gatehousetest: cookie login %s: %d %s", email, res.StatusCode, body)
	}
	var s Session
	for _, c := range res.Cookies() {
		if c.Name == g.CookieName {
			s.Cookie = c
		}
	}
	var m struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(body, &m); err != nil || s.Cookie == nil || m.CSRF == "" {
		tb.Fatalf("gatehousetest: cookie login gave no %s cookie or CSRF token: %s", g.CookieName, body)
	}
	s.CSRF = m.CSRF
	return s
}

// Logout ends the session of an access token (POST /v1/logout).
func (g *Gatehouse) Logout(tb testing.TB, access string) {
	tb.Helper()
	res, body := g.Do(tb, "POST", "/v1/logout", nil, "Authorization", "Bearer "+access)
	if res.StatusCode != http.StatusNoContent {
		tb.Fatalf("gatehousetest: logout: %d %s", res.StatusCode, body)
	}
}

// LogoutCookie ends a browser session (POST /v1/logout with its CSRF token).
func (g *Gatehouse) LogoutCookie(tb testing.TB, s Session) {
	tb.Helper()
	res, body := g.Do(tb, "POST", "/v1/logout", nil, "Cookie", s.Cookie.Name+"="+s.Cookie.Value, "X-CSRF-Token", s.CSRF)
	if res.StatusCode != http.StatusNoContent {
		tb.Fatalf("gatehousetest: logout: %d %s", res.StatusCode, body)
	}
}

// Do sends a request to the gatehouse: body, when not nil, as JSON;
// headers as name, value pairs. It returns the response (body closed) and
// its body.
func (g *Gatehouse) Do(tb testing.TB, method, path string, body any, headers ...string) (*http.Response, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := g.Client().Do(req)
	if err != nil {
		tb.Fatalf("gatehousetest: %s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("gatehousetest: %s %s: %v", method, path, err)
	}
	return res, data
}

// CookieHeader is the Cookie header value a browser would send for s.
func (s Session) CookieHeader() string {
	return s.Cookie.Name + "=" + s.Cookie.Value
}
