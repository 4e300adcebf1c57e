package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/web"
)

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPagesServedWithStrictCSP checks every page and asset carries the
// page CSP, and that the CSP has no way to run inline code.
func TestPagesServedWithStrictCSP(t *testing.T) {
	h := web.Handler()
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `data-page="index"`},
		{"/account", "text/html", `data-page="account"`},
		{"/admin", "text/html", `data-page="admin"`},
		{"/static/app.js", "javascript", "const gh"},
		{"/static/index.js", "javascript", "afterSignIn"},
		{"/static/account.js", "javascript", "renderSessions"},
		{"/static/admin.js", "javascript", "loadAudit"},
		{"/static/style.css", "text/css", ":root"},
		{"/static/icon.svg", "image/svg+xml", "<svg"},
	} {
		res := get(t, h, tc.path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, tc.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.ctype)
		}
		if b := body(t, res); !strings.Contains(b, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if csp != web.PageCSP {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
		if res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", tc.path, res.Header.Get("Cache-Control"))
		}
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} {
		if strings.Contains(web.PageCSP, bad) {
			t.Errorf("PageCSP allows %s", bad)
		}
	}
	for _, want := range []string{"script-src 'self'", "default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(web.PageCSP, want) {
			t.Errorf("PageCSP lacks %s", want)
		}
	}
}

func TestNoDirectoryListingOrUnknownFiles(t *testing.T) {
	h := web.Handler()
	for _, p := range []string{"/static/", "/static/nope.js", "/static/../web.go"} {
		res := get(t, h, p)
		if res.StatusCode == http.StatusOK {
			t.Errorf("GET %s: 200, want an error; body %q", p, body(t, res))
		}
	}
}

var (
	reTag         = regexp.MustCompile(`(?is)<(input|textarea|select)\b[^>]*>`)
	reAttr        = regexp.MustCompile(`(?i)\b(id|type|hidden)(?:="([^"]*)")?`)
	reLabelFor    = regexp.MustCompile(`(?i)<label\b[^>]*\bfor="([^"]+)"`)
	reInlineEvent = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	reStyleAttr   = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	reScript      = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	reAsset       = regexp.MustCompile(`(?i)(?:src|href)="(/static/[^"]+)"`)
	reExternal    = regexp.MustCompile(`(?i)(?:src|href|action)="(?:https?:)?//`)
)

// TestPagesAreAccessibleAndInlineFree reads the HTML: every visible
// field has a <label for>, nothing inline can run or style, every asset
// is embedded, nothing comes from another origin, and no form could
// fall back to a GET that puts a password in the URL.
func TestPagesAreAccessibleAndInlineFree(t *testing.T) {
	static := os.DirFS("static")
	htmls, _ := fs.Glob(static, "*.html")
	if len(htmls) != 4 {
		t.Fatalf("pages: %v", htmls)
	}
	for _, name := range htmls {
		b, err := fs.ReadFile(static, name)
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		labels := map[string]bool{}
		for _, m := range reLabelFor.FindAllStringSubmatch(page, -1) {
			labels[m[1]] = true
		}
		for _, tag := range reTag.FindAllString(page, -1) {
			attrs := map[string]string{}
			for _, a := range reAttr.FindAllStringSubmatch(tag, -1) {
				attrs[strings.ToLower(a[1])] = a[2]
			}
			_, hidden := attrs["hidden"]
			if attrs["type"] == "hidden" || hidden {
				continue
			}
			if id := attrs["id"]; id == "" || !labels[id] {
				t.Errorf("%s: field without a <label for>: %s", name, tag)
			}
		}
		if m := reInlineEvent.FindString(page); m != "" {
			t.Errorf("%s: inline event handler: %s", name, m)
		}
		if m := reStyleAttr.FindString(page); m != "" {
			t.Errorf("%s: style attribute: %s", name, m)
		}
		if strings.Contains(strings.ToLower(page), "<style") {
			t.Errorf("%s: inline <style>", name)
		}
		for _, m := range reScript.FindAllStringSubmatch(page, -1) {
			if !strings.Contains(m[1], `src="/static/`) || strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s: inline or foreign script: %s", name, m[0])
			}
		}
		if m := reExternal.FindString(page); m != "" {
			t.Errorf("%s: loads from another origin: %s", name, m)
		}
		for _, m := range reAsset.FindAllStringSubmatch(page, -1) {
			if _, err := fs.Stat(static, strings.TrimPrefix(m[1], "/static/")); err != nil {
				t.Errorf("%s: %s is not embedded", name, m[1])
			}
		}
		if !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, `name="viewport"`) {
			t.Errorf("%s: lacks lang or viewport", name)
		}
	}
}

// TestPasswordFormsPostOnly makes sure a form holding a password field is
// method=post: should the script fail to load, the browser's own submit
// must never put the password in a URL.
func TestPasswordFormsPostOnly(t *testing.T) {
	reFormBlock := regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	for _, name := range []string{"index.html", "account.html", "admin.html"} {
		b, err := os.ReadFile(filepath.Join("static", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reFormBlock.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[2], `type="password"`) && !strings.Contains(m[1], `method="post"`) {
				t.Errorf("%s: form with a password field is not method=post: <form%s>", name, m[1])
			}
		}
	}
}

// TestScriptsUseNoHTMLSinks keeps the scripts free of the calls that
// parse strings as HTML or code; text goes in through textContent.
func TestScriptsUseNoHTMLSinks(t *testing.T) {
	js, _ := filepath.Glob(filepath.Join("static", "*.js"))
	if len(js) < 4 {
		t.Fatalf("scripts: %v", js)
	}
	for _, name := range js {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"on", "localStorage", "sessionStorage"} {
			if strings.Contains(string(b), sink) {
				t.Errorf("%s uses %s", name, sink)
			}
		}
	}
}

// TestStateChangingCallsSendCSRF checks the one place requests are made
// sends X-CSRF-Token for every method but GET and HEAD, and that every
// form that changes state carries the hidden csrf_token field.
func TestStateChangingCallsSendCSRF(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("static", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	app := string(b)
	if !strings.Contains(app, `method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken`) {
		t.Error("app.js api() no longer sends X-CSRF-Token on unsafe methods")
	}
	for _, name := range []string{"account.js", "admin.js", "index.js"} {
		b, err := os.ReadFile(filepath.Join("static", name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "fetch(") {
			t.Errorf("%s calls fetch directly; use gh.api so the CSRF header is sent", name)
		}
	}
	reFormBlock := regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	for _, name := range []string{"account.html", "admin.html"} {
		b, err := os.ReadFile(filepath.Join("static", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reFormBlock.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[1], `method="post"`) && !strings.Contains(m[2], `name="csrf_token"`) {
				t.Errorf("%s: state-changing form without a csrf_token field: <form%s>", name, m[1])
			}
		}
	}
}
