package nginx_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/middleware/gatehousetest"
)

// confTemplate is the nginx configuration under test. The server block is
// the one docs/INTEGRATION.md shows; around it, everything nginx writes
// (logs, pid, temp files) goes to the test's directory.
var confTemplate = template.Must(template.New("nginx.conf").Parse(`
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log info;
events { worker_connections 64; }

http {
  access_log {{.Dir}}/access.log;
  client_body_temp_path {{.Dir}}/tmp/client_body;
  proxy_temp_path {{.Dir}}/tmp/proxy;
  fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
  uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
  scgi_temp_path {{.Dir}}/tmp/scgi;

  server {
    listen 127.0.0.1:{{.Port}};

    location / {
      auth_request /internal/gatehouse-auth;
      # What gatehouse says about the caller goes to the app; a client's
      # own Remote-* headers never do (proxy_set_header replaces them,
      # and an empty value drops the header).
      auth_request_set $gatehouse_user   $upstream_http_remote_user;
      auth_request_set $gatehouse_email  $upstream_http_remote_email;
      auth_request_set $gatehouse_groups $upstream_http_remote_groups;
      proxy_set_header Remote-User   $gatehouse_user;
      proxy_set_header Remote-Email  $gatehouse_email;
      proxy_set_header Remote-Groups $gatehouse_groups;
      # Browsers that must sign in: gatehouse answers 401 with a Location.
      auth_request_set $gatehouse_signin $upstream_http_location;
      error_page 401 = @gatehouse_signin;

      proxy_pass http://{{.Upstream}};
    }

    location = /internal/gatehouse-auth {
      internal;
      proxy_pass http://{{.Gatehouse}}/v1/authz/forward;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }

    location @gatehouse_signin {
      if ($gatehouse_signin) {
        return 302 $gatehouse_signin;
      }
      add_header WWW-Authenticate 'Bearer realm="gatehouse"' always;
      return 401;
    }
  }
}
`))

// findNginx returns the nginx binary, or skips (fails under
// GATEHOUSE_TEST_REQUIRE_SERVICES=1) when there is none.
func findNginx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := "\n" +
		"**********************************************************************\n" +
		"  nginx is not installed (not on PATH, not in /usr/sbin).\n" +
		"  The nginx forward-auth integration test is SKIPPED.\n" +
		"  Install it: apt-get install -y nginx\n" +
		"**********************************************************************"
	if testenv.Required() {
		t.Fatal(msg + "\n  GATEHOUSE_TEST_REQUIRE_SERVICES=1, so this is a failure.")
	}
	t.Skip(msg)
	return ""
}

// seen is what the upstream app was sent.
type seen struct {
	User, Email, Groups, Path string
}

// upstream is the app behind nginx: it answers with the identity headers
// it received and counts its requests.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits int
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{User: r.Header.Get("Remote-User"), Email: r.Header.Get("Remote-Email"),
			Groups: r.Header.Get("Remote-Groups"), Path: r.URL.Path})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits
}

// startNginx writes the configuration and runs nginx in the foreground on
// a free loopback port; it is stopped at cleanup.
func startNginx(t *testing.T, bin, gatehouse, up string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	// nginx's workers may run as another user when the test runs as root.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		var conf bytes.Buffer
		err := confTemplate.Execute(&conf, map[string]string{"Dir": dir, "Port": strconv.Itoa(port), "Gatehouse": gatehouse, "Upstream": up})
		if err != nil {
			t.Fatal(err)
		}
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if lastErr = runNginx(t, bin, dir, confPath, addr); lastErr == nil {
			return "http://" + addr
		}
	}
	t.Fatalf("nginx did not start: %v", lastErr)
	return ""
}

// runNginx starts nginx and waits (at most 10s) until it accepts
// connections on addr.
func runNginx(t *testing.T, bin, dir, confPath, addr string) error {
	t.Helper()
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers too can be stopped by group
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		// SIGTERM: the master stops its workers and exits. Then, bounded,
		// the process group we started, in case anything is left.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return errors.New("nginx exited: " + errString(err) + "\n" + out.String() + "\n" + string(log))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
					t.Logf("nginx error.log:\n%s", log)
				}
			})
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return errors.New("nginx did not listen on " + addr + " within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func errString(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type reply struct {
	status int
	header http.Header
	seen   seen
	body   string
}

// get sends a request to nginx, following no redirects; headers are name,
// value pairs.
func get(t *testing.T, method, u string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, header: res.Header, body: string(body)}
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r.seen); err != nil {
			t.Fatalf("%s %s: 200 but not from the upstream: %s", method, u, body)
		}
	}
	return r
}

func want(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

func TestNginxAuthRequest(t *testing.T) {
	bin := findNginx(t)
	g := gatehousetest.Start(t, gatehousetest.Options{Configure: func(c *config.Config) {
		c.Access = config.Access{Rules: []config.RuleConfig{
			{Path: []string{"/public/"}, Allow: "public"},
			{Path: []string{"/api/"}, Permission: "notes:read"},
			{Path: []string{"/admin/"}, Role: "admin"},
			{Path: []string{"/"}, Allow: "authenticated"},
		}}
	}})
	g.PutRole(t, "reader", "notes:read")
	ann := g.AddUser(t, "ann@example.com", "reader")
	boss := g.AddUser(t, "boss@example.com", "admin")
	up := newUpstream(t)
	base := startNginx(t, bin, strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(up.URL, "http://"))
	html := []string{"Accept", "text/html,application/xhtml+xml"}

	t.Run("anonymous", func(t *testing.T) {
		// A browser is sent to sign in, with the way back.
		r := get(t, "GET", base+"/page?x=1", html...)
		want(t, r, http.StatusFound)
		if loc, wantLoc := r.header.Get("Location"), g.URL+"/?rd="+url.QueryEscape(base+"/page?x=1"); loc != wantLoc {
			t.Fatalf("Location %q, want %q", loc, wantLoc)
		}
		// An API client just gets 401.
		r = get(t, "GET", base+"/api/notes", "Accept", "application/json")
		want(t, r, http.StatusUnauthorized)
		if r.header.Get("Location") != "" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("API 401 headers: %v", r.header)
		}
		want(t, get(t, "POST", base+"/page", html...), http.StatusUnauthorized) // not a GET: no redirect
		// Public paths pass, and a forged identity header does not reach
		// the app.
		r = get(t, "GET", base+"/public/logo.png", "Remote-User", boss, "Remote-Groups", "admin")
		want(t, r, http.StatusOK)
		if r.seen != (seen{Path: "/public/logo.png"}) {
			t.Fatalf("upstream saw %+v", r.seen)
		}
	})

	t.Run("path tricks do not reach the app", func(t *testing.T) {
		before := up.count()
		// gatehouse refuses ambiguous paths (400), which auth_request
		// turns into a 500: never a pass to the app.
		for _, p := range []string{"/public/%2e%2e/api/notes", "/public/..%2fapi/notes", "/public/%2Fapi"} {
			if r := get(t, "GET", base+p); r.status != http.StatusInternalServerError {
				t.Errorf("%s: %d, want 500 (auth request refused): %s", p, r.status, r.body)
			}
		}
		if up.count() != before {
			t.Fatalf("the upstream got %d requests", up.count()-before)
		}
	})

	s := g.LoginCookie(t, "ann@example.com")
	cookie := []string{"Cookie", s.CookieHeader()}
	tok := g.LoginToken(t, "ann@example.com").Access

	t.Run("signed in", func(t *testing.T) {
		for name, h := range map[string][]string{"cookie": cookie, "bearer": {"Authorization", "Bearer " + tok}} {
			r := get(t, "GET", base+"/api/notes", append(h, "Remote-User", boss)...)
			want(t, r, http.StatusOK)
			if r.seen != (seen{User: ann, Email: "ann@example.com", Groups: "reader", Path: "/api/notes"}) {
				t.Fatalf("%s: upstream saw %+v", name, r.seen)
			}
			want(t, get(t, "GET", base+"/page", h...), http.StatusOK)
			// Signed in without the admin role: forbidden, not a sign-in.
			r = get(t, "GET", base+"/admin/users", append(h, html...)...)
			want(t, r, http.StatusForbidden)
		}
		r := get(t, "GET", base+"/admin/users", "Authorization", "Bearer "+g.LoginToken(t, "boss@example.com").Access)
		want(t, r, http.StatusOK)
		if r.seen.User != boss || r.seen.Groups != "admin" {
			t.Fatalf("admin: upstream saw %+v", r.seen)
		}
	})

	t.Run("after logout", func(t *testing.T) {
		g.LogoutCookie(t, s)
		g.Logout(t, tok)
		// At once: forward-auth asks gatehouse on every request.
		want(t, get(t, "GET", base+"/api/notes", cookie...), http.StatusUnauthorized)
		want(t, get(t, "GET", base+"/api/notes", "Authorization", "Bearer "+tok), http.StatusUnauthorized)
		r := get(t, "GET", base+"/page", append(cookie, html...)...)
		want(t, r, http.StatusFound)
		if !strings.HasPrefix(r.header.Get("Location"), g.URL+"/?rd=") {
			t.Fatalf("Location %q", r.header.Get("Location"))
		}
	})
}
