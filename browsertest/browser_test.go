package browsertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
)

const (
	alice     = "alice@example.com"
	alicePW   = "correct horse battery staple"
	bob       = "bob@example.com"
	bobPW     = "bob's long passphrase"
	adminMail = "admin@example.com"
	adminPW   = "an admin passphrase"
	// iPhoneUA makes the second device distinguishable in "your devices".
	iPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
)

// TestBrowser walks through gatehouse in a real browser: sign-up and
// sign-in, your devices across two isolated browser contexts, revoking
// one from the other, cross-origin attacks on the session, the cookie's
// flags as the browser stores them, the error messages of the sign-in
// page, and the admin page for an admin and for everyone else. It takes
// the screenshots in docs/screenshots along the way.
func TestBrowser(t *testing.T) {
	start := time.Now()
	b := startBrowser(t)
	gh := startGatehouse(t, func(c *config.Config) {
		c.Throttle.AccountFreeFailures = 3 // the throttling step reaches 429 quickly
		c.Throttle.IPFreeFailures = 1000   // every person here shares 127.0.0.1
		c.Throttle.BaseDelay = 40 * time.Second
	})
	evil := startAttacker(t, gh.base)
	ctx := context.Background()
	if _, err := gh.srv.Service.CreateUser(ctx, auth.Actor{}, adminMail, adminPW, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := gh.srv.Service.CreateUser(ctx, auth.Actor{}, bob, bobPW, nil); err != nil {
		t.Fatal(err)
	}

	desk := b.person("alice-desktop", gh.base, "", false)
	phone := b.person("alice-phone", gh.base, iPhoneUA, true)
	admin := b.person("admin", gh.base, "", false)
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"SignUpSignOutSignIn", func(t *testing.T) { signUpSignOutSignIn(t, desk) }},
		{"CookieFlags", func(t *testing.T) { cookieFlags(t, desk) }},
		{"SecondDeviceRevokedFromFirst", func(t *testing.T) { secondDevice(t, desk, phone) }},
		{"CrossOriginAttacksFail", func(t *testing.T) { crossOrigin(t, gh, evil, desk) }},
		{"ChangePassword", func(t *testing.T) { changePassword(t, desk, phone) }},
		{"ThrottledSignIn", func(t *testing.T) { throttled(t, phone) }},
		{"AdminRefusedForNonAdmin", func(t *testing.T) { nonAdmin(t, desk) }},
		{"AdminPage", func(t *testing.T) { adminPage(t, admin, phone, desk) }},
	}
	for _, s := range steps {
		stepStart := time.Now()
		ok := t.Run(s.name, func(t *testing.T) {
			for _, tb := range []*tab{desk, phone, admin} {
				tb.t = t // failures belong to the step
			}
			s.fn(t)
		})
		t.Logf("%-30s %v", s.name, time.Since(stepStart).Round(time.Millisecond))
		if !ok {
			break
		}
	}
	for _, tb := range []*tab{desk, phone, admin} {
		tb.t = t
		if errs := tb.pageErrors(); len(errs) > 0 {
			t.Errorf("%s: page errors (exceptions or CSP violations): %q", tb.name, errs)
		}
	}
	t.Logf("whole walk-through: %v", time.Since(start).Round(time.Millisecond))
}

// signIn fills the sign-in form with the keyboard and presses Enter.
func signIn(tb *tab, email, pw string) {
	tb.t.Helper()
	tb.open("/")
	tb.do("sign in as "+email,
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.ID("login-email"), email),
		chromedp.SendKeys(chromedp.ID("login-password"), pw+kb.Enter),
	)
}

// onAccount waits for the account page to have listed the devices.
func onAccount(tb *tab) {
	tb.t.Helper()
	tb.waitFor("the account page with this device", `location.pathname === "/account" && !!document.querySelector("#sessions li.device.current")`)
}

func signUpSignOutSignIn(t *testing.T, desk *tab) {
	desk.open("/")
	desk.do("see the sign-in page", chromedp.WaitVisible(chromedp.ID("login-form")), chromedp.WaitVisible(chromedp.ID("signup-form")))
	desk.screenshot("index")

	desk.do("sign up",
		chromedp.SendKeys(chromedp.ID("signup-email"), alice),
		chromedp.SendKeys(chromedp.ID("signup-password"), alicePW),
		chromedp.Click(chromedp.CSS("#signup-form button[type=submit]")),
	)
	onAccount(desk)
	if got := desk.text("#me-email"); got != alice {
		t.Fatalf("header shows %q, want %s", got, alice)
	}

	// Signing up twice says so.
	desk.do("sign out", chromedp.Click(chromedp.ID("logout")))
	desk.waitFor("the sign-in page", `location.pathname === "/" && !!document.querySelector("#login-form")`)
	desk.do("sign up again",
		chromedp.WaitVisible(chromedp.ID("signup-form")),
		chromedp.SendKeys(chromedp.ID("signup-email"), alice),
		chromedp.SendKeys(chromedp.ID("signup-password"), alicePW+kb.Enter),
	)
	desk.waitFor("the conflict message", `document.querySelector("#signup-message.error")?.textContent.includes("already exists")`)

	// A wrong password is a clear message, not a page change.
	signIn(desk, alice, "not the password")
	desk.waitFor("the wrong-password message", `document.querySelector("#login-message.error")?.textContent.includes("Wrong email or password")`)
	if p := eval[string](desk, `location.pathname`); p != "/" {
		t.Fatalf("after a wrong password the page is %s", p)
	}
	signIn(desk, alice, alicePW)
	onAccount(desk)
	if got := desk.text("#sessions li.device.current .badge"); got != "This device" {
		t.Fatalf("current device badge %q", got)
	}
	if got := desk.text("#sessions li.device.current .device-name"); got != "Chrome on Linux" {
		t.Fatalf("device %q, want Chrome on Linux (from the API's device field)", got)
	}
	if n := eval[int](desk, `document.querySelectorAll("#sessions li").length`); n != 1 {
		t.Fatalf("%d devices listed, want 1 (signing out ended the first session)", n)
	}
	if ip := desk.text("#sessions li.device.current .facts div:first-child dd"); ip != "127.0.0.1" {
		t.Fatalf("IP %q", ip)
	}
	// The CSRF token from /v1/me is in the forms' hidden fields.
	if tok := eval[string](desk, `document.querySelector("#password-form input[name=csrf_token]").value`); len(tok) < 32 {
		t.Fatalf("hidden csrf_token %q", tok)
	}
}

func cookieFlags(t *testing.T, desk *tab) {
	ctx, cancel := context.WithTimeout(desk.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{desk.base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cookies) != 1 {
		t.Fatalf("cookies: %d, want only the session cookie", len(res.Cookies))
	}
	c := res.Cookies[0]
	t.Logf("cookie %s: domain=%q path=%q httpOnly=%v secure=%v sameSite=%v session=%v expires=%v",
		c.Name, c.Domain, c.Path, c.HTTPOnly, c.Secure, c.SameSite, c.Session, time.Unix(int64(c.Expires), 0).UTC())
	if c.Name != "__Host-gatehouse_session" {
		t.Errorf("name %q, want the __Host- prefix", c.Name)
	}
	if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteLax {
		t.Errorf("flags: httpOnly=%v secure=%v sameSite=%q", c.HTTPOnly, c.Secure, c.SameSite)
	}
	// Host-only: the domain is the host itself, never ".localhost".
	if c.Domain != "localhost" || c.Path != "/" {
		t.Errorf("domain %q path %q, want host-only localhost and /", c.Domain, c.Path)
	}
	if len(c.Value) != 43 {
		t.Errorf("value is %d characters, want 43", len(c.Value))
	}
	if dc := eval[string](desk, `document.cookie`); dc != "" {
		t.Errorf("document.cookie = %q: the session cookie must be HttpOnly", dc)
	}
}

func secondDevice(t *testing.T, desk, phone *tab) {
	signIn(phone, alice, alicePW)
	onAccount(phone)
	phone.waitFor("two devices", `document.querySelectorAll("#sessions li").length === 2`)
	if got := phone.text("#sessions li.device.current .device-name"); got != "Safari on iOS" {
		t.Fatalf("phone device %q, want Safari on iOS", got)
	}
	phone.screenshot("account-mobile")

	desk.open("/account")
	onAccount(desk)
	desk.waitFor("two devices", `document.querySelectorAll("#sessions li").length === 2`)
	if got := desk.text("#sessions li.device:not(.current) .device-name"); got != "Safari on iOS" {
		t.Fatalf("other device %q", got)
	}
	desk.screenshot("account")
	desk.do("dark colour scheme", colorScheme("dark"))
	desk.screenshot("account-dark")
	desk.do("light colour scheme", colorScheme(""))

	// The confirmation is a modal dialog: focus starts on Cancel, Escape
	// closes it and nothing happens.
	desk.do("ask to sign out the phone",
		chromedp.Click(chromedp.CSS("#sessions li.device:not(.current) button")),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	)
	if id := eval[string](desk, `document.activeElement.id`); id != "confirm-cancel" {
		t.Errorf("focus in the dialog is on %q, want confirm-cancel", id)
	}
	desk.do("press Escape", chromedp.KeyEvent(kb.Escape))
	desk.waitFor("the dialog to close", `!document.getElementById("confirm").open`)
	if n := eval[int](desk, `document.querySelectorAll("#sessions li").length`); n != 2 {
		t.Fatalf("after Escape %d devices, want 2", n)
	}
	if txt := eval[string](desk, `document.activeElement.textContent`); txt != "Sign out" {
		t.Errorf("focus after the dialog is on %q, want the button that opened it", txt)
	}
	desk.do("sign out the phone",
		chromedp.Click(chromedp.CSS("#sessions li.device:not(.current) button")),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.Click(chromedp.ID("confirm-ok")),
	)
	desk.waitFor("one device left", `document.querySelectorAll("#sessions li").length === 1 && document.querySelector("#devices-message.ok")?.textContent.includes("signed out")`)

	// The phone's next request finds its session gone.
	if st := eval[int](phone, `fetch("/v1/me").then(r => r.status)`); st != http.StatusUnauthorized {
		t.Fatalf("the revoked device's /v1/me: %d, want 401", st)
	}
	phone.open("/account")
	phone.waitFor("the sign-in page", `location.pathname === "/" && document.querySelector("#message").textContent.includes("session has ended")`)
	onAccountStill(t, desk)
}

// onAccountStill reloads the account page and checks the session lives.
func onAccountStill(t *testing.T, tb *tab) {
	t.Helper()
	tb.open("/account")
	onAccount(tb)
	if st := eval[int](tb, `fetch("/v1/me").then(r => r.status)`); st != http.StatusOK {
		t.Fatalf("%s: /v1/me %d, want 200", tb.name, st)
	}
}

// attacker is a site on other origins that tries to act on the
// visitor's gatehouse session. It answers on two origins: crossSite
// (http://127.0.0.1:PORT, another site than localhost, so the SameSite=Lax
// cookie is not sent) and sameSite (http://localhost:PORT: same site, other
// origin, like a sibling app on another port or subdomain; the browser
// does send the cookie, so the origin check and the CSRF token must hold).
type attacker struct{ crossSite, sameSite string }

func startAttacker(t *testing.T, target string) *attacker {
	t.Helper()
	pages := map[string]string{
		// A classic CSRF: an auto-submitting form, with a guessed token.
		"/form-logout": `<form id="f" method="post" action="` + target + `/v1/logout">
			<input type="hidden" name="csrf_token" value="guessed"></form>
			<script>document.getElementById("f").submit()</script>`,
		// text/plain forms can send a body that reads as JSON.
		"/form-password": `<form id="f" method="post" enctype="text/plain" action="` + target + `/v1/password">
			<input type="hidden" name='{"current_password":"` + alicePW + `","new_password":"pwned-by-evil-site","x":"' value='"}'>
			</form><script>document.getElementById("f").submit()</script>`,
		// fetch with credentials: no-cors simple requests go out (and must
		// be refused); JSON and DELETE need a preflight that must fail.
		"/fetch": `<pre id="out"></pre><script>
			const t = ` + "`" + target + "`" + `, out = [];
			const body = JSON.stringify({current_password: "` + alicePW + `", new_password: "pwned-by-evil-site"});
			const tries = [
			  ["no-cors logout", t + "/v1/logout", {method: "POST", mode: "no-cors", credentials: "include"}],
			  ["no-cors password", t + "/v1/password", {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body}],
			  ["cors password", t + "/v1/password", {method: "POST", credentials: "include", headers: {"Content-Type": "application/json", "X-CSRF-Token": "guessed"}, body}],
			  ["cors revoke others", t + "/v1/sessions", {method: "DELETE", credentials: "include"}],
			  ["cors read me", t + "/v1/me", {credentials: "include"}],
			];
			(async () => {
			  for (const [name, url, opts] of tries) {
			    try { const r = await fetch(url, opts); out.push(name + ": " + r.type + " " + r.status); }
			    catch (e) { out.push(name + ": blocked (" + e.message + ")"); }
			  }
			  document.getElementById("out").textContent = out.join("\n");
			  document.title = "done";
			})();
			</script>`,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>evil</title>%s", p)
	}))
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	port := ln.Addr().(*net.TCPAddr).Port
	return &attacker{crossSite: fmt.Sprintf("http://127.0.0.1:%d", port), sameSite: fmt.Sprintf("http://localhost:%d", port)}
}

func crossOrigin(t *testing.T, gh *gatehouse, evil *attacker, desk *tab) {
	for _, origin := range []string{evil.crossSite, evil.sameSite} {
		sameSite := origin == evil.sameSite
		onAccountStill(t, desk)
		desk.open(origin + "/form-logout")
		desk.waitFor("the forged sign-out to be answered", `location.origin === "`+desk.base+`"`)
		desk.open(origin + "/form-password")
		desk.waitFor("the forged password change to be answered", `location.origin === "`+desk.base+`"`)
		desk.open(origin + "/fetch")
		desk.waitFor("the forged fetches", `document.title === "done"`)
		results := desk.text("#out")
		t.Logf("fetches from %s:\n%s", origin, results)
		if strings.Contains(results, "cors read me: cors 200") {
			t.Errorf("%s read /v1/me: %s", origin, results)
		}

		// What reached gatehouse was refused: cross-site without the cookie
		// (SameSite=Lax), same-site with it but by the origin check.
		hits := gh.rec.from(origin)
		paths := map[string]bool{}
		for _, h := range hits {
			t.Logf("from %s: %s %s → %d (Sec-Fetch-Site %q, cookie sent: %v)", origin, h.Method, h.Path, h.Status, h.FetchSite, h.Cookie)
			paths[h.Method+" "+h.Path] = true
			if h.Method == http.MethodGet {
				continue // reads are harmless; CORS keeps the answer from the page
			}
			if h.Status < 400 {
				t.Errorf("%s %s from %s succeeded: %d", h.Method, h.Path, origin, h.Status)
			}
			if h.Method != http.MethodPost {
				continue
			}
			wantSite := map[bool]string{false: "cross-site", true: "same-site"}[sameSite]
			if h.FetchSite != wantSite {
				t.Errorf("%s %s: Sec-Fetch-Site %q, want %s", h.Method, h.Path, h.FetchSite, wantSite)
			}
			if sameSite && (!h.Cookie || h.Status != http.StatusForbidden) {
				t.Errorf("%s %s from the same site: cookie sent %v, status %d; want the cookie refused with 403 csrf", h.Method, h.Path, h.Cookie, h.Status)
			}
			if !sameSite && h.Cookie {
				t.Errorf("%s %s from another site carried the SameSite=Lax cookie", h.Method, h.Path)
			}
		}
		for _, want := range []string{"POST /v1/logout", "POST /v1/password"} {
			if !paths[want] {
				t.Errorf("the attack %s from %s never reached gatehouse; the test proves nothing", want, origin)
			}
		}
	}

	// The session still works, and the password is unchanged.
	onAccountStill(t, desk)
	if st := login(t, desk.base, alice, "pwned-by-evil-site"); st != http.StatusUnauthorized {
		t.Fatalf("sign-in with the attacker's password: %d", st)
	}
	if st := login(t, desk.base, alice, alicePW); st != http.StatusOK {
		t.Fatalf("sign-in with the real password: %d", st)
	}
	desk.open("/account")
	onAccount(desk)
	// Clean up the session the check above made, through the UI.
	desk.do("sign out the other session", chromedp.Click(chromedp.ID("revoke-others")), chromedp.WaitVisible(chromedp.ID("confirm")), chromedp.Click(chromedp.ID("confirm-ok")))
	desk.waitFor("one device", `document.querySelectorAll("#sessions li").length === 1`)
}

// login signs in over plain HTTP (no browser) and returns the status.
func login(t *testing.T, base, email, pw string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func changePassword(t *testing.T, desk, phone *tab) {
	signIn(phone, alice, alicePW)
	onAccount(phone)
	desk.open("/account")
	onAccount(desk)
	desk.waitFor("two devices", `document.querySelectorAll("#sessions li").length === 2`)
	const newPW = "a brand new passphrase"
	// A wrong current password is a message; the session stays.
	desk.do("change password with a wrong current one",
		chromedp.SendKeys(chromedp.ID("current-password"), "wrong current password"),
		chromedp.SendKeys(chromedp.ID("new-password"), newPW),
		chromedp.SendKeys(chromedp.ID("confirm-password"), newPW+kb.Enter),
	)
	desk.waitFor("the wrong-password message", `document.querySelector("#password-message.error")?.textContent.includes("current password is wrong")`)
	desk.do("change password",
		setField("current-password", ""),
		chromedp.SendKeys(chromedp.ID("current-password"), alicePW+kb.Enter),
	)
	desk.waitFor("the success message", `document.querySelector("#password-message.ok")?.textContent.includes("Password changed") && document.querySelectorAll("#sessions li").length === 1`)
	if v := eval[string](desk, `document.getElementById("new-password").value + document.getElementById("current-password").value`); v != "" {
		t.Errorf("password fields not cleared after the change")
	}
	phone.open("/account")
	phone.waitFor("the sign-in page", `location.pathname === "/"`)
	if st := login(t, desk.base, alice, newPW); st != http.StatusOK {
		t.Fatalf("sign-in with the new password: %d", st)
	}
	// Put the old password back for the steps that follow.
	desk.do("change it back",
		chromedp.SendKeys(chromedp.ID("current-password"), newPW),
		chromedp.SendKeys(chromedp.ID("new-password"), alicePW),
		chromedp.SendKeys(chromedp.ID("confirm-password"), alicePW+kb.Enter),
	)
	desk.waitFor("the success message", `document.querySelector("#password-message.ok") !== null && document.querySelectorAll("#sessions li").length === 1`)
}

func throttled(t *testing.T, phone *tab) {
	for i := 0; i < 6; i++ {
		phone.open("/")
		phone.do("a wrong password for carol",
			chromedp.WaitVisible(chromedp.ID("login-form")),
			chromedp.SendKeys(chromedp.ID("login-email"), "carol@example.com"),
			chromedp.SendKeys(chromedp.ID("login-password"), "guess number "+fmt.Sprint(i)+kb.Enter),
		)
		phone.waitFor("an answer", `document.querySelector("#login-message.error") !== null`)
		msg := phone.text("#login-message")
		if strings.Contains(msg, "Too many failed sign-in attempts") {
			if !strings.Contains(msg, "Try again in") || !strings.Contains(msg, "second") {
				t.Fatalf("429 message without the wait: %q", msg)
			}
			if !eval[bool](phone, `document.querySelector("#login-form button[type=submit]").disabled`) {
				t.Fatal("the sign-in button stays enabled during the wait")
			}
			t.Logf("after %d wrong passwords: %q", i, msg)
			return
		}
		if !strings.Contains(msg, "Wrong email or password") {
			t.Fatalf("attempt %d: %q", i, msg)
		}
	}
	t.Fatal("never throttled")
}

func nonAdmin(t *testing.T, desk *tab) {
	desk.open("/account")
	onAccount(desk)
	if eval[bool](desk, `!document.getElementById("admin-link").hidden`) {
		t.Error("the Admin link shows for a non-admin")
	}
	desk.open("/admin")
	desk.waitFor("the refusal", `!document.getElementById("denied").hidden`)
	if eval[bool](desk, `!document.getElementById("admin-ui").hidden`) {
		t.Error("the admin sections show for a non-admin")
	}
	if st := eval[int](desk, `fetch("/v1/admin/users").then(r => r.status)`); st != http.StatusForbidden {
		t.Errorf("GET /v1/admin/users as a non-admin: %d, want 403", st)
	}
}

func adminPage(t *testing.T, admin, bobTab, desk *tab) {
	signIn(admin, adminMail, adminPW)
	onAccount(admin)
	admin.do("follow the Admin link", chromedp.WaitVisible(chromedp.ID("admin-link")), chromedp.Click(chromedp.ID("admin-link")))
	admin.waitFor("the admin page", `location.pathname === "/admin" && document.querySelectorAll("#users-body tr").length === 3 && document.querySelectorAll("#keys-body tr").length === 1 && document.querySelectorAll("#audit-body tr").length > 5 && document.querySelectorAll("#roles-body tr").length >= 1`)

	// Find alice and look at her sessions.
	admin.do("find alice",
		chromedp.SendKeys(chromedp.ID("search-email"), "ali"+kb.Enter),
	)
	admin.waitFor("one result", `document.querySelectorAll("#users-body tr").length === 1 && document.querySelector("#users-body").textContent.includes("`+alice+`")`)
	admin.do("manage alice", chromedp.Click(chromedp.CSS("#users-body tr button")))
	admin.waitFor("alice's details", `!document.getElementById("user-detail").hidden && document.getElementById("detail-title").textContent === "`+alice+`" && document.querySelectorAll("#detail-sessions tr").length === 1`)

	// A role, then give it to alice.
	admin.do("create a role",
		chromedp.SendKeys(chromedp.ID("role-name"), "editor"),
		chromedp.SendKeys(chromedp.ID("role-description"), "Writes the notes"),
		chromedp.SendKeys(chromedp.ID("role-permissions"), "notes:read, notes:write"),
		chromedp.Click(chromedp.CSS("#role-form button[type=submit]")),
	)
	admin.waitFor("the new role", `!!document.querySelector('#roles-body tr[data-role="editor"]') && !!document.getElementById("role-check-editor")`)
	admin.do("give alice the editor role",
		chromedp.Click(chromedp.ID("role-check-editor")),
		chromedp.Click(chromedp.CSS("#user-roles-form button[type=submit]")),
	)
	admin.waitFor("roles saved", `document.querySelector("#detail-message.ok")?.textContent.includes("editor")`)
	if eval[bool](admin, `!document.querySelector('#users-body tr').textContent.includes("editor")`) {
		t.Error("the users table does not show alice's new role")
	}

	// Disable bob: his sign-in is refused with a clear message.
	admin.do("find bob",
		setField("search-email", ""),
		chromedp.SendKeys(chromedp.ID("search-email"), "bob"+kb.Enter),
	)
	admin.waitFor("bob", `document.querySelectorAll("#users-body tr").length === 1 && document.querySelector("#users-body").textContent.includes("`+bob+`")`)
	admin.do("disable bob",
		chromedp.Click(chromedp.CSS("#users-body tr button")),
		chromedp.WaitVisible(chromedp.ID("detail-disable")),
	)
	admin.waitFor("bob's details", `document.getElementById("detail-title").textContent === "`+bob+`"`)
	admin.do("confirm disabling", chromedp.Click(chromedp.ID("detail-disable")), chromedp.WaitVisible(chromedp.ID("confirm")), chromedp.Click(chromedp.ID("confirm-ok")))
	admin.waitFor("bob disabled", `document.querySelector("#detail-message.ok")?.textContent.includes("disabled") && document.getElementById("detail-disable").textContent === "Enable account"`)
	signIn(bobTab, bob, bobPW)
	bobTab.waitFor("the disabled message", `document.querySelector("#login-message.error")?.textContent.includes("disabled")`)
	admin.do("enable bob", chromedp.Click(chromedp.ID("detail-disable")))
	admin.waitFor("bob enabled", `document.getElementById("detail-disable").textContent === "Disable account"`)

	// Force alice out everywhere.
	admin.do("find alice again",
		setField("search-email", ""),
		chromedp.SendKeys(chromedp.ID("search-email"), "alice"+kb.Enter),
	)
	admin.waitFor("alice", `document.querySelectorAll("#users-body tr").length === 1 && document.querySelector("#users-body").textContent.includes("`+alice+`")`)
	admin.do("force alice out",
		chromedp.Click(chromedp.CSS("#users-body tr button")),
	)
	admin.waitFor("alice's details", `document.getElementById("detail-title").textContent === "`+alice+`"`)
	admin.do("confirm", chromedp.Click(chromedp.ID("detail-logout")), chromedp.WaitVisible(chromedp.ID("confirm")), chromedp.Click(chromedp.ID("confirm-ok")))
	admin.waitFor("sessions ended", `document.querySelector("#detail-message.ok")?.textContent.includes("ended for") && document.querySelector("#detail-sessions").textContent.includes("No live sessions")`)
	desk.open("/account")
	desk.waitFor("alice signed out", `location.pathname === "/"`)

	// The audit log, filtered.
	admin.do("filter the audit log",
		setField("audit-type", "signin.failed"),
		chromedp.Click(chromedp.CSS("#audit-filter button[type=submit]")),
	)
	admin.waitFor("failed sign-ins only", `(() => { const rows = [...document.querySelectorAll("#audit-body tr")]; return rows.length > 0 && rows.every(r => r.children[1].textContent === "signin.failed"); })()`)
	admin.do("filter by user",
		setField("audit-type", ""),
		chromedp.SendKeys(chromedp.ID("audit-user"), alice+kb.Enter),
	)
	admin.waitFor("alice's events", `(() => { const rows = [...document.querySelectorAll("#audit-body tr")]; return rows.length > 3 && rows.every(r => r.children[2].textContent === "`+alice+`") && rows.some(r => r.children[1].textContent === "user.force_logout"); })()`)

	// Rotate the signing key.
	admin.do("rotate the key", chromedp.Click(chromedp.ID("keys-rotate")), chromedp.WaitVisible(chromedp.ID("confirm")), chromedp.Click(chromedp.ID("confirm-ok")))
	admin.waitFor("two keys", `document.querySelectorAll("#keys-body tr").length === 2 && document.querySelector("#keys-message.ok") !== null`)

	// Alice can sign in again after being forced out.
	signIn(desk, alice, alicePW)
	onAccount(desk)

	// The screenshot: the whole list, alice's details open.
	admin.do("show everyone",
		setField("search-email", ""),
		chromedp.Click(chromedp.CSS("#user-search button[type=submit]")),
	)
	admin.waitFor("all users", `document.querySelectorAll("#users-body tr").length === 3`)
	admin.do("manage alice", chromedp.Click(chromedp.CSS(`#users-body tr[data-user] button[aria-label="Manage `+alice+`"]`)))
	admin.waitFor("alice's details and new session", `document.getElementById("detail-title").textContent === "`+alice+`" && document.querySelector("#detail-sessions").textContent.includes("Chrome on Linux")`)
	admin.screenshot("admin")

	// The same page on a phone: tables become labelled cards.
	admin.do("phone screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	admin.waitFor("the phone layout", `getComputedStyle(document.querySelector("#users-body td")).display === "flex"`)
	admin.shoot("admin-mobile", false) // very tall: an artefact for review, not for the README
}
