package browsertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/server"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the page screenshots to docs/screenshots (they are always written to the test's artifact directory)")

// Bounds. Every browser step has its own deadline, well inside the
// whole test's, so a hung page fails one step with a clear message.
const (
	testTimeout = 3 * time.Minute
	stepTimeout = 20 * time.Second
)

// chromePath finds Chromium, or skips the test loudly (fails under
// GATEHOUSE_TEST_REQUIRE_SERVICES=1).
func chromePath(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}
	if p := os.Getenv("GATEHOUSE_TEST_CHROME"); p != "" {
		names = []string{p}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "\n" +
		"**********************************************************************\n" +
		"  Chromium was not found (" + strings.Join(names, ", ") + ").\n" +
		"  The browser tests are SKIPPED. Set GATEHOUSE_TEST_CHROME to its path,\n" +
		"  or install it: apt-get install -y chromium\n" +
		"**********************************************************************"
	if testenv.Required() {
		t.Fatal(msg + "\n  GATEHOUSE_TEST_REQUIRE_SERVICES=1, so this is a failure.")
	}
	t.Skip(msg)
	return ""
}

// hit is one request the server saw, for checking what the browser sent.
type hit struct {
	Method, Path, Origin, FetchSite string
	Cookie                          bool
	Status                          int
}

// recorder wraps the gatehouse handler and remembers every request.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	hits []hit
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	rec.next.ServeHTTP(sw, r)
	_, err := r.Cookie("__Host-gatehouse_session")
	rec.mu.Lock()
	rec.hits = append(rec.hits, hit{Method: r.Method, Path: r.URL.Path, Origin: r.Header.Get("Origin"),
		FetchSite: r.Header.Get("Sec-Fetch-Site"), Cookie: err == nil, Status: sw.status})
	rec.mu.Unlock()
}

// from returns the requests whose Origin header is origin.
func (rec *recorder) from(origin string) []hit {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []hit
	for _, h := range rec.hits {
		if h.Origin == origin {
			out = append(out, h)
		}
	}
	return out
}

// gatehouse is a running server under test.
type gatehouse struct {
	srv  *server.Server
	base string // http://localhost:PORT
	rec  *recorder
}

// startGatehouse runs gatehouse over a fresh SQLite file on a loopback
// listener, reached as http://localhost:PORT. Plain HTTP is enough:
// Chromium treats http://localhost as a secure context, so it keeps the
// Secure, __Host- session cookie and sends Sec-Fetch-Site, exactly as it
// does over HTTPS.
func startGatehouse(t *testing.T, mutate func(*config.Config)) *gatehouse {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Store = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	cfg.SecretFile = filepath.Join(dir, "secret")
	cfg.PublicURL = base
	if mutate != nil {
		mutate(&cfg)
	}
	params := password.TestParams()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := server.New(ctx, cfg, server.Options{PasswordParams: &params})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	rec := &recorder{next: srv.Handler()}
	ts := httptest.NewUnstartedServer(rec)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done; ts.Close(); srv.Close() })
	return &gatehouse{srv: srv, base: base, rec: rec}
}

// browser is one headless Chromium process for the whole test.
type browser struct {
	t     *testing.T
	ctx   context.Context // the browser's root chromedp context
	shots string          // where screenshots go for this run
}

// startBrowser launches Chromium with a fresh profile and no background
// traffic. The browser lives until the test ends or testTimeout passes.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromePath(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // as root in a container; the page content is our own
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("accept-lang", "en-US"),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancel() })
	start := time.Now()
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", exe, err)
	}
	v, err := chromedp.CallBrowser(bctx, cdpbrowser.GetVersion, cdp.Empty{})
	if err == nil {
		t.Logf("browser: %s (%s), started in %v", v.Product, exe, time.Since(start).Round(time.Millisecond))
	}
	shots := t.ArtifactDir()
	return &browser{t: t, ctx: bctx, shots: shots}
}

// tab is one browser tab in its own browser context: its own cookie jar,
// like a separate browser profile or an incognito window.
type tab struct {
	t    *testing.T
	b    *browser
	name string
	ctx  context.Context
	base string
	mu   sync.Mutex
	errs []string // JavaScript exceptions and CSP violations seen
}

// person makes a tab in a new, isolated browser context. ua, if set,
// overrides the User-Agent; mobile emulates a phone screen.
func (b *browser) person(name, base, ua string, mobile bool) *tab {
	b.t.Helper()
	tb := &tab{t: b.t, b: b, name: name, base: base}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(),
		chromedp.WithListener(tb.listen))
	b.t.Cleanup(cancel)
	tb.ctx = ctx
	// The first run opens the tab and binds its life to the context it is
	// given, so it gets the tab's own context (bounded by the browser's
	// testTimeout), not a step deadline that would close the tab.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("%s: open a tab: %v", name, err)
	}
	setup := []chromedp.Action[chromedp.Void]{chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdplog.Enable, cdp.Empty{})
		return err
	})}
	if ua != "" {
		setup = append(setup, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: "en-US"})
			return err
		}))
	}
	if mobile {
		setup = append(setup, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
	} else {
		setup = append(setup, chromedp.EmulateViewport(1280, 900))
	}
	tb.do("set up the tab", setup...)
	return tb
}

// listen collects uncaught exceptions and security log entries (CSP and
// Trusted Types violations) of gatehouse's pages; the test fails on any.
// It runs in the tab's event loop, so it only appends.
func (tb *tab) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "exception: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		if d.URL != "" && !strings.HasPrefix(d.URL, tb.base) {
			return // the attacker's pages may fail as they like
		}
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Source != cdplog.EntrySourceSecurity &&
			!(e.Source == cdplog.EntrySourceJavascript && e.Level == cdplog.EntryLevelError) {
			return
		}
		if e.URL != "" && !strings.HasPrefix(e.URL, tb.base) {
			return
		}
		msg = string(e.Source) + ": " + e.Text + " " + e.URL
	default:
		return
	}
	tb.mu.Lock()
	tb.errs = append(tb.errs, msg)
	tb.mu.Unlock()
}

// pageErrors returns and clears the collected page errors.
func (tb *tab) pageErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	e := tb.errs
	tb.errs = nil
	return e
}

// do runs browser actions with a deadline; on failure it saves a
// screenshot of the tab for the artefacts and fails the test.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fail(what, err)
	}
}

func (tb *tab) fail(what string, err error) {
	tb.t.Helper()
	where := ""
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	if loc, lerr := chromedp.Run(ctx, chromedp.Location()); lerr == nil {
		where = " at " + loc
	}
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		name := filepath.Join(tb.b.shots, "FAILED-"+tb.name+".png")
		if os.WriteFile(name, png, 0o644) == nil {
			where += " (screenshot: " + name + ")"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no result within %v: %w", stepTimeout, err)
	}
	tb.t.Fatalf("%s: %s%s: %v; page errors: %q", tb.name, what, where, err, tb.pageErrors())
}

// eval evaluates a JavaScript expression (awaiting a promise) in the tab.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fail("evaluate "+expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true. It keeps
// polling through page loads (the pages navigate after sign-in and
// sign-out), where a single in-page poll would be cut off.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	expr := "(() => { try { return !!(" + cond + "); } catch (e) { return false; } })()"
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			tb.fail("wait for "+what+" ("+cond+")", fmt.Errorf("%w (last evaluation error: %v)", ctx.Err(), last))
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// open navigates to a path of gatehouse (or an absolute URL).
func (tb *tab) open(path string) {
	tb.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = tb.base + path
	}
	tb.do("open "+u, chromedp.Navigate(u))
}

// text is the visible text of the first element matching a CSS selector.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel))
}

// screenshot saves a full-page PNG as <name>.png in the artefacts, and
// in docs/screenshots with -update-screenshots.
func (tb *tab) screenshot(name string) { tb.shoot(name, true) }

// shoot saves a full-page PNG in the artefacts and, when publish is set
// and -update-screenshots is given, in docs/screenshots.
func (tb *tab) shoot(name string, publish bool) {
	tb.t.Helper()
	// Let fonts and layout settle, and take the focus ring out of the picture.
	eval[bool](tb, `document.fonts.ready.then(() => { if (document.activeElement) document.activeElement.blur(); return true; })`)
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.fail("screenshot "+name, err)
	}
	dirs := []string{tb.b.shots}
	if publish && *updateScreenshots {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
	tb.t.Logf("screenshot %s.png: %d KiB", name, len(png)>>10)
}

// setField sets a form field's value by its id, as a script would (for
// clearing a field or choosing a <select> option; typing uses SendKeys).
func setField(id, value string) chromedp.Action[chromedp.Void] {
	i, _ := json.Marshal(id)
	v, _ := json.Marshal(value)
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%s).value = %s`, i, v))
}

// colorScheme emulates prefers-color-scheme ("dark", "light", or "" for
// the default).
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		p := emulation.SetEmulatedMediaParams{}
		if scheme != "" {
			p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, p)
		return err
	})
}
