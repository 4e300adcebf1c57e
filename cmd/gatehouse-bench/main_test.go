package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestScenarios runs every scenario briefly on each backend and checks
// that each made requests and none failed. It checks the tooling, not the
// speed.
func TestScenarios(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres+redis"} {
		t.Run(backend, func(t *testing.T) {
			args := []string{"-users", "4", "-c", "4", "-setup-c", "2", "-duration", "150ms", "-distinct-tokens", "50"}
			if backend == "postgres+redis" {
				args = append(args, "-store", testenv.Postgres(t), "-cache", testenv.Redis(t))
			}
			var out, errs bytes.Buffer
			if err := run(t.Context(), args, &out, &errs); err != nil {
				t.Fatalf("run: %v\n%s", err, errs.String())
			}
			rows := map[string][]string{}
			for line := range strings.Lines(out.String()) {
				f := strings.Split(line, "|")
				if len(f) < 9 {
					continue
				}
				for i := range f {
					f[i] = strings.TrimSpace(f[i])
				}
				rows[f[1]] = f[1:]
			}
			for _, sc := range allScenarios {
				r, ok := rows[sc]
				if !ok {
					t.Errorf("no row for %s in\n%s", sc, out.String())
					continue
				}
				if r[5] != "0" || r[6] == "0" {
					t.Errorf("%s: errors %s, requests %s\n%s", sc, r[5], r[6], out.String())
				}
			}
		})
	}
}

// TestServe starts -serve, uses what it prints the way wrk does, and stops
// it by cancelling.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-serve", "-users", "3", "-setup-c", "2"}, pw, io.Discard)
		pw.Close()
	}()
	kv := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() && sc.Text() != "ready" {
		k, v, _ := strings.Cut(sc.Text(), "=")
		kv[k] = v
	}
	go io.Copy(io.Discard, pr)
	for _, k := range []string{"noop_url", "gatehouse_url", "cookie", "bearer", "introspect_bearer", "cookies_file", "tokens_file"} {
		if kv[k] == "" {
			t.Fatalf("-serve printed no %s: %v", k, kv)
		}
	}
	c := &http.Client{Timeout: 10 * time.Second}
	do := func(method, target, body string, headers ...string) int {
		t.Helper()
		req, _ := http.NewRequest(method, target, strings.NewReader(body))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if method == "POST" && !bytes.Contains(b, []byte(`"active":true`)) {
			t.Errorf("introspection: %s", b)
		}
		return res.StatusCode
	}
	if s := do("GET", kv["noop_url"], ""); s != 200 {
		t.Errorf("no-op: %d", s)
	}
	fwd := []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/"}
	if s := do("GET", kv["gatehouse_url"]+"/v1/authz/forward", "", append(fwd, "Cookie", kv["cookie"])...); s != 200 {
		t.Errorf("forward-auth by cookie: %d", s)
	}
	if s := do("POST", kv["gatehouse_url"]+"/v1/introspect", "token="+url.QueryEscape(kv["bearer"]),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer "+kv["introspect_bearer"]); s != 200 {
		t.Errorf("introspection: %d", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
