// Package server assembles a running gatehouse from a config.Config: it
// opens the store, loads or makes the server secret, builds the auth
// service and the HTTP API, and serves until its context ends. The command
// line and the end-to-end tests both use it.
package server

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gatehouse/gatehouse/throttle/redisthrottle"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/web"
)

// Server is one gatehouse instance.
type Server struct {
	*Core
	cfg     config.Config
	log     *slog.Logger
	API     *httpapi.API
	handler http.Handler
}

// Core is gatehouse without HTTP: the store, the auth service, the signing
// keys and the revocation list. The command line's admin commands use it.
type Core struct {
	Service     *auth.Service
	Store       store.Store
	Keys        *keys.Manager
	Revocations *revocation.Set
	Feed        *revocation.Feed
	Metrics     *metrics.Metrics
}

// Options are the parts a caller may supply instead of the defaults.
type Options struct {
	Logger *slog.Logger
	// Now overrides the clock (tests).
	Now func() time.Time
	// PasswordParams overrides the hashing parameters from the config
	// (tests use password.TestParams to stay fast).
	PasswordParams *password.Params
	// Mailer overrides the mailer the config chooses (tests capture mail).
	Mailer mail.Mailer
}

// New builds a Server. The store is opened and, for the embedded SQLite
// default, migrated; the secret file and the first signing key are created
// if missing, and the revocation list is loaded.
func New(ctx context.Context, cfg config.Config, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		opts.Logger = log
	}
	core, err := Open(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := core.Feed.Sync(ctx); err != nil {
		core.Close()
		return nil, fmt.Errorf("load revocation list: %w", err)
	}
	rules, err := cfg.Access.Compile()
	if err != nil {
		core.Close()
		return nil, err
	}
	proxies, err := cfg.ProxyPrefixes()
	if err != nil {
		core.Close()
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{
		CookieSecure:       cfg.CookieSecure,
		CookieDomain:       cfg.CookieDomain,
		TrustedOrigins:     cfg.TrustedOrigins,
		UI:                 web.Handler(),
		Keys:               core.Keys,
		Issuer:             cfg.PublicURL,
		Rules:              rules,
		RedirectDomains:    cfg.ForwardAuth.RedirectDomains,
		ForwardTokenHeader: cfg.ForwardAuth.AccessTokenHeader,
		FeedToken:          cfg.Revocation.FeedToken,
		Revocations:        core.Revocations,
		Metrics:            core.Metrics,
		TrustedProxies:     proxies,
	}, core.Service, storeChecks(core.Store), log)
	if err != nil {
		core.Close()
		return nil, fmt.Errorf("http api: %w", err)
	}
	return &Server{Core: core, cfg: cfg, log: log, API: api, handler: api.Handler()}, nil
}

// Open opens the store (migrating an embedded SQLite one), loads or creates
// the server secret and the signing keys, and builds the auth service. The
// caller closes the Core.
func Open(ctx context.Context, cfg config.Config, opts Options) (*Core, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	secret, created, err := LoadOrCreateSecret(cfg.SecretFile)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created a new server secret", "file", cfg.SecretFile)
	}
	st, hot, err := OpenStores(ctx, cfg.Store, cfg.Cache, cfg.CachePrefix, false)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	alg, err := token.ParseAlg(cfg.Tokens.Alg)
	if err != nil {
		st.Close()
		return nil, err
	}
	km := keys.New(keys.Config{
		Alg:         alg,
		RotateEvery: cfg.Tokens.RotateEvery,
		VerifyFor:   cfg.Tokens.AccessTTL + 2*cfg.Tokens.Leeway,
		Now:         now,
	}, st, secret, log)
	if err := km.Load(ctx); err != nil {
		st.Close()
		return nil, err
	}
	chainKey, err := hkdf.Key(sha256.New, secret, nil, "gatehouse refresh-token chain v1", 32)
	if err != nil {
		st.Close()
		return nil, err
	}
	revs := revocation.NewSet(cfg.Revocation.MaxStale)

	params := password.Params{
		Memory: uint32(cfg.Password.MemoryKiB), Iterations: uint32(cfg.Password.Iterations),
		Parallelism: uint8(cfg.Password.Parallelism), SaltLength: 16, KeyLength: 32,
	}
	if opts.PasswordParams != nil {
		params = *opts.PasswordParams
	}
	limiter := func(name string, free int) throttle.Limiter {
		tc := throttle.Config{FreeFailures: free, BaseDelay: cfg.Throttle.BaseDelay, MaxDelay: cfg.Throttle.MaxDelay, Now: now}
		if hot != nil {
			// Shared by every instance: an attacker cannot spread guesses.
			return redisthrottle.New(hot.Client(), hot.Prefix()+"throttle:"+name+":", tc)
		}
		return throttle.NewMemory(tc)
	}
	hasher := password.NewHasher(password.Config{
		Params: params, MaxConcurrent: cfg.Password.MaxConcurrent,
		MaxQueue: cfg.Password.MaxQueue, QueueTimeout: cfg.Password.QueueTimeout,
	})
	var feed *revocation.Feed
	m := metrics.New(metrics.Sources{
		HashRunning:   func() float64 { return float64(hasher.Stats().Running) },
		HashWaiting:   func() float64 { return float64(hasher.Stats().Waiting) },
		HashRejected:  func() float64 { return float64(hasher.Stats().Rejected) },
		HashWaitTotal: func() float64 { return hasher.Stats().WaitTime.Seconds() },
		RevocationLen: func() float64 { return float64(revs.Len()) },
		FeedLag:       func() float64 { return feed.Lag().Seconds() },
		ActiveSessions: func() float64 {
			c, ok := st.(store.SessionCounter)
			if !ok {
				return -1
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := c.CountSessions(ctx, now())
			if err != nil {
				return -1
			}
			return float64(n)
		},
	})
	svc := auth.NewService(auth.Config{
		IdleTimeout:      cfg.Session.IdleTimeout,
		AbsoluteLifetime: cfg.Session.AbsoluteLifetime,
		TouchInterval:    cfg.Session.TouchInterval,
		AccessTokenTTL:   cfg.Tokens.AccessTTL,
		RefreshGrace:     cfg.Tokens.RefreshGrace,
		Issuer:           cfg.PublicURL,
		Audience:         cfg.Tokens.Audience,
		Leeway:           cfg.Tokens.Leeway,
		ReauthWindow:     cfg.Session.ReauthWindow,
		ResetTTL:         cfg.Mail.ResetTTL,
		Binding:          cfg.Session.Binding,
		SessionCacheSize: cacheSize(cfg.Session.CacheSize),
		Now:              now,
	}, auth.Deps{
		Store:          st,
		Hasher:         hasher,
		Policy:         password.NewPolicy(),
		AccountLimiter: limiter("acct", cfg.Throttle.AccountFreeFailures),
		IPLimiter:      limiter("ip", cfg.Throttle.IPFreeFailures),
		Keys:           km,
		Revocations:    revs,
		ChainKey:       chainKey,
		Logger:         log,
		OnEvent:        countEvent(m),
		Mailer:         mailer(cfg, opts, log),
	})
	feed = &revocation.Feed{Store: st, Set: revs, Interval: cfg.Revocation.PollInterval, Now: now, Log: log}
	return &Core{Service: svc, Store: st, Keys: km, Revocations: revs, Feed: feed, Metrics: m}, nil
}

// Close releases the store.
func (c *Core) Close() error { return c.Store.Close() }

// mailer is the caller's, else SMTP when configured, else the development
// mailer that logs.
func mailer(cfg config.Config, opts Options, log *slog.Logger) mail.Mailer {
	if opts.Mailer != nil {
		return opts.Mailer
	}
	if cfg.Mail.SMTP != "" {
		return mail.SMTP{URL: cfg.Mail.SMTP, From: cfg.Mail.From}
	}
	return mail.LogMailer{Log: log}
}

// storeChecks pings each store on its own (durable and cache) for /readyz.
func storeChecks(st store.Store) func(context.Context) map[string]error {
	return func(ctx context.Context) map[string]error {
		if c, ok := st.(interface {
			Checks(context.Context) map[string]error
		}); ok {
			return c.Checks(ctx)
		}
		return map[string]error{"store": st.Ping(ctx)}
	}
}

// countEvent turns audit events and published revocations into metrics.
func countEvent(m *metrics.Metrics) func(string) {
	return func(t string) {
		switch {
		case t == auth.EventSignInOK:
			m.SignIns.WithLabelValues("ok").Inc()
		case t == auth.EventSignInFailed:
			m.SignIns.WithLabelValues("failed").Inc()
		case t == auth.EventRefreshReuse:
			m.RefreshReuse.Inc()
		case strings.HasPrefix(t, "revocation."):
			m.Revocations.WithLabelValues(strings.TrimPrefix(t, "revocation.")).Inc()
		}
	}
}

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Run does the background work until ctx ends: the expired-session
// sweeper, the revocation feed, and signing-key reload and rotation. Serve
// calls it; tests that use Handler directly may too.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.Service.Run(ctx, s.cfg.Session.SweepInterval) })
	wg.Go(func() { s.Feed.Run(ctx) })
	wg.Go(func() { s.Keys.Run(ctx) })
	wg.Wait()
}

// Serve listens on the configured address and serves until ctx ends, then
// shuts down gracefully, giving requests in flight up to 10 seconds.
func (s *Server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(bg) })
	defer func() { stop(); wg.Wait() }()

	scheme := "http"
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	s.log.Info("gatehouse listening", "addr", scheme+"://"+ln.Addr().String(), "store", redactURL(s.cfg.Store))
	if n, err := s.Service.CountUsers(ctx); err == nil && n == 0 {
		s.log.Info("no users yet; create the first admin with: echo 'a-long-password' | gatehouse user add admin@example.com --role admin  (or sign up at /)")
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// cacheSize maps the configured session cache size (0 = off) to
// auth.Config's (negative = off, 0 = default).
func cacheSize(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
