package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/store"
)

// mailbox captures the mail a server sends.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// waitFor returns the mails sent to addr, waiting briefly: the server
// sends in the background.
func (m *mailbox) waitFor(t *testing.T, addr string, n int) []mail.Message {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		var got []mail.Message
		for _, x := range m.msgs {
			if x.To == addr {
				got = append(got, x)
			}
		}
		m.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
	}
}

var resetLink = regexp.MustCompile(`/reset#token=([A-Za-z0-9_-]+)`)

func TestPasswordReset(t *testing.T) {
	e := tokenEnv(t)
	b := e.browser("")
	b.signup("rita@example.com", pw)
	phone := tokenLogin(t, e.browser(""), "rita@example.com")

	// The same answer for an account and for nobody.
	r1 := e.browser("").do("POST", "/v1/password/forgot", map[string]string{"email": "rita@example.com"})
	r2 := e.browser("").do("POST", "/v1/password/forgot", map[string]string{"email": "nobody@example.com"})
	expect(t, r1, http.StatusAccepted)
	expect(t, r2, http.StatusAccepted)
	if string(r1.body) != string(r2.body) {
		t.Fatalf("answers differ: %s vs %s", r1.body, r2.body)
	}
	msgs := e.mail.waitFor(t, "rita@example.com", 1)
	if len(msgs) != 1 || len(e.mail.waitFor(t, "nobody@example.com", 0)) != 0 {
		t.Fatalf("mails: %+v", msgs)
	}
	m := resetLink.FindStringSubmatch(msgs[0].Text)
	if m == nil || len(m[1]) != 43 {
		t.Fatalf("no 256-bit token in the link: %q", msgs[0].Text)
	}
	tok := m[1]
	// Stored hashed: the token itself is nowhere in the store's answers.
	rs := e.srv.Store.(store.ResetTokenStore)
	if _, err := rs.ConsumeResetToken(context.Background(), []byte(tok)); err == nil {
		t.Fatal("token stored in clear")
	}
	// A weak password is refused without spending the token; junk tokens fail.
	expect(t, e.browser("").do("POST", "/v1/password/reset", map[string]string{"token": tok, "new_password": "short"}), http.StatusUnprocessableEntity)
	expect(t, e.browser("").do("POST", "/v1/password/reset", map[string]string{"token": strings.Repeat("A", 43), "new_password": "a brand new passphrase"}), http.StatusBadRequest)
	expect(t, e.browser("").do("POST", "/v1/password/reset", map[string]string{"token": tok, "new_password": "a brand new passphrase"}, "Origin", "https://evil.example"), http.StatusForbidden)
	expect(t, e.browser("").do("POST", "/v1/password/reset", map[string]string{"token": tok, "new_password": "a brand new passphrase"}), http.StatusNoContent)
	// Single use.
	expect(t, e.browser("").do("POST", "/v1/password/reset", map[string]string{"token": tok, "new_password": "yet another passphrase"}), http.StatusBadRequest)
	// Every session ended, with its tokens; the new password works.
	expect(t, b.do("GET", "/v1/me", nil), http.StatusUnauthorized)
	expect(t, e.browser("").do("GET", "/v1/me", nil, bearer(phone.Access)...), http.StatusUnauthorized)
	e.browser("").login("rita@example.com", "a brand new passphrase")

	// Expiry: a link older than 30 minutes is refused.
	expect(t, e.browser("").do("POST", "/v1/password/forgot", map[string]string{"email": "rita@example.com"}), http.StatusAccepted)
	msgs = e.mail.waitFor(t, "rita@example.com", 2)
	tok2 := resetLink.FindStringSubmatch(msgs[len(msgs)-1].Text)[1]
	e.clock.Advance(31 * time.Minute)
	expect(t, e.browser("").do("POST", "/v1/password/reset", map[string]string{"token": tok2, "new_password": "a brand new passphrase 2"}), http.StatusBadRequest)
	events, _ := e.srv.Service.ListAudit(context.Background(), store.AuditFilter{Type: auth.EventPasswordReset})
	if len(events) != 1 {
		t.Fatalf("audit: %v", events)
	}
}

func TestSensitiveActionsNeedRecentSignIn(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	if _, err := e.srv.Service.CreateUser(ctx, auth.Actor{}, "boss@example.com", pw, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	admin := e.browser("")
	admin.login("boss@example.com", pw)
	expect(t, admin.do("PUT", "/v1/admin/roles/editor", map[string]any{"permissions": []string{"notes:*"}}), http.StatusOK)
	e.clock.Advance(11 * time.Minute)
	uid := e.browser("").signup("staff@example.com", pw)["user"].(map[string]any)["id"].(string)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/v1/admin/roles/editor", map[string]any{"permissions": []string{"notes:read"}}},
		{"DELETE", "/v1/admin/roles/editor", nil},
		{"POST", "/v1/admin/keys/rotate", nil},
		{"PATCH", "/v1/admin/users/" + uid, map[string]any{"roles": []string{"admin"}}},
		{"POST", "/v1/admin/users", map[string]any{"email": "new@example.com", "password": pw, "roles": []string{"admin"}}},
	} {
		body := c.body
		r := admin.do(c.method, c.path, body)
		expect(t, r, http.StatusUnauthorized)
		if r.json(t)["type"] != "urn:gatehouse:problem:reauthentication_required" {
			t.Fatalf("%s %s: %s", c.method, c.path, r.body)
		}
	}
	if u, _ := e.srv.Service.User(ctx, uid); len(u.Roles) != 0 {
		t.Fatalf("roles changed without re-authentication: %v", u.Roles)
	}
	expect(t, admin.do("POST", "/v1/reauth", map[string]string{"password": "wrong password"}), http.StatusUnauthorized)
	expect(t, admin.do("POST", "/v1/reauth", map[string]string{"password": pw}), http.StatusOK)
	expect(t, admin.do("POST", "/v1/admin/keys/rotate", nil), http.StatusOK)
	expect(t, admin.do("DELETE", "/v1/admin/roles/editor", nil), http.StatusNoContent)
}

func TestSessionBinding(t *testing.T) {
	const chromeWin = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	for _, mode := range []string{"loose", "strict"} {
		t.Run(mode, func(t *testing.T) {
			e := tokenEnv(t, func(c *config.Config) {
				c.Session.Binding = mode
				c.TrustedProxies = []string{"127.0.0.1/32"}
			})
			b := e.browser(firefoxLinux)
			b.do("POST", "/v1/signup", map[string]string{"email": "bo@example.com", "password": pw}, "X-Forwarded-For", "198.51.100.10")
			expect(t, b.do("GET", "/v1/me", nil, "X-Forwarded-For", "198.51.100.10"), http.StatusOK)
			// Same browser, neighbouring address: loose allows, strict refuses.
			want := map[string]int{"loose": 200, "strict": 401}[mode]
			expect(t, b.do("GET", "/v1/me", nil, "X-Forwarded-For", "198.51.100.77"), want)
			// Another network: refused in both.
			expect(t, b.do("GET", "/v1/me", nil, "X-Forwarded-For", "203.0.113.5"), http.StatusUnauthorized)
			// The stolen cookie in another browser: refused.
			stolen := e.browser(chromeWin)
			stolen.c.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: "__Host-gatehouse_session", Value: b.sessionCookie().Value, Path: "/", Secure: true}})
			expect(t, stolen.do("GET", "/v1/me", nil, "X-Forwarded-For", "198.51.100.10"), http.StatusUnauthorized)
			// The owner is not signed out by the thief's attempts.
			expect(t, b.do("GET", "/v1/me", nil, "X-Forwarded-For", "198.51.100.10"), http.StatusOK)
			// Refresh tokens are bound too.
			api := e.browser(firefoxLinux)
			r := api.do("POST", "/v1/login", map[string]string{"email": "bo@example.com", "password": pw, "mode": "token"}, "X-Forwarded-For", "198.51.100.10")
			expect(t, r, http.StatusOK)
			p := toPair(t, r)
			r = e.browser(chromeWin).do("POST", "/v1/token", "grant_type=refresh_token&refresh_token="+p.Refresh, "Content-Type", "application/x-www-form-urlencoded", "X-Forwarded-For", "198.51.100.10")
			if r.status != http.StatusBadRequest {
				t.Fatalf("refresh from another browser: %d", r.status)
			}
			events, _ := e.srv.Service.ListAudit(context.Background(), store.AuditFilter{Type: auth.EventBindingMismatch})
			if len(events) < 3 {
				t.Fatalf("binding mismatches audited: %d", len(events))
			}
		})
	}
}

func TestChangeEmailNeedsRecentSignIn(t *testing.T) {
	e := tokenEnv(t)
	b := e.browser("")
	b.signup("old@example.com", pw)
	e.browser("").signup("taken@example.com", pw)
	expect(t, b.do("PATCH", "/v1/me", map[string]string{"email": "not an email"}), http.StatusUnprocessableEntity)
	expect(t, b.do("PATCH", "/v1/me", map[string]string{"email": "TAKEN@example.com"}), http.StatusConflict)
	expect(t, b.do("PATCH", "/v1/me", map[string]string{"email": "new@example.com"}, "X-CSRF-Token", ""), http.StatusForbidden)
	e.clock.Advance(11 * time.Minute)
	r := b.do("PATCH", "/v1/me", map[string]string{"email": "new@example.com"})
	expect(t, r, http.StatusUnauthorized)
	if r.json(t)["type"] != "urn:gatehouse:problem:reauthentication_required" {
		t.Fatalf("%s", r.body)
	}
	expect(t, b.do("POST", "/v1/reauth", map[string]string{"password": pw}), http.StatusOK)
	r = b.do("PATCH", "/v1/me", map[string]string{"email": " New@Example.com "})
	expect(t, r, http.StatusOK)
	if r.json(t)["email"] != "new@example.com" {
		t.Fatalf("%s", r.body)
	}
	e.browser("").login("new@example.com", pw)
	expect(t, e.browser("").do("POST", "/v1/login", map[string]string{"email": "old@example.com", "password": pw}), http.StatusUnauthorized)
}
