package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/server"
)

const firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// clock is a settable time source shared by the server under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	mail  *mailbox
	cfg   config.Config
	srv   *server.Server
	ts    *httptest.Server
	clock *clock
}

// newEnv starts a gatehouse on a real TLS listener over a fresh SQLite file.
func newEnv(t *testing.T, mutate ...func(*config.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Store = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	cfg.SecretFile = filepath.Join(dir, "secret")
	for _, m := range mutate {
		m(&cfg)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	params := password.TestParams()
	mbox := &mailbox{}
	srv, err := server.New(context.Background(), cfg, server.Options{Now: clk.Now, PasswordParams: &params, Mailer: mbox})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ts := httptest.NewTLSServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &env{t: t, cfg: cfg, srv: srv, ts: ts, clock: clk, mail: mbox}
}

// browser is one client with its own cookie jar, like one browser profile.
type browser struct {
	e    *env
	c    *http.Client
	ua   string
	csrf string
}

func (e *env) browser(ua string) *browser {
	jar, _ := cookiejar.New(nil)
	c := e.ts.Client()
	c = &http.Client{Transport: c.Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{e: e, c: c, ua: ua}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %q", r.status, r.body)
	}
	return m
}

// do sends a request; body may be a string (sent as is) or a value (JSON).
func (b *browser) do(method, path string, body any, headers ...string) response {
	b.e.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		j, _ := json.Marshal(v)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.e.ts.URL+path, rd)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.ua != "" {
		req.Header.Set("User-Agent", b.ua)
	}
	if b.csrf != "" && method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

func expect(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if status >= 400 {
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("error content type %q, want application/problem+json", ct)
		}
		var p map[string]any
		if err := json.Unmarshal(r.body, &p); err != nil || p["detail"] == "" || p["status"] != float64(status) || !strings.HasPrefix(fmt.Sprint(p["type"]), "urn:gatehouse:problem:") {
			t.Fatalf("not a problem document: %s", r.body)
		}
	}
}

func (b *browser) signup(email, pw string) map[string]any {
	b.e.t.Helper()
	r := b.do("POST", "/v1/signup", map[string]string{"email": email, "password": pw})
	expect(b.e.t, r, http.StatusCreated)
	m := r.json(b.e.t)
	b.csrf = m["csrf_token"].(string)
	return m
}

func (b *browser) login(email, pw string) map[string]any {
	b.e.t.Helper()
	r := b.do("POST", "/v1/login", map[string]string{"email": email, "password": pw, "mode": "cookie"})
	expect(b.e.t, r, http.StatusOK)
	m := r.json(b.e.t)
	b.csrf = m["csrf_token"].(string)
	return m
}

// sessionCookie returns the raw session cookie the jar holds.
func (b *browser) sessionCookie() *http.Cookie {
	u, _ := url.Parse(b.e.ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "__Host-gatehouse_session" {
			return c
		}
	}
	return nil
}

const pw = "correct horse battery staple"

func TestSignupSetsHardenedCookieAndCSRFToken(t *testing.T) {
	e := newEnv(t)
	b := e.browser(firefoxLinux)
	r := b.do("POST", "/v1/signup", map[string]string{"email": "  Ann@Example.COM ", "password": pw})
	expect(t, r, http.StatusCreated)
	m := r.json(t)
	if got := m["user"].(map[string]any)["email"]; got != "ann@example.com" {
		t.Fatalf("email %v, want normalised ann@example.com", got)
	}
	if tok, _ := m["csrf_token"].(string); len(tok) < 32 {
		t.Fatalf("csrf_token %q too short", tok)
	}
	setCookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"__Host-gatehouse_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", setCookie, want)
		}
	}
	if strings.Contains(strings.ToLower(setCookie), "domain=") {
		t.Errorf("Set-Cookie %q has a Domain", setCookie)
	}
	token := strings.TrimPrefix(strings.SplitN(setCookie, ";", 2)[0], "__Host-gatehouse_session=")
	if len(token) != 43 {
		t.Fatalf("session token is %d characters, want 43 (256 bits base64url)", len(token))
	}
	// The store keeps only a hash: the token itself must not appear in it.
	sess, err := e.srv.Store.ListUserSessions(context.Background(), m["user"].(map[string]any)["id"].(string))
	if err != nil || len(sess) != 1 {
		t.Fatalf("sessions: %v %v", sess, err)
	}
	if bytes.Contains(sess[0].TokenHash, []byte(token)) || len(sess[0].TokenHash) != 32 {
		t.Fatalf("stored token hash looks wrong: %x", sess[0].TokenHash)
	}
	me := b.do("GET", "/v1/me", nil)
	expect(t, me, http.StatusOK)
	if me.json(t)["user"].(map[string]any)["email"] != "ann@example.com" {
		t.Fatalf("/v1/me: %s", me.body)
	}
	if !strings.Contains(me.header.Get("Vary"), "Cookie") {
		t.Errorf("/v1/me lacks Vary: Cookie")
	}
}

func TestMeWithoutCookieIs401Problem(t *testing.T) {
	e := newEnv(t)
	r := e.browser("").do("GET", "/v1/me", nil)
	expect(t, r, http.StatusUnauthorized)
	// A forged cookie is refused the same way.
	forged := e.browser("")
	forged.c.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: "__Host-gatehouse_session", Value: strings.Repeat("A", 43), Path: "/", Secure: true}})
	expect(t, forged.do("GET", "/v1/me", nil), http.StatusUnauthorized)
	junk := e.browser("")
	junk.c.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: "__Host-gatehouse_session", Value: strings.Repeat("x", 4000), Path: "/", Secure: true}})
	expect(t, junk.do("GET", "/v1/me", nil), http.StatusUnauthorized)
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestLoginMakesNewSessionEveryTime(t *testing.T) {
	e := newEnv(t)
	a := e.browser(firefoxLinux)
	first := a.signup("bob@example.com", pw)
	firstCookie := a.sessionCookie().Value
	second := a.login("BOB@example.com", pw)
	if first["session"].(map[string]any)["id"] == second["session"].(map[string]any)["id"] {
		t.Fatal("login reused the session ID")
	}
	if a.sessionCookie().Value == firstCookie {
		t.Fatal("login reused the session token (fixation)")
	}
	// A token planted before sign-in is not promoted: the planted cookie
	// stays unauthenticated after the victim signs in elsewhere.
	planted := e.browser("")
	planted.c.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: "__Host-gatehouse_session", Value: strings.Repeat("B", 43), Path: "/", Secure: true}})
	planted.login("bob@example.com", pw)
	if planted.sessionCookie().Value == strings.Repeat("B", 43) {
		t.Fatal("planted session token survived sign-in")
	}
}

func TestDevicesListAndRevoke(t *testing.T) {
	e := newEnv(t)
	laptop := e.browser(firefoxLinux)
	laptop.signup("carol@example.com", pw)
	phone := e.browser("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
	phone.login("carol@example.com", pw)
	tablet := e.browser("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36")
	tablet.login("carol@example.com", pw)

	r := laptop.do("GET", "/v1/sessions", nil)
	expect(t, r, http.StatusOK)
	list := r.json(t)["sessions"].([]any)
	if len(list) != 3 {
		t.Fatalf("got %d sessions, want 3: %s", len(list), r.body)
	}
	var phoneID string
	current := 0
	devices := map[string]bool{}
	for _, x := range list {
		s := x.(map[string]any)
		devices[s["device"].(string)] = true
		if s["current"] == true {
			current++
			if s["device"] != "Firefox on Linux" {
				t.Errorf("current device %v, want Firefox on Linux", s["device"])
			}
		}
		if s["device"] == "Safari on iOS" {
			phoneID = s["id"].(string)
		}
		for _, k := range []string{"created_at", "last_seen_at", "ip"} {
			if s[k] == "" || s[k] == nil {
				t.Errorf("session lacks %s: %v", k, s)
			}
		}
	}
	if current != 1 || phoneID == "" || !devices["Chrome on Android"] {
		t.Fatalf("current=%d phone=%q devices=%v", current, phoneID, devices)
	}

	expect(t, laptop.do("DELETE", "/v1/sessions/"+phoneID, nil), http.StatusNoContent)
	expect(t, phone.do("GET", "/v1/me", nil), http.StatusUnauthorized)
	expect(t, tablet.do("GET", "/v1/me", nil), http.StatusOK)
	// Revoking it again, or an unknown ID, is a 404.
	expect(t, laptop.do("DELETE", "/v1/sessions/"+phoneID, nil), http.StatusNotFound)

	// Another user cannot revoke carol's sessions, nor learn they exist.
	mallory := e.browser("")
	mallory.signup("mallory@example.com", pw)
	tabletID := ""
	for _, x := range laptop.do("GET", "/v1/sessions", nil).json(t)["sessions"].([]any) {
		if s := x.(map[string]any); s["device"] == "Chrome on Android" {
			tabletID = s["id"].(string)
		}
	}
	expect(t, mallory.do("DELETE", "/v1/sessions/"+tabletID, nil), http.StatusNotFound)
	expect(t, tablet.do("GET", "/v1/me", nil), http.StatusOK)

	r = laptop.do("DELETE", "/v1/sessions", nil)
	expect(t, r, http.StatusOK)
	if r.json(t)["revoked"] != float64(1) {
		t.Fatalf("revoked %s, want 1", r.body)
	}
	expect(t, tablet.do("GET", "/v1/me", nil), http.StatusUnauthorized)
	expect(t, laptop.do("GET", "/v1/me", nil), http.StatusOK)
}

func TestLogoutKillsCookieServerSide(t *testing.T) {
	e := newEnv(t)
	b := e.browser("")
	b.signup("dan@example.com", pw)
	stolen := b.sessionCookie().Value
	r := b.do("POST", "/v1/logout", nil)
	expect(t, r, http.StatusNoContent)
	if !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout did not clear the cookie: %q", r.header.Get("Set-Cookie"))
	}
	// Replay the old cookie as an attacker who copied it would.
	replay := e.browser("")
	replay.c.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: "__Host-gatehouse_session", Value: stolen, Path: "/", Secure: true}})
	expect(t, replay.do("GET", "/v1/me", nil), http.StatusUnauthorized)
}

func TestAdminForceLogout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.srv.Service.CreateUser(ctx, auth.Actor{}, "admin@example.com", pw, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	admin := e.browser("")
	admin.login("admin@example.com", pw)
	victim1, victim2 := e.browser(""), e.browser("")
	uid := victim1.signup("erin@example.com", pw)["user"].(map[string]any)["id"].(string)
	victim2.login("erin@example.com", pw)

	// A non-admin is refused and changes nothing.
	expect(t, victim1.do("POST", "/v1/admin/users/"+uid+"/logout", nil), http.StatusForbidden)
	expect(t, victim2.do("GET", "/v1/me", nil), http.StatusOK)

	r := admin.do("POST", "/v1/admin/users/"+uid+"/logout", nil)
	expect(t, r, http.StatusOK)
	if r.json(t)["revoked"] != float64(2) {
		t.Fatalf("revoked %s, want 2", r.body)
	}
	expect(t, victim1.do("GET", "/v1/me", nil), http.StatusUnauthorized)
	expect(t, victim2.do("GET", "/v1/me", nil), http.StatusUnauthorized)
	expect(t, admin.do("GET", "/v1/me", nil), http.StatusOK)
	expect(t, admin.do("POST", "/v1/admin/users/usr_nosuchuser/logout", nil), http.StatusNotFound)

	// Disabling a user ends their sessions and refuses sign-in.
	victim1.login("erin@example.com", pw)
	expect(t, admin.do("PATCH", "/v1/admin/users/"+uid, map[string]any{"disabled": true}), http.StatusOK)
	expect(t, victim1.do("GET", "/v1/me", nil), http.StatusUnauthorized)
	expect(t, victim1.do("POST", "/v1/login", map[string]string{"email": "erin@example.com", "password": pw}), http.StatusForbidden)
	// A bad role list is refused whole.
	expect(t, admin.do("PATCH", "/v1/admin/users/"+uid, map[string]any{"roles": []string{"ok", "Not OK!"}}), http.StatusUnprocessableEntity)
	u, _ := e.srv.Service.User(ctx, uid)
	if len(u.Roles) != 0 {
		t.Fatalf("roles changed by a refused request: %v", u.Roles)
	}
	r = admin.do("GET", "/v1/admin/users?email=erin", nil)
	expect(t, r, http.StatusOK)
	if users := r.json(t)["users"].([]any); len(users) != 1 || bytes.Contains(r.body, []byte("argon2")) {
		t.Fatalf("admin user list: %s", r.body)
	}
}

func TestCSRFDefences(t *testing.T) {
	e := newEnv(t)
	b := e.browser("")
	b.signup("fay@example.com", pw)
	good := b.csrf
	other := e.browser("")
	other.signup("gus@example.com", pw)

	cases := []struct {
		name    string
		headers []string
	}{
		{"no token", []string{"X-CSRF-Token", ""}},
		{"wrong token", []string{"X-CSRF-Token", "not-the-token"}},
		{"another session's token", []string{"X-CSRF-Token", other.csrf}},
		{"cross-site fetch", []string{"X-CSRF-Token", good, "Sec-Fetch-Site", "cross-site"}},
		{"cross-origin Origin", []string{"X-CSRF-Token", good, "Origin", "https://evil.example"}},
		{"same-site but other origin", []string{"X-CSRF-Token", good, "Sec-Fetch-Site", "same-site"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, b.do("POST", "/v1/logout", nil, c.headers...), http.StatusForbidden)
			expect(t, b.do("DELETE", "/v1/sessions", nil, c.headers...), http.StatusForbidden)
			expect(t, b.do("GET", "/v1/me", nil), http.StatusOK) // nothing changed
		})
	}
	// A same-origin browser request with the token works.
	expect(t, b.do("POST", "/v1/logout", nil, "Origin", e.ts.URL, "Sec-Fetch-Site", "same-origin"), http.StatusNoContent)
	// Login from another site is refused too (login CSRF).
	expect(t, e.browser("").do("POST", "/v1/login", map[string]string{"email": "gus@example.com", "password": pw}, "Origin", "https://evil.example"), http.StatusForbidden)
}

func TestBadInputGetsClearProblemsAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	b := e.browser("")
	b.signup("hal@example.com", pw)
	before, _ := e.srv.Store.CountUsers(context.Background())

	cases := []struct {
		name   string
		body   any
		ctype  string
		status int
		detail string
	}{
		{"malformed JSON", `{"email": "x@example.com", "password": `, "application/json", 400, "ends too early"},
		{"syntax error", `{"email" "x@example.com"}`, "application/json", 400, "not valid JSON"},
		{"unknown field", `{"email":"x@example.com","password":"long enough pw","admin":true}`, "application/json", 400, `"admin"`},
		{"wrong type", `{"email":"x@example.com","password":12345678}`, "application/json", 400, `"password" must be a string`},
		{"not an object", `["x@example.com"]`, "application/json", 400, "JSON object"},
		{"trailing data", `{"email":"x@example.com","password":"long enough pw"} {}`, "application/json", 400, "single JSON object"},
		{"empty body", ``, "application/json", 400, "empty"},
		{"huge body", `{"email":"x@example.com","password":"` + strings.Repeat("a", 10<<20) + `"}`, "application/json", 413, "too large"},
		{"no content type", `{"email":"x@example.com","password":"long enough pw"}`, "", 415, "application/json"},
		{"form content type", `email=x@example.com`, "application/x-www-form-urlencoded", 415, "application/json"},
		{"empty password", map[string]string{"email": "x@example.com", "password": ""}, "application/json", 422, "Password is required"},
		{"short password", map[string]string{"email": "x@example.com", "password": "short"}, "application/json", 422, "at least 8"},
		{"too long password", map[string]string{"email": "x@example.com", "password": strings.Repeat("é", 1025)}, "application/json", 422, "1024"},
		{"common password", map[string]string{"email": "x@example.com", "password": "Password123"}, "application/json", 422, "common"},
		{"bad email", map[string]string{"email": "not an email", "password": pw}, "application/json", 422, "valid email"},
		{"email with name", map[string]string{"email": "X <x@example.com>", "password": pw}, "application/json", 422, "valid email"},
		{"empty email", map[string]string{"email": "", "password": pw}, "application/json", 422, "Email is required"},
		{"duplicate", map[string]string{"email": "HAL@example.com", "password": pw}, "application/json", 409, "already exists"},
		{"bad mode", map[string]string{"email": "x@example.com", "password": pw, "mode": "magic"}, "application/json", 422, "mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if s, ok := c.body.(string); ok {
				body = []byte(s)
			} else {
				body, _ = json.Marshal(c.body)
			}
			r := e.browser("").do("POST", "/v1/signup", body, "Content-Type", c.ctype)
			expect(t, r, c.status)
			if d := r.json(t)["detail"].(string); !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q does not mention %q", d, c.detail)
			}
		})
	}
	after, _ := e.srv.Store.CountUsers(context.Background())
	if after != before {
		t.Fatalf("bad signups wrote users: %d -> %d", before, after)
	}
	// Routing errors are problems too.
	expect(t, b.do("GET", "/v1/nothing-here", nil), http.StatusNotFound)
	r := b.do("PUT", "/v1/me", nil)
	expect(t, r, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") == "" {
		t.Error("405 without Allow header")
	}
}

func TestLoginThrottlingAndSameAnswerForUnknownEmail(t *testing.T) {
	e := newEnv(t)
	e.browser("").signup("ivy@example.com", pw)
	b := e.browser("")
	wrong := b.do("POST", "/v1/login", map[string]string{"email": "ivy@example.com", "password": "wrong password!"})
	unknown := b.do("POST", "/v1/login", map[string]string{"email": "nobody@example.com", "password": "wrong password!"})
	expect(t, wrong, http.StatusUnauthorized)
	expect(t, unknown, http.StatusUnauthorized)
	if wrong.json(t)["detail"] != unknown.json(t)["detail"] {
		t.Fatalf("unknown email and wrong password differ: %s vs %s", wrong.body, unknown.body)
	}
	for range 4 { // five failures for ivy in all
		expect(t, b.do("POST", "/v1/login", map[string]string{"email": "ivy@example.com", "password": "wrong password!"}), http.StatusUnauthorized)
	}
	r := b.do("POST", "/v1/login", map[string]string{"email": "ivy@example.com", "password": pw})
	expect(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Not locked out for good: once the delay passes, the owner gets in.
	e.clock.Advance(2 * time.Second)
	b.login("ivy@example.com", pw)
}

func TestIdleAndAbsoluteExpiry(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Session.IdleTimeout = time.Hour
		c.Session.AbsoluteLifetime = 3 * time.Hour
	})
	ctx := context.Background()
	b := e.browser("")
	uid := b.signup("jo@example.com", pw)["user"].(map[string]any)["id"].(string)
	lastSeen := func() time.Time {
		s, err := e.srv.Store.ListUserSessions(ctx, uid)
		if err != nil || len(s) != 1 {
			t.Fatalf("sessions: %v %v", s, err)
		}
		return s[0].LastSeenAt
	}
	start := lastSeen()
	e.clock.Advance(30 * time.Second)
	expect(t, b.do("GET", "/v1/me", nil), http.StatusOK)
	if !lastSeen().Equal(start) {
		t.Fatal("last-seen written twice within a minute")
	}
	e.clock.Advance(31 * time.Second)
	expect(t, b.do("GET", "/v1/me", nil), http.StatusOK)
	if !lastSeen().After(start) {
		t.Fatal("last-seen not renewed after a minute")
	}
	// Use keeps it alive past the idle timeout…
	for range 3 {
		e.clock.Advance(50 * time.Minute)
		expect(t, b.do("GET", "/v1/me", nil), http.StatusOK)
	}
	// …but not past the absolute lifetime.
	e.clock.Advance(40 * time.Minute)
	expect(t, b.do("GET", "/v1/me", nil), http.StatusUnauthorized)

	// Idle timeout: a fresh session left unused for over an hour dies.
	b.login("jo@example.com", pw)
	e.clock.Advance(61 * time.Minute)
	expect(t, b.do("GET", "/v1/me", nil), http.StatusUnauthorized)

	// The sweeper removes both dead sessions.
	n, err := e.srv.Service.SweepExpired(ctx)
	if err != nil || n != 2 {
		t.Fatalf("swept %d (%v), want 2", n, err)
	}
}

func TestHealthAndUI(t *testing.T) {
	e := newEnv(t)
	b := e.browser("")
	expect(t, b.do("GET", "/healthz", nil), http.StatusOK)
	expect(t, b.do("GET", "/readyz", nil), http.StatusOK)
	for _, p := range []string{"/", "/account", "/admin"} {
		r := b.do("GET", p, nil)
		expect(t, r, http.StatusOK)
		if !strings.Contains(string(r.body), "<form") && !strings.Contains(string(r.body), "<table") {
			t.Errorf("%s is not a page: %.200s", p, r.body)
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s CSP %q", p, csp)
		}
	}
	expect(t, b.do("GET", "/static/app.js", nil), http.StatusOK)
}

func writeFileT(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// parseConfig parses serve's flags as the command line does.
func parseConfig(args []string) (config.Config, error) {
	cfg := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := config.Flags(fs, &cfg, true).Parse(args, func(string) string { return "" })
	return cfg, err
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	b := e.browser("")
	b.signup("mo@example.com", pw)
	expect(t, b.do("POST", "/v1/login", map[string]string{"email": "mo@example.com", "password": "wrong password!"}), http.StatusUnauthorized)
	expect(t, b.do("GET", "/v1/me", nil), http.StatusOK)
	expect(t, b.do("POST", "/v1/logout", nil), http.StatusNoContent)
	r := b.do("GET", "/metrics", nil)
	expect(t, r, http.StatusOK)
	body := string(r.body)
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="GET /v1/me",status="200"} 1`,
		`gatehouse_http_requests_total{method="POST",route="POST /v1/login",status="401"} 1`,
		`gatehouse_signins_total{result="ok"} 1`,
		`gatehouse_signins_total{result="failed"} 1`,
		`gatehouse_revocations_total{kind="sid"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{route="GET /v1/me"`,
		"gatehouse_password_hash_queue_depth 0",
		"gatehouse_revocation_feed_lag_seconds",
		"gatehouse_revocation_list_entries 1",
		"gatehouse_sessions_active 0", // the one session (sign-up) was signed out
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	e.browser("").login("mo@example.com", pw)
	e.browser("").login("mo@example.com", pw)
	if body := string(b.do("GET", "/metrics", nil).body); !strings.Contains(body, "gatehouse_sessions_active 2") {
		t.Error("active sessions not counted")
	}
	// Unmatched paths share one label: no label per raw path.
	b.do("GET", "/no/such/path/1", nil)
	b.do("GET", "/no/such/path/2", nil)
	if body := string(b.do("GET", "/metrics", nil).body); strings.Contains(body, "/no/such") || !strings.Contains(body, `route="unmatched",status="404"} 2`) {
		t.Errorf("unmatched routes leak into labels")
	}
}

func TestClientIPFromTrustedProxiesOnly(t *testing.T) {
	// Without trusted proxies, X-Forwarded-For is ignored.
	e := newEnv(t)
	b := e.browser("")
	b.do("POST", "/v1/signup", map[string]string{"email": "ip@example.com", "password": pw}, "X-Forwarded-For", "203.0.113.9")
	list := b.do("GET", "/v1/sessions", nil).json(t)["sessions"].([]any)
	if ip := list[0].(map[string]any)["ip"]; ip != "127.0.0.1" {
		t.Fatalf("untrusted X-Forwarded-For believed: %v", ip)
	}
	// With the loopback proxy trusted, the rightmost untrusted hop wins;
	// a client-supplied leftmost entry cannot override it.
	e = newEnv(t, func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.0/8", "10.0.0.0/8"} })
	b = e.browser("")
	b.do("POST", "/v1/signup", map[string]string{"email": "ip@example.com", "password": pw}, "X-Forwarded-For", "1.2.3.4, 198.51.100.7, 10.0.0.5")
	list = b.do("GET", "/v1/sessions", nil, "X-Forwarded-For", "198.51.100.7").json(t)["sessions"].([]any)
	if ip := list[0].(map[string]any)["ip"]; ip != "198.51.100.7" {
		t.Fatalf("client IP %v, want 198.51.100.7", ip)
	}
	if _, err := parseConfig([]string{"--trusted-proxies", "not-an-ip"}); err == nil {
		t.Fatal("bad proxy accepted")
	}
}
