package cli_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cli"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type result struct {
	code           int
	stdout, stderr string
}

// runner runs commands against one fresh SQLite store, with cheap hashing.
func runner(t *testing.T) func(stdin string, args ...string) result {
	dir := t.TempDir()
	vars := map[string]string{
		"GATEHOUSE_STORE":               "sqlite://" + filepath.Join(dir, "g.db"),
		"GATEHOUSE_SECRET_FILE":         filepath.Join(dir, "secret"),
		"GATEHOUSE_PASSWORD_MEMORY_KIB": "64",
		"GATEHOUSE_PASSWORD_ITERATIONS": "1",
	}
	return func(stdin string, args ...string) result {
		var out, errb syncBuffer
		code := cli.Main(context.Background(), args, cli.Env{
			Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
			Getenv: func(k string) string { return vars[k] },
		})
		return result{code, out.String(), errb.String()}
	}
}

func TestUserAddAndList(t *testing.T) {
	run := runner(t)
	r := run("a very long passphrase\n", "user", "add", "Admin@Example.com", "--role", "admin", "--role", "ops")
	if r.code != 0 || !strings.Contains(r.stdout, "admin@example.com") {
		t.Fatalf("user add: %+v", r)
	}
	r = run("", "user", "list")
	if r.code != 0 || !regexp.MustCompile(`admin@example\.com\s+admin,ops\s+active`).MatchString(r.stdout) {
		t.Fatalf("user list: %+v", r)
	}
	r = run("", "user", "list", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0]["email"] != "admin@example.com" {
		t.Fatalf("user list --json: %v %+v", err, r)
	}
	if strings.Contains(r.stdout, "argon2") {
		t.Fatal("user list leaks the password hash")
	}
	r = run("", "user", "set-roles", "admin@example.com", "admin")
	if r.code != 0 || !strings.Contains(r.stdout, "roles: admin") {
		t.Fatalf("set-roles: %+v", r)
	}
	r = run("", "user", "disable", "admin@example.com")
	if r.code != 0 || !strings.Contains(run("", "user", "list").stdout, "disabled") {
		t.Fatalf("disable: %+v", r)
	}
	if r := run("", "sessions", "list", "admin@example.com"); r.code != 0 || !strings.Contains(r.stdout, "DEVICE") {
		t.Fatalf("sessions list: %+v", r)
	}
}

func TestBadInputExitsNonZeroWithMessage(t *testing.T) {
	run := runner(t)
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"no password", "", []string{"user", "add", "x@example.com"}, 1, "no password"},
		{"bad email", "a very long passphrase", []string{"user", "add", "not-an-email"}, 1, "valid email"},
		{"short password", "short", []string{"user", "add", "x@example.com"}, 1, "at least 8"},
		{"bad role", "a very long passphrase", []string{"user", "add", "x@example.com", "--role", "Bad Role"}, 1, "not a valid name"},
		{"unknown user", "", []string{"user", "disable", "usr_nobody"}, 1, "No such user"},
		{"unknown command", "", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown subcommand", "", []string{"user", "frob"}, 2, "unknown subcommand"},
		{"missing argument", "", []string{"user", "add"}, 2, "wrong number"},
		{"bad flag value", "", []string{"serve", "--session-idle-timeout", "soon"}, 2, "invalid value"},
		{"bad store", "", []string{"user", "list", "--store", "mysql://x"}, 1, "unknown kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(c.stdin, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Fatalf("got code %d stderr %q; want code %d mentioning %q", r.code, r.stderr, c.code, c.msg)
			}
		})
	}
	if r := run("a very long passphrase", "user", "add", "x@example.com"); r.code != 0 {
		t.Fatalf("first add: %+v", r)
	}
	if r := run("a very long passphrase", "user", "add", "X@example.com"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("duplicate add: %+v", r)
	}
}

func TestHelpAndVersion(t *testing.T) {
	run := runner(t)
	r := run("", "serve", "--help")
	if r.code != 0 {
		t.Fatalf("serve --help exit %d", r.code)
	}
	for _, flag := range []string{"-addr", "-store", "-session-idle-timeout", "-cookie-secure", "-config"} {
		if !strings.Contains(r.stderr, flag) {
			t.Errorf("serve --help does not document %s", flag)
		}
	}
	for _, group := range []string{"user", "role", "sessions", "keys", "audit"} {
		if r := run("", group, "--help"); r.code != 0 || !strings.Contains(r.stdout+r.stderr, "gatehouse "+group) {
			t.Errorf("%s --help: %+v", group, r)
		}
	}
	if r := run("", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "gatehouse ") {
		t.Fatalf("version: %+v", r)
	}
	if r := run("", "migrate"); r.code != 0 || !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("migrate: %+v", r)
	}
}

func TestServeStartsLogsAndShutsDownGracefully(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{
		"GATEHOUSE_STORE":       "sqlite://" + filepath.Join(dir, "g.db"),
		"GATEHOUSE_SECRET_FILE": filepath.Join(dir, "secret"),
		"GATEHOUSE_ADDR":        "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"serve"}, cli.Env{Stdout: &logs, Stderr: &logs, Getenv: func(k string) string { return vars[k] }})
	}()
	addrRe := regexp.MustCompile(`addr=(http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRe.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("serve never logged its address: %s", logs.String())
	}
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	if !strings.Contains(logs.String(), "gatehouse user add admin@example.com --role admin") {
		t.Errorf("first start did not say how to create the first admin: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "path=/healthz") || !strings.Contains(logs.String(), "request_id=") {
		t.Errorf("no request log line: %s", logs.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func TestRolesAndKeys(t *testing.T) {
	run := runner(t)
	if r := run("", "role", "set", "editor", "notes:*", "tags:read", "--description", "writes notes"); r.code != 0 || !strings.Contains(r.stdout, "notes:* tags:read") {
		t.Fatalf("role set: %+v", r)
	}
	r := run("", "role", "list")
	if r.code != 0 || !regexp.MustCompile(`admin\s+\*`).MatchString(r.stdout) || !regexp.MustCompile(`editor\s+notes:\* tags:read\s+writes notes`).MatchString(r.stdout) {
		t.Fatalf("role list: %+v", r)
	}
	for _, bad := range [][]string{{"role", "set", "editor", "notes"}, {"role", "set", "admin", "x:y"}, {"role", "set", "Bad Name"}, {"role", "delete", "ghost"}} {
		if r := run("", bad...); r.code != 1 || r.stderr == "" {
			t.Errorf("%v: %+v", bad, r)
		}
	}
	if r := run("", "role", "delete", "editor"); r.code != 0 {
		t.Fatalf("role delete: %+v", r)
	}
	r = run("", "keys", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "signing") || !strings.Contains(r.stdout, "EdDSA") {
		t.Fatalf("keys list: %+v", r)
	}
	if r := run("", "keys", "rotate"); r.code != 0 || !strings.Contains(r.stdout, "new signing key") {
		t.Fatalf("keys rotate: %+v", r)
	}
	var keys []map[string]any
	if err := json.Unmarshal([]byte(run("", "keys", "list", "--json").stdout), &keys); err != nil || len(keys) != 2 || keys[0]["state"] != "signing" || keys[1]["state"] != "verifying" {
		t.Fatalf("keys after rotate: %v %v", keys, err)
	}
}

func TestAudit(t *testing.T) {
	run := runner(t)
	run("a very long passphrase", "user", "add", "aud@example.com")
	run("", "user", "disable", "aud@example.com")
	r := run("", "audit", "--user", "aud@example.com")
	if r.code != 0 || !strings.Contains(r.stdout, "user.created") || !strings.Contains(r.stdout, "user.disabled") {
		t.Fatalf("audit: %+v", r)
	}
	var events []map[string]any
	r = run("", "audit", "--type", "user.disabled", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &events); err != nil || len(events) != 1 {
		t.Fatalf("audit --json: %v %+v", err, r)
	}
	if r := run("", "audit", "--limit", "0"); r.code != 2 {
		t.Fatalf("bad limit: %+v", r)
	}
	if r := run("", "audit", "--since", "yesterday"); r.code != 2 {
		t.Fatalf("bad since: %+v", r)
	}
	if r := run("", "audit", "--help"); r.code != 0 || !strings.Contains(r.stderr, "-type") {
		t.Fatalf("audit --help: %+v", r)
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	vars := map[string]string{
		"GATEHOUSE_STORE": "sqlite://" + filepath.Join(dir, "g.db"), "GATEHOUSE_SECRET_FILE": filepath.Join(dir, "secret"),
		"GATEHOUSE_ADDR": "127.0.0.1:0", "GATEHOUSE_TLS_CERT": certFile, "GATEHOUSE_TLS_KEY": keyFile,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"serve"}, cli.Env{Stdout: &logs, Stderr: &logs, Getenv: func(k string) string { return vars[k] }})
	}()
	re := regexp.MustCompile(`addr=(https://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no https address logged: %s", logs.String())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	res, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("healthz over TLS: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP to the TLS port is not served.
	if res, err := http.Get(strings.Replace(base, "https", "http", 1) + "/healthz"); err == nil && res.StatusCode == 200 {
		t.Fatal("plain HTTP answered on the TLS port")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if r := runner(t)("", "serve", "--tls-cert", certFile); r.code != 2 || !strings.Contains(r.stderr, "go together") {
		t.Fatalf("cert without key: %+v", r)
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
