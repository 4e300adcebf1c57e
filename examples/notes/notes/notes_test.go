package notes_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/examples/notes/notes"
	"github.com/gatehouse/gatehouse/middleware"
	"github.com/gatehouse/gatehouse/middleware/gatehousetest"
)

// env is a gatehouse and the notes app using it, both on real listeners.
type env struct {
	t   *testing.T
	g   *gatehousetest.Gatehouse
	app *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	g := gatehousetest.Start(t, gatehousetest.Options{})
	g.PutRole(t, "notes-admin", notes.AdminPermission)
	m, err := middleware.New(context.Background(), g.MiddlewareConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { m.Run(context.Background()); close(done) }()
	app := httptest.NewServer(notes.NewApp(notes.Config{Middleware: m, Store: notes.NewStore()}))
	t.Cleanup(func() { app.Close(); m.Close(); <-done })
	return &env{t: t, g: g, app: app}
}

type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request to the app; body is sent as is; headers are name,
// value pairs.
func (e *env) do(method, path, body string, headers ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.app.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: string(b)}
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func want(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

func (e *env) create(tok, title string) notes.Note {
	e.t.Helper()
	r := e.do("POST", "/api/notes", `{"title":"`+title+`","body":"text of `+title+`"}`, bearer(tok)...)
	want(e.t, r, http.StatusCreated)
	var n notes.Note
	if err := json.Unmarshal([]byte(r.body), &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) list(tok string) []string {
	e.t.Helper()
	r := e.do("GET", "/api/notes", "", bearer(tok)...)
	want(e.t, r, http.StatusOK)
	var l struct{ Notes []notes.Note }
	if err := json.Unmarshal([]byte(r.body), &l); err != nil {
		e.t.Fatal(err)
	}
	var titles []string
	for _, n := range l.Notes {
		titles = append(titles, n.Title)
	}
	return titles
}

func TestUsersSeeOnlyTheirOwnNotes(t *testing.T) {
	e := newEnv(t)
	e.g.AddUser(t, "ann@example.com")
	e.g.AddUser(t, "bob@example.com")
	ann := e.g.LoginToken(t, "ann@example.com").Access
	bob := e.g.LoginToken(t, "bob@example.com").Access
	a1 := e.create(ann, "ann-1")
	e.create(bob, "bob-1")

	if got := e.list(ann); len(got) != 1 || got[0] != "ann-1" {
		t.Fatalf("ann sees %v", got)
	}
	if got := e.list(bob); len(got) != 1 || got[0] != "bob-1" {
		t.Fatalf("bob sees %v", got)
	}
	// Bob cannot read or delete Ann's note by its ID: it is "not found".
	want(t, e.do("GET", "/api/notes/"+a1.ID, "", bearer(bob)...), http.StatusNotFound)
	want(t, e.do("DELETE", "/api/notes/"+a1.ID, "", bearer(bob)...), http.StatusNotFound)
	want(t, e.do("POST", "/notes/"+a1.ID+"/delete", "", bearer(bob)...), http.StatusSeeOther)
	want(t, e.do("GET", "/api/notes/"+a1.ID, "", bearer(ann)...), http.StatusOK)
	want(t, e.do("DELETE", "/api/notes/"+a1.ID, "", bearer(ann)...), http.StatusNoContent)
	want(t, e.do("GET", "/api/notes/"+a1.ID, "", bearer(ann)...), http.StatusNotFound)
}

func TestAdminSeesAllNotes(t *testing.T) {
	e := newEnv(t)
	e.g.AddUser(t, "ann@example.com")
	e.g.AddUser(t, "boss@example.com", "notes-admin")
	ann := e.g.LoginToken(t, "ann@example.com").Access
	boss := e.g.LoginToken(t, "boss@example.com").Access
	a1 := e.create(ann, "ann-1")
	e.create(boss, "boss-1")
	if got := e.list(boss); len(got) != 2 {
		t.Fatalf("admin sees %v, want both notes", got)
	}
	if got := e.list(ann); len(got) != 1 {
		t.Fatalf("ann sees %v", got)
	}
	want(t, e.do("GET", "/api/notes/"+a1.ID, "", bearer(boss)...), http.StatusOK)
	want(t, e.do("DELETE", "/api/notes/"+a1.ID, "", bearer(boss)...), http.StatusNoContent)
	if got := e.list(ann); len(got) != 0 {
		t.Fatalf("ann's note survived the admin's delete: %v", got)
	}
}

func TestNoTokenIsUnauthorized(t *testing.T) {
	e := newEnv(t)
	for _, rq := range [][2]string{{"GET", "/api/notes"}, {"POST", "/api/notes"}, {"GET", "/api/notes/note_x"}, {"DELETE", "/api/notes/note_x"}, {"POST", "/notes"}} {
		r := e.do(rq[0], rq[1], "")
		want(t, r, http.StatusUnauthorized)
		if r.header.Get("Content-Type") != "application/problem+json" || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%v: %v %s", rq, r.header, r.body)
		}
	}
	want(t, e.do("GET", "/api/notes", "", bearer("not-a-token")...), http.StatusUnauthorized)
	// The page works anonymously and links to gatehouse's sign-in with a
	// way back.
	r := e.do("GET", "/", "")
	want(t, r, http.StatusOK)
	signIn := e.g.URL + "/?rd=" + url.QueryEscape(e.app.URL+"/")
	if !strings.Contains(r.body, `href="`+strings.ReplaceAll(signIn, "&", "&amp;")+`"`) {
		t.Fatalf("no sign-in link %q in %s", signIn, r.body)
	}
}

func TestRevokedTokenRefused(t *testing.T) {
	e := newEnv(t)
	e.g.AddUser(t, "ann@example.com")
	ann := e.g.LoginToken(t, "ann@example.com").Access
	e.create(ann, "ann-1")
	e.g.Logout(t, ann)
	deadline := time.Now().Add(5 * time.Second)
	for e.do("GET", "/api/notes", "", bearer(ann)...).status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("a logged-out token still lists notes after 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBrowserWithSessionCookie(t *testing.T) {
	e := newEnv(t)
	e.g.AddUser(t, "ann@example.com")
	s := e.g.LoginCookie(t, "ann@example.com")
	cookie := []string{"Cookie", s.CookieHeader()}

	// A same-origin form post adds a note; the page shows it, escaped.
	form := url.Values{"title": {"<b>shopping</b>"}, "body": {"milk & eggs"}}.Encode()
	post := func(path string, site string) reply {
		return e.do("POST", path, form, append(cookie, "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", site)...)
	}
	r := post("/notes", "same-origin")
	want(t, r, http.StatusSeeOther)
	r = e.do("GET", "/", "", append(cookie, "Sec-Fetch-Site", "none")...)
	want(t, r, http.StatusOK)
	if !strings.Contains(r.body, "&lt;b&gt;shopping&lt;/b&gt;") || strings.Contains(r.body, "<b>shopping") || !strings.Contains(r.body, "ann@example.com") {
		t.Fatalf("page: %s", r.body)
	}
	// A form posted from another site (CSRF) is refused.
	want(t, post("/notes", "cross-site"), http.StatusForbidden)
	want(t, post("/notes", "same-site"), http.StatusForbidden)
	if n := strings.Count(e.do("GET", "/", "", cookie...).body, "<article>"); n != 1 {
		t.Fatalf("%d notes after the refused posts, want 1", n)
	}
	// After signing out on gatehouse, the cookie no longer works.
	e.g.LogoutCookie(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for e.do("GET", "/api/notes", "", cookie...).status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("a signed-out cookie still lists notes after 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := e.do("GET", "/", "", cookie...); !strings.Contains(r.body, "Sign in") {
		t.Fatalf("page after sign-out: %s", r.body)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.g.AddUser(t, "ann@example.com")
	ann := bearer(e.g.LoginToken(t, "ann@example.com").Access)
	cases := []struct {
		body   string
		ctype  string
		status int
	}{
		{`{"title":"  ","body":"x"}`, "application/json", http.StatusUnprocessableEntity},
		{`{"title":"` + strings.Repeat("t", 201) + `"}`, "application/json", http.StatusUnprocessableEntity},
		{`{"title":"t","body":"` + strings.Repeat("b", 10001) + `"}`, "application/json", http.StatusUnprocessableEntity},
		{`{"title":"t","owner":"usr_someone_else"}`, "application/json", http.StatusBadRequest},
		{`{"title":"t"}{"title":"u"}`, "application/json", http.StatusBadRequest},
		{`not json`, "application/json", http.StatusBadRequest},
		{`{"title":"t","body":"` + strings.Repeat("b", 70000) + `"}`, "application/json", http.StatusRequestEntityTooLarge},
		{`title=t`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
	}
	for _, c := range cases {
		r := e.do("POST", "/api/notes", c.body, append(ann, "Content-Type", c.ctype)...)
		if r.status != c.status || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%.40q: %d %s, want %d", c.body, r.status, r.body, c.status)
		}
	}
	if got := e.list(ann[1][len("Bearer "):]); len(got) != 0 {
		t.Fatalf("bad input stored notes: %v", got)
	}
}
