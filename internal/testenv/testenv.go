// Package testenv finds the PostgreSQL and Redis servers that tests run
// against. A missing server skips the test with a loud message, unless
// GATEHOUSE_TEST_REQUIRE_SERVICES=1 (set by CI), when it fails the test.
package testenv

import (
	"context"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// Default addresses of the development machines' services.
const (
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedis    = "redis://127.0.0.1:6379/0"
)

// Postgres returns the URL of the test PostgreSQL server
// (GATEHOUSE_TEST_POSTGRES, else DefaultPostgres), or skips or fails.
func Postgres(tb testing.TB) string {
	return service(tb, "GATEHOUSE_TEST_POSTGRES", DefaultPostgres, "PostgreSQL")
}

// Redis returns the URL of the test Redis server (GATEHOUSE_TEST_REDIS,
// else DefaultRedis), or skips or fails.
func Redis(tb testing.TB) string {
	return service(tb, "GATEHOUSE_TEST_REDIS", DefaultRedis, "Redis")
}

// Required reports whether missing services must fail tests.
func Required() bool { return os.Getenv("GATEHOUSE_TEST_REQUIRE_SERVICES") == "1" }

func service(tb testing.TB, env, def, name string) string {
	tb.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		tb.Fatalf("%s=%q is not a URL with a host", env, raw)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"PostgreSQL": "5432", "Redis": "6379"}[name])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
	if err != nil {
		msg := "\n" +
			"**********************************************************************\n" +
			"  " + name + " is not reachable at " + host + " (" + env + "): " + err.Error() + "\n" +
			"  Tests that need it are SKIPPED. Start it, or set " + env + ".\n" +
			"**********************************************************************"
		if Required() {
			tb.Fatal(msg + "\n  GATEHOUSE_TEST_REQUIRE_SERVICES=1, so this is a failure.")
		}
		tb.Skip(msg)
	}
	conn.Close()
	return raw
}
