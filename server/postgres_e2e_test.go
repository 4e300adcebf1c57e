package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/server"
	"github.com/gatehouse/gatehouse/store/redis"
	"github.com/gatehouse/gatehouse/store/redis/redistest"
)

// freshPostgresSchema makes an empty schema on the test server and returns
// a store URL whose search_path points at it; it is dropped at cleanup.
func freshPostgresSchema(t *testing.T) string {
	t.Helper()
	base := testenv.Postgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "gh_e2e_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// instance is one gatehouse process-alike on a shared store.
type instance struct {
	srv *server.Server
	ts  *httptest.Server
}

func startInstance(t *testing.T, cfg config.Config) (*instance, error) {
	params := password.TestParams()
	srv, err := server.New(context.Background(), cfg, server.Options{PasswordParams: &params})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	ts := httptest.NewTLSServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); cancel(); <-done; srv.Close() })
	return &instance{srv: srv, ts: ts}, nil
}

func TestPostgresInstancesShareSessionsAndRevocations(t *testing.T) {
	storeURL := freshPostgresSchema(t)
	cfg := config.Default()
	cfg.Store = storeURL
	cfg.SecretFile = filepath.Join(t.TempDir(), "secret")

	// An unmigrated schema is refused with a message that says what to do.
	if _, err := startInstance(t, cfg); err == nil || !strings.Contains(err.Error(), "gatehouse migrate") {
		t.Fatalf("unmigrated schema: %v", err)
	}
	st, err := server.OpenStore(context.Background(), storeURL, true)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	a, err := startInstance(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := startInstance(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ea := &env{t: t, cfg: cfg, srv: a.srv, ts: a.ts}
	eb := &env{t: t, cfg: cfg, srv: b.srv, ts: b.ts}
	// Sign in through A; use the tokens through B.
	ea.browser("").signup("pg@example.com", pw)
	p := tokenLogin(t, ea.browser(""), "pg@example.com")
	expect(t, eb.browser("").do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusOK)
	r := refresh(eb, p.Refresh)
	expect(t, r, http.StatusOK)
	p = toPair(t, r)
	// Sign out through A: B's verifier — signature, claims and its
	// in-memory revocation list, no store lookup — refuses the access token
	// within a second (the push feed, not B's one-second poll, carries it).
	expect(t, ea.browser("").do("POST", "/v1/logout", nil, bearer(p.Access)...), http.StatusNoContent)
	start := time.Now()
	for {
		if _, err := b.srv.Service.VerifyAccessToken(p.Access); err != nil {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("logout on A did not reach B's revocation list within a second")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("revocation reached instance B after %v", time.Since(start))
	expect(t, eb.browser("").do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusUnauthorized)
}

// Three instances on PostgreSQL + Redis: sign in through one, use the
// session and tokens through the others; every logout reaches the other
// two instances' revocation lists quickly. The figures are logged, not
// asserted beyond the one-second bound the design promises.
func TestPostgresRedisThreeInstancesPropagation(t *testing.T) {
	storeURL := freshPostgresSchema(t)
	redisURL := testenv.Redis(t)
	st, err := server.OpenStore(context.Background(), storeURL, true)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	var pfx [6]byte
	rand.Read(pfx[:])
	cfg := config.Default()
	cfg.Store, cfg.Cache = storeURL, redisURL
	cfg.CachePrefix = "gh_e2e_" + hex.EncodeToString(pfx[:]) + ":"
	cfg.SecretFile = filepath.Join(t.TempDir(), "secret")
	t.Cleanup(func() { purgeRedisPrefix(t, redisURL, cfg.CachePrefix) })
	var envs []*env
	for range 3 {
		in, err := startInstance(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, &env{t: t, cfg: cfg, srv: in.srv, ts: in.ts})
	}
	a, b, c := envs[0], envs[1], envs[2]
	a.browser("").signup("three@example.com", pw)
	// A cookie session made on A works on B (shared Redis sessions).
	cookie := a.browser("")
	cookie.login("three@example.com", pw)
	onB := b.browser("")
	onB.c.Jar.SetCookies(mustURL(b.ts.URL), []*http.Cookie{{Name: "__Host-gatehouse_session", Value: cookie.sessionCookie().Value, Path: "/", Secure: true}})
	expect(t, onB.do("GET", "/v1/me", nil), http.StatusOK)

	var delays []time.Duration
	for range 20 {
		p := tokenLogin(t, a.browser(""), "three@example.com")
		expect(t, c.browser("").do("GET", "/v1/me", nil, bearer(p.Access)...), http.StatusOK)
		start := time.Now()
		expect(t, a.browser("").do("POST", "/v1/logout", nil, bearer(p.Access)...), http.StatusNoContent)
		for _, other := range []*env{b, c} {
			for {
				if _, err := other.srv.Service.VerifyAccessToken(p.Access); err != nil {
					break
				}
				if time.Since(start) > time.Second {
					t.Fatal("a logout did not reach every instance within a second")
				}
				time.Sleep(time.Millisecond)
			}
		}
		delays = append(delays, time.Since(start))
	}
	slices.Sort(delays)
	t.Logf("logout → refused on both other instances: p50 %v, max %v over %d logouts", delays[len(delays)/2], delays[len(delays)-1], len(delays))
	// The cookie session revoked through B is dead on A.
	expect(t, onB.do("POST", "/v1/logout", nil, "X-CSRF-Token", cookie.csrf), http.StatusNoContent)
	expect(t, cookie.do("GET", "/v1/me", nil), http.StatusUnauthorized)
	r := a.browser("").do("GET", "/readyz", nil)
	expect(t, r, http.StatusOK)
	if checks := r.json(t)["checks"].(map[string]any); checks["durable"] != "ok" || checks["cache"] != "ok" {
		t.Fatalf("readyz: %s", r.body)
	}
}

func purgeRedisPrefix(t *testing.T, redisURL, prefix string) {
	hot, err := redis.Open(context.Background(), redisURL, redis.Options{Prefix: prefix})
	if err != nil {
		return
	}
	defer hot.Close()
	if err := redistest.Purge(context.Background(), hot.Client(), prefix); err != nil {
		t.Logf("purge redis prefix: %v", err)
	}
}
