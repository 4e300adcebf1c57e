package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
)

func parse(t *testing.T, args []string, env map[string]string) (config.Config, error) {
	t.Helper()
	cfg := config.Default()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b := config.Flags(fs, &cfg, true)
	err := b.Parse(args, func(k string) string { return env[k] })
	return cfg, err
}

func writeFile(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	cfg, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.Store != "sqlite://gatehouse.db" || cfg.Session.IdleTimeout != 24*time.Hour ||
		cfg.Session.AbsoluteLifetime != 30*24*time.Hour || !cfg.CookieSecure || cfg.Password.MemoryKiB != 19456 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

// File < environment < flag, each for the same setting.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "addr: 127.0.0.1:1111\nsession:\n  idle_timeout: 1h\n  absolute_lifetime: 2h\ntrusted_origins: [https://a.example]\n")
	cfg, err := parse(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:1111" || cfg.Session.IdleTimeout != time.Hour || cfg.TrustedOrigins[0] != "https://a.example" {
		t.Fatalf("file not applied: %+v", cfg)
	}
	env := map[string]string{"GATEHOUSE_CONFIG": file, "GATEHOUSE_ADDR": "127.0.0.1:2222", "GATEHOUSE_SESSION_IDLE_TIMEOUT": "30m"}
	cfg, err = parse(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:2222" || cfg.Session.IdleTimeout != 30*time.Minute || cfg.Session.AbsoluteLifetime != 2*time.Hour {
		t.Fatalf("env over file: %+v", cfg)
	}
	cfg, err = parse(t, []string{"--addr=127.0.0.1:3333", "--session-idle-timeout", "5m"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:3333" || cfg.Session.IdleTimeout != 5*time.Minute {
		t.Fatalf("flag over env: %+v", cfg)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"unknown file key", nil, nil, "adress: x\n", "adress"},
		{"bad yaml", nil, nil, "addr: [\n", "config file"},
		{"missing file", []string{"--config", "/nonexistent/gatehouse.yaml"}, nil, "", "config file"},
		{"bad env duration", nil, map[string]string{"GATEHOUSE_SESSION_IDLE_TIMEOUT": "soon"}, "", "GATEHOUSE_SESSION_IDLE_TIMEOUT"},
		{"negative timeout", []string{"--session-idle-timeout", "-1h"}, nil, "", "session-idle-timeout must be positive"},
		{"negative session cache", []string{"--session-cache-size", "-1"}, nil, "", "session-cache-size must be from 0"},
		{"bad log format", []string{"--log-format", "xml"}, nil, "", "log-format"},
		{"huge argon memory", []string{"--password-memory-kib", "99999999"}, nil, "", "password-memory-kib"},
		{"unknown flag", []string{"--nope"}, nil, "", "not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append([]string{"--config", writeFile(t, c.file)}, args...)
			}
			_, err := parse(t, args, c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one mentioning %q", err, c.want)
			}
		})
	}
	// An empty file is no settings, not an error.
	if _, err := parse(t, []string{"--config", writeFile(t, "")}, nil); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}
