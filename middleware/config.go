package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

// Defaults for the Config fields left zero.
const (
	// DefaultCookieName is gatehouse's session cookie with --cookie-secure
	// (its default).
	DefaultCookieName = "__Host-gatehouse_session"
	// DefaultMaxStale is how long the revocation list is trusted without
	// a feed answer.
	DefaultMaxStale = 30 * time.Second
	// DefaultFeedWait is the long-poll wait asked of the feed (shortened
	// when MaxStale is small, so that answers arrive before it).
	DefaultFeedWait = 25 * time.Second
	// DefaultJWKSRefresh is how often Run refetches the JWKS.
	DefaultJWKSRefresh = 5 * time.Minute
	// DefaultJWKSMinRefetch is the least time between two refetches caused
	// by unknown key IDs.
	DefaultJWKSMinRefetch = 10 * time.Second
	// DefaultCookieCacheTTL is how long gatehouse's answer about a cookie
	// is reused.
	DefaultCookieCacheTTL = 5 * time.Second
	// DefaultCookieCacheSize bounds the cookie cache.
	DefaultCookieCacheSize = 10000
	// DefaultRequestTimeout bounds each call to gatehouse but the feed's.
	DefaultRequestTimeout = 5 * time.Second
)

// Internal limits.
const (
	defaultFeedGrace        = 10 * time.Second // a long poll may take wait + this
	maxJWKSBytes            = 1 << 20
	maxFeedBytes            = 32 << 20
	maxMeBytes              = 64 << 10
	maxCookieValue          = 512
	minEmptyPollInterval    = time.Second // floor between empty feed answers
	maxFeedBackoff          = 10 * time.Second
	firstFeedBackoff        = 250 * time.Millisecond
	revocationPruneInterval = time.Minute
	userAgent               = "gatehouse-middleware"
)

// Config says which gatehouse to trust and how. Issuer and Audience are
// required, and so is FeedToken unless AllowNoFeed is set.
type Config struct {
	// Issuer is gatehouse's public base URL, exactly as its --public-url
	// (the iss of its tokens), e.g. https://auth.example.com. The JWKS, the
	// feed, /v1/me and /v1/session/token are found under it.
	Issuer string
	// Audience must be among a token's aud values: gatehouse's
	// --token-audience ("gatehouse" unless changed).
	Audience string

	// JWKSURL defaults to Issuer + "/.well-known/jwks.json".
	JWKSURL string
	// FeedURL defaults to Issuer + "/v1/revocations".
	FeedURL string
	// FeedToken is gatehouse's --revocation-feed-token, sent as a bearer
	// token to the feed. Without it the middleware cannot learn of
	// revocations: a bearer token then stays valid until its exp (10
	// minutes by default) even after logout, so an empty FeedToken is
	// refused unless AllowNoFeed is true.
	FeedToken string
	// AllowNoFeed accepts an empty FeedToken: bearer tokens are then only
	// checked for signature and claims (exp included), never for
	// revocation. Cookie sessions are still checked with gatehouse, every
	// CookieCacheTTL.
	AllowNoFeed bool
	// MaxStale is how long the revocation list is trusted without a
	// successful feed answer; after that, every authenticated request gets
	// 503 (fail closed) until the feed is back. Default 30s, at least 1s.
	MaxStale time.Duration

	// HTTPClient is used for every call to gatehouse; default
	// http.DefaultTransport. Its Transport is kept; its Timeout, Jar and
	// CheckRedirect are not (each call has its own deadline, no cookie is
	// stored, redirects are not followed).
	HTTPClient *http.Client
	// RequestTimeout bounds each call to gatehouse except the feed's long
	// poll (which takes the wait plus 10s). Default 5s.
	RequestTimeout time.Duration
	// AllowInsecureHTTP permits http:// URLs for hosts other than loopback
	// ones. Off by default: cookies, tokens and the feed token would cross
	// the network in clear.
	AllowInsecureHTTP bool

	// Leeway is the clock skew tolerated on exp, nbf and iat; default
	// token.DefaultLeeway (5s), at most token.MaxLeeway.
	Leeway time.Duration

	// CookieName is gatehouse's session cookie: default
	// "__Host-gatehouse_session"; "gatehouse_session" when gatehouse runs
	// with --cookie-secure=false; "__Secure-gatehouse_session" with
	// --cookie-domain.
	CookieName string
	// DisableCookies accepts bearer tokens only.
	DisableCookies bool
	// CookieCacheTTL is how long gatehouse's answer about a cookie is
	// reused (revocations from the feed still apply at once). Default 5s.
	CookieCacheTTL time.Duration
	// CookieCacheSize bounds the cookie cache; default 10000 entries.
	CookieCacheSize int
	// TrustedOrigins are extra origins ("https://app.example.com") allowed
	// to send cookie-authenticated unsafe requests (POST, PUT, PATCH,
	// DELETE). The same origin is always allowed.
	TrustedOrigins []string

	// JWKSRefresh is how often Run refetches the JWKS; default 5 minutes.
	JWKSRefresh time.Duration
	// JWKSMinRefetch is the least time between two JWKS fetches caused by
	// tokens naming an unknown key; default 10s. It bounds what a flood of
	// made-up key IDs can cost gatehouse.
	JWKSMinRefetch time.Duration

	// Logger receives warnings (feed down, JWKS fetch failed). Default:
	// discard. Secrets (tokens, cookies, the feed token) are never logged.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// withDefaults returns cfg with zero fields set to their defaults, or an
// error naming the first bad field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Issuer == "" {
		return cfg, errors.New("middleware: Config.Issuer is required (gatehouse's public URL, e.g. https://auth.example.com)")
	}
	if cfg.Audience == "" {
		return cfg, errors.New(`middleware: Config.Audience is required (gatehouse's --token-audience, "gatehouse" by default)`)
	}
	if cfg.FeedToken == "" && !cfg.AllowNoFeed {
		return cfg, errors.New("middleware: Config.FeedToken is empty: without the revocation feed, logged-out tokens stay valid until they expire; " +
			"set FeedToken to gatehouse's --revocation-feed-token, or set AllowNoFeed to accept that")
	}
	base := strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = base + "/.well-known/jwks.json"
	}
	if cfg.FeedURL == "" {
		cfg.FeedURL = base + "/v1/revocations"
	}
	for _, u := range []struct{ name, v string }{{"Issuer", cfg.Issuer}, {"JWKSURL", cfg.JWKSURL}, {"FeedURL", cfg.FeedURL}} {
		if err := checkURL(u.v, cfg.AllowInsecureHTTP); err != nil {
			return cfg, fmt.Errorf("middleware: Config.%s: %w", u.name, err)
		}
	}
	if cfg.MaxStale == 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	if cfg.MaxStale < time.Second {
		return cfg, errors.New("middleware: Config.MaxStale must be at least 1s")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = token.DefaultLeeway
	}
	if cfg.Leeway < 0 {
		return cfg, errors.New("middleware: Config.Leeway must not be negative")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if cfg.CookieCacheTTL == 0 {
		cfg.CookieCacheTTL = DefaultCookieCacheTTL
	}
	if cfg.CookieCacheSize == 0 {
		cfg.CookieCacheSize = DefaultCookieCacheSize
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.JWKSRefresh == 0 {
		cfg.JWKSRefresh = DefaultJWKSRefresh
	}
	if cfg.JWKSMinRefetch == 0 {
		cfg.JWKSMinRefetch = DefaultJWKSMinRefetch
	}
	if cfg.CookieCacheTTL < 0 || cfg.CookieCacheSize < 0 || cfg.RequestTimeout < 0 || cfg.JWKSRefresh < 0 || cfg.JWKSMinRefetch < 0 {
		return cfg, errors.New("middleware: durations and sizes in Config must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// feedWait is the long-poll wait: 25s, but short enough that an answer
// always arrives before the list goes stale.
func (cfg Config) feedWait() time.Duration {
	return min(DefaultFeedWait, max(cfg.MaxStale-5*time.Second, cfg.MaxStale/2))
}

// checkURL accepts absolute https URLs, and http ones for loopback hosts
// (or any host when insecure is allowed).
func checkURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must be an absolute URL with a host and without user info, query or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if insecure || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q is plain http to a non-loopback host: tokens and cookies would travel in clear (set AllowInsecureHTTP to accept)", raw)
	}
	return fmt.Errorf("%q must be an http or https URL", raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpClient is a copy of c (or a fresh client) that follows no redirect,
// keeps no cookie and has no overall timeout: every call sets its own.
func httpClient(c *http.Client) *http.Client {
	out := &http.Client{}
	if c != nil {
		out.Transport = c.Transport
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return out
}
