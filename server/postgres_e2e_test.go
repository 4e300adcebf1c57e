package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/server"
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
