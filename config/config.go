// Package config is gatehouse's configuration: one struct with safe
// defaults, filled from an optional YAML (or JSON) file, then GATEHOUSE_*
// environment variables, then command-line flags — each overriding the one
// before.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is everything `gatehouse serve` and the other commands read.
type Config struct {
	Addr  string `yaml:"addr"`
	Store string `yaml:"store"`
	// Cache, if set (redis://…), keeps sessions, refresh state, revocations
	// and sign-in throttling in Redis, shared by every instance.
	Cache string `yaml:"cache"`
	// CachePrefix starts every Redis key, so deployments can share a server.
	CachePrefix string `yaml:"cache_prefix"`
	SecretFile  string `yaml:"secret_file"`
	// CookieSecure marks the session cookie Secure with the __Host- prefix.
	// Browsers honour both on http://localhost; turn it off only to serve
	// plain HTTP on another host name during development.
	CookieSecure   bool     `yaml:"cookie_secure"`
	TrustedOrigins []string `yaml:"trusted_origins"`
	LogFormat      string   `yaml:"log_format"` // text or json
	LogLevel       string   `yaml:"log_level"`  // debug, info, warn, error

	// PublicURL is where clients reach gatehouse; it is the token issuer
	// (iss) and the base of the discovery metadata's URLs.
	PublicURL string `yaml:"public_url"`

	Session    Session    `yaml:"session"`
	Password   Password   `yaml:"password"`
	Throttle   Throttle   `yaml:"throttle"`
	Tokens     Tokens     `yaml:"tokens"`
	Revocation Revocation `yaml:"revocation"`
	Access     Access     `yaml:"access"`
	Mail       Mail       `yaml:"mail"`
	// ForwardAuth configures GET /v1/authz/forward.
	ForwardAuth ForwardAuth `yaml:"forward_auth"`
	// TLSCert and TLSKey, if both set, make serve speak HTTPS itself.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// TrustedProxies are CIDRs (or single IPs) of reverse proxies whose
	// X-Forwarded-For gatehouse believes for the client IP.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// CookieDomain, if set, shares the session cookie with subdomains
	// (for forward-auth in front of apps on other hosts); the cookie is
	// then __Secure- instead of __Host-.
	CookieDomain string `yaml:"cookie_domain"`
}

// ForwardAuth holds the forward-auth settings.
type ForwardAuth struct {
	// RedirectDomains are the hosts (or *.domain) a sign-in may send the
	// browser back to; anything else falls back to /account (no open
	// redirect).
	RedirectDomains []string `yaml:"redirect_domains"`
	// AccessTokenHeader, if set, names a response header carrying a fresh
	// short access token for the upstream.
	AccessTokenHeader string `yaml:"access_token_header"`
}

// Tokens holds the access- and refresh-token settings.
type Tokens struct {
	Alg          string        `yaml:"alg"`           // EdDSA, ES256, RS256 or HS256
	Audience     string        `yaml:"audience"`      // aud of access tokens
	AccessTTL    time.Duration `yaml:"access_ttl"`    // access-token lifetime
	RefreshGrace time.Duration `yaml:"refresh_grace"` // how long a just-spent refresh token still works
	Leeway       time.Duration `yaml:"leeway"`        // clock skew tolerated on token times
	RotateEvery  time.Duration `yaml:"rotate_every"`  // automatic signing-key rotation; 0 = never
}

// Revocation holds the revocation-feed settings.
type Revocation struct {
	PollInterval time.Duration `yaml:"poll_interval"` // how often the embedded store's feed polls
	// MaxStale is how long an instance keeps trusting its last revocation
	// list when the feed is down, before it refuses tokens (fails closed).
	MaxStale time.Duration `yaml:"max_stale"`
	// FeedToken opens GET /v1/revocations to remote verifiers (the Go
	// middleware) that present it; empty keeps the feed closed.
	FeedToken string `yaml:"feed_token"`
}

// Session holds the session lifetimes.
type Session struct {
	IdleTimeout      time.Duration `yaml:"idle_timeout"`
	AbsoluteLifetime time.Duration `yaml:"absolute_lifetime"`
	TouchInterval    time.Duration `yaml:"touch_interval"`
	SweepInterval    time.Duration `yaml:"sweep_interval"`
	// ReauthWindow is how recent a password check must be for sensitive
	// actions (role changes, key rotation).
	ReauthWindow time.Duration `yaml:"reauth_window"`
	// Binding ties a session to its browser family and network: off,
	// loose (same /24 or /64) or strict (same address).
	Binding string `yaml:"binding"`
	// CacheSize caps the sessions each instance keeps in memory (kept
	// coherent by the revocation feed); 0 switches the cache off.
	CacheSize int `yaml:"cache_size"`
}

// Mail configures outgoing mail (password-reset links).
type Mail struct {
	SMTP     string        `yaml:"smtp"` // smtp://user:pass@host:587; empty: log the mail (development)
	From     string        `yaml:"from"`
	ResetTTL time.Duration `yaml:"reset_ttl"`
}

// Password holds the argon2id parameters and the hashing pool's bounds.
type Password struct {
	MemoryKiB     uint          `yaml:"memory_kib"`
	Iterations    uint          `yaml:"iterations"`
	Parallelism   uint          `yaml:"parallelism"`
	MaxConcurrent int           `yaml:"max_concurrent"`
	MaxQueue      int           `yaml:"max_queue"`
	QueueTimeout  time.Duration `yaml:"queue_timeout"`
}

// Throttle holds the sign-in backoff rules.
type Throttle struct {
	AccountFreeFailures int           `yaml:"account_free_failures"`
	IPFreeFailures      int           `yaml:"ip_free_failures"`
	BaseDelay           time.Duration `yaml:"base_delay"`
	MaxDelay            time.Duration `yaml:"max_delay"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Addr:         "127.0.0.1:8080",
		Store:        "sqlite://gatehouse.db",
		CachePrefix:  "gatehouse:",
		SecretFile:   "gatehouse.secret",
		CookieSecure: true,
		LogFormat:    "text",
		LogLevel:     "info",
		Session: Session{
			IdleTimeout:      24 * time.Hour,
			AbsoluteLifetime: 30 * 24 * time.Hour,
			TouchInterval:    time.Minute,
			SweepInterval:    5 * time.Minute,
			ReauthWindow:     10 * time.Minute,
			Binding:          "off",
			CacheSize:        20000,
		},
		Mail:      Mail{From: "gatehouse@localhost", ResetTTL: 30 * time.Minute},
		Password:  Password{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, QueueTimeout: 2 * time.Second},
		Throttle:  Throttle{AccountFreeFailures: 5, IPFreeFailures: 20, BaseDelay: time.Second, MaxDelay: 15 * time.Minute},
		PublicURL: "http://localhost:8080",
		Tokens: Tokens{Alg: "EdDSA", Audience: "gatehouse", AccessTTL: 10 * time.Minute, RefreshGrace: 10 * time.Second,
			Leeway: 5 * time.Second, RotateEvery: 30 * 24 * time.Hour},
		Revocation: Revocation{PollInterval: time.Second, MaxStale: 30 * time.Second},
	}
}

// EnvPrefix starts every environment variable gatehouse reads.
const EnvPrefix = "GATEHOUSE_"

// EnvName is the environment variable for a flag: --session-idle-timeout
// is GATEHOUSE_SESSION_IDLE_TIMEOUT.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Binding ties a FlagSet to a Config, so that Parse can layer the config
// file and the environment under the flags.
type Binding struct {
	fs    *flag.FlagSet
	cfg   *Config
	names map[string]bool // the flags that are configuration (they have GATEHOUSE_* twins)
}

// Flags binds cfg's fields to fs. With serve false only the flags every
// command needs (store, secret file, config, logging, hashing) are added.
// Flags added to fs afterwards are the command's own: they have no
// environment variable and no config-file key.
func Flags(fs *flag.FlagSet, cfg *Config, serve bool) *Binding {
	b := &Binding{fs: fs, cfg: cfg, names: map[string]bool{}}
	defer fs.VisitAll(func(f *flag.Flag) { b.names[f.Name] = true })
	fs.String("config", "", "YAML or JSON configuration `file` (also GATEHOUSE_CONFIG)")
	fs.StringVar(&cfg.Store, "store", cfg.Store, "store `URL`: sqlite://PATH, postgres://… or memory://")
	fs.StringVar(&cfg.Cache, "cache", cfg.Cache, "optional cache `URL` (redis://HOST:PORT/DB) for sessions, revocations and throttling")
	fs.StringVar(&cfg.CachePrefix, "cache-prefix", cfg.CachePrefix, "`prefix` of every Redis key")
	fs.StringVar(&cfg.SecretFile, "secret-file", cfg.SecretFile, "`file` holding the server secret; created on first start")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	fs.UintVar(&cfg.Password.MemoryKiB, "password-memory-kib", cfg.Password.MemoryKiB, "argon2id memory per hash, KiB")
	fs.UintVar(&cfg.Password.Iterations, "password-iterations", cfg.Password.Iterations, "argon2id passes")
	fs.UintVar(&cfg.Password.Parallelism, "password-parallelism", cfg.Password.Parallelism, "argon2id lanes (1-16)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "public base `URL` of gatehouse: the token issuer (iss)")
	fs.StringVar(&cfg.Tokens.Alg, "token-alg", cfg.Tokens.Alg, "signing algorithm of new keys: EdDSA, ES256, RS256 or HS256")
	fs.StringVar(&cfg.Tokens.Audience, "token-audience", cfg.Tokens.Audience, "audience (aud) of access tokens")
	fs.DurationVar(&cfg.Tokens.AccessTTL, "token-access-ttl", cfg.Tokens.AccessTTL, "access-token lifetime")
	fs.DurationVar(&cfg.Tokens.Leeway, "token-leeway", cfg.Tokens.Leeway, "clock skew tolerated on token times (at most 30s)")
	fs.DurationVar(&cfg.Tokens.RotateEvery, "token-rotate-every", cfg.Tokens.RotateEvery, "rotate the signing key this often (0 = never)")
	if !serve {
		return b
	}
	fs.DurationVar(&cfg.Tokens.RefreshGrace, "token-refresh-grace", cfg.Tokens.RefreshGrace, "a just-spent refresh token still works this long (concurrent tabs)")
	fs.DurationVar(&cfg.Revocation.PollInterval, "revocation-poll-interval", cfg.Revocation.PollInterval, "how often the embedded store's revocation feed polls")
	fs.StringVar(&cfg.Revocation.FeedToken, "revocation-feed-token", cfg.Revocation.FeedToken, "shared `secret` remote verifiers present to follow GET /v1/revocations (empty: feed off)")
	fs.DurationVar(&cfg.Revocation.MaxStale, "revocation-max-stale", cfg.Revocation.MaxStale, "refuse tokens when the revocation feed has been down this long")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen `address` (host:port)")
	fs.BoolVar(&cfg.CookieSecure, "cookie-secure", cfg.CookieSecure, "Secure + __Host- session cookie (works on http://localhost too)")
	fs.StringVar(&cfg.CookieDomain, "cookie-domain", cfg.CookieDomain, "share the session cookie with this `domain` and its subdomains (forward-auth for apps on other hosts)")
	fs.Var((*listValue)(&cfg.ForwardAuth.RedirectDomains), "redirect-domains", "comma-separated `hosts` (or *.domain) sign-in may return the browser to")
	fs.StringVar(&cfg.ForwardAuth.AccessTokenHeader, "forward-auth-token-header", cfg.ForwardAuth.AccessTokenHeader, "forward-auth puts a fresh access token for the upstream in this `header`")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "PEM certificate `file` (with --tls-key): serve HTTPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "PEM private key `file` for --tls-cert")
	fs.Var((*listValue)(&cfg.TrustedProxies), "trusted-proxies", "comma-separated `CIDRs` of reverse proxies whose X-Forwarded-For is believed")
	fs.Var((*listValue)(&cfg.TrustedOrigins), "trusted-origins", "comma-separated extra `origins` allowed to send cookie-authenticated writes")
	fs.DurationVar(&cfg.Session.IdleTimeout, "session-idle-timeout", cfg.Session.IdleTimeout, "end a session unused this long")
	fs.DurationVar(&cfg.Session.AbsoluteLifetime, "session-absolute-lifetime", cfg.Session.AbsoluteLifetime, "end every session this long after sign-in")
	fs.DurationVar(&cfg.Session.TouchInterval, "session-touch-interval", cfg.Session.TouchInterval, "write last-seen at most this often")
	fs.DurationVar(&cfg.Session.ReauthWindow, "reauth-window", cfg.Session.ReauthWindow, "sensitive actions need a password check this recent")
	fs.StringVar(&cfg.Session.Binding, "session-binding", cfg.Session.Binding, "bind sessions to browser and network: off, loose or strict")
	fs.IntVar(&cfg.Session.CacheSize, "session-cache-size", cfg.Session.CacheSize, "sessions kept in memory, coherent through the revocation feed (0 = off)")
	fs.StringVar(&cfg.Mail.SMTP, "mail-smtp", cfg.Mail.SMTP, "SMTP `URL` for reset mails (smtp://user:pass@host:587); empty logs them (development only)")
	fs.StringVar(&cfg.Mail.From, "mail-from", cfg.Mail.From, "From `address` of mails")
	fs.DurationVar(&cfg.Mail.ResetTTL, "password-reset-ttl", cfg.Mail.ResetTTL, "how long a password-reset link works")
	fs.DurationVar(&cfg.Session.SweepInterval, "session-sweep-interval", cfg.Session.SweepInterval, "delete expired sessions this often")
	fs.IntVar(&cfg.Password.MaxConcurrent, "password-max-concurrent", cfg.Password.MaxConcurrent, "hashes computed at once (0 = number of CPUs)")
	fs.IntVar(&cfg.Password.MaxQueue, "password-max-queue", cfg.Password.MaxQueue, "hashes waiting beyond those (0 = 48 x max-concurrent, -1 = none); fewer when they could not be served within the queue timeout")
	fs.DurationVar(&cfg.Password.QueueTimeout, "password-queue-timeout", cfg.Password.QueueTimeout, "longest wait for a hashing slot before 429 (busy)")
	fs.IntVar(&cfg.Throttle.AccountFreeFailures, "throttle-account-free-failures", cfg.Throttle.AccountFreeFailures, "failed sign-ins per account before backoff")
	fs.IntVar(&cfg.Throttle.IPFreeFailures, "throttle-ip-free-failures", cfg.Throttle.IPFreeFailures, "failed sign-ins per client IP before backoff")
	fs.DurationVar(&cfg.Throttle.BaseDelay, "throttle-base-delay", cfg.Throttle.BaseDelay, "first backoff delay; doubles with each failure")
	fs.DurationVar(&cfg.Throttle.MaxDelay, "throttle-max-delay", cfg.Throttle.MaxDelay, "longest backoff delay")
	return b
}

// Parse fills the bound Config from, in rising order of strength: its
// defaults, the config file (--config or GATEHOUSE_CONFIG), GATEHOUSE_*
// environment variables, and the flags in args. Then it validates.
func (b *Binding) Parse(args []string, getenv func(string) string) error {
	path := configFlag(args)
	if path == "" {
		path = getenv(EnvPrefix + "CONFIG")
	}
	if path != "" {
		if err := loadFile(path, b.cfg); err != nil {
			return err
		}
	}
	var err error
	b.fs.VisitAll(func(f *flag.Flag) {
		if err != nil || !b.names[f.Name] || f.Name == "config" {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if e := b.fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", EnvName(f.Name), e)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := b.fs.Parse(args); err != nil {
		return err
	}
	return b.cfg.Validate()
}

// configFlag finds --config in args before the real parse, because the
// file it names must be read first so that flags can override it.
func configFlag(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func loadFile(path string, cfg *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	// An empty file decodes as io.EOF: that is no settings, not an error.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Validate refuses settings that cannot work, naming the setting.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Addr != "", "addr must not be empty")
	check(c.Store != "", "store must not be empty")
	check(c.LogFormat == "text" || c.LogFormat == "json", "log-format must be text or json, not %q", c.LogFormat)
	check(map[string]bool{"debug": true, "info": true, "warn": true, "error": true}[c.LogLevel], "log-level must be debug, info, warn or error, not %q", c.LogLevel)
	check(c.Session.IdleTimeout > 0, "session-idle-timeout must be positive")
	check(c.Session.AbsoluteLifetime > 0, "session-absolute-lifetime must be positive")
	check(c.Session.TouchInterval > 0, "session-touch-interval must be positive")
	check(c.Session.SweepInterval > 0, "session-sweep-interval must be positive")
	check(c.Session.ReauthWindow > 0, "reauth-window must be positive")
	check(c.Session.CacheSize >= 0 && c.Session.CacheSize <= 10_000_000, "session-cache-size must be from 0 (off) to 10000000")
	check(c.Session.Binding == "off" || c.Session.Binding == "loose" || c.Session.Binding == "strict", "session-binding must be off, loose or strict, not %q", c.Session.Binding)
	check(c.Mail.ResetTTL >= time.Minute && c.Mail.ResetTTL <= 24*time.Hour, "password-reset-ttl must be from 1m to 24h")
	check(c.Password.MemoryKiB >= 8 && c.Password.MemoryKiB <= 262144, "password-memory-kib must be from 8 to 262144 (256 MiB)")
	check(c.Password.Iterations >= 1 && c.Password.Iterations <= 32, "password-iterations must be from 1 to 32")
	check(c.Password.Parallelism >= 1 && c.Password.Parallelism <= 16, "password-parallelism must be from 1 to 16")
	check(c.Password.MaxConcurrent >= 0 && c.Password.MaxQueue >= -1, "password-max-concurrent must not be negative; password-max-queue must be -1 (no queue) or more")
	check(c.Throttle.AccountFreeFailures >= 1 && c.Throttle.IPFreeFailures >= 1, "throttle free failures must be at least 1")
	check(c.Throttle.BaseDelay > 0 && c.Throttle.MaxDelay >= c.Throttle.BaseDelay, "throttle-base-delay must be positive and at most throttle-max-delay")
	check(map[string]bool{"EdDSA": true, "ES256": true, "RS256": true, "HS256": true}[c.Tokens.Alg], "token-alg must be EdDSA, ES256, RS256 or HS256, not %q", c.Tokens.Alg)
	check(c.Tokens.Audience != "", "token-audience must not be empty")
	check(c.Tokens.AccessTTL >= 10*time.Second && c.Tokens.AccessTTL <= 24*time.Hour, "token-access-ttl must be from 10s to 24h")
	check(c.Tokens.RefreshGrace >= 0 && c.Tokens.RefreshGrace <= time.Minute, "token-refresh-grace must be from 0 to 1m")
	check(c.Tokens.Leeway >= 0 && c.Tokens.Leeway <= 30*time.Second, "token-leeway must be from 0 to 30s")
	check(c.Tokens.RotateEvery == 0 || c.Tokens.RotateEvery >= time.Hour, "token-rotate-every must be 0 (never) or at least 1h")
	check(c.Revocation.PollInterval > 0, "revocation-poll-interval must be positive")
	check(c.Revocation.FeedToken == "" || len(c.Revocation.FeedToken) >= 32, "revocation-feed-token must be at least 32 characters")
	check(c.Revocation.MaxStale >= 0, "revocation-max-stale must not be negative (0 = never fail closed)")
	check((c.TLSCert == "") == (c.TLSKey == ""), "tls-cert and tls-key go together")
	if _, err := c.ProxyPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Access.Compile(); err != nil {
		errs = append(errs, err)
	}
	u, err := url.Parse(c.PublicURL)
	check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == "",
		"public-url must be an absolute http(s) URL such as https://auth.example.com, not %q", c.PublicURL)
	return errors.Join(errs...)
}

// listValue is a comma-separated list flag.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// ProxyPrefixes parses TrustedProxies; a bare IP is a /32 or /128.
func (c *Config) ProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted-proxies: %q is not an IP address or CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
