package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/token"
)

// Middleware authenticates requests against one gatehouse. It is safe for
// concurrent use. Build it with New; call Run to follow the revocation
// feed and refresh the keys, and Close when done.
type Middleware struct {
	cfg      Config
	verifier token.Verifier
	client   *http.Client
	origins  *http.CrossOriginProtection

	keys        atomic.Pointer[keySet]
	fetchMu     sync.Mutex // serialises JWKS fetches
	lastRefetch time.Time  // guarded by fetchMu: the last fetch an unknown kid caused

	revs     *revocation.Set // nil without a feed
	feedMu   sync.Mutex      // serialises feed syncs
	seq      int64           // guarded by feedMu: the feed position
	syncedAt atomic.Int64    // UnixNano of the last successful feed answer

	cookies *cookieCache

	runMu   sync.Mutex
	running bool
	closed  bool
	stop    context.CancelFunc // cancels a running Run
	done    chan struct{}      // closed when that Run returns
}

// New checks cfg, fetches gatehouse's JWKS and, with a FeedToken, the
// current revocation list, so that a wrong URL, audience or feed token
// fails at start rather than on the first request. It starts no goroutine.
func New(ctx context.Context, cfg Config) (*Middleware, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Middleware{
		cfg:      cfg,
		verifier: token.Verifier{Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway},
		client:   httpClient(cfg.HTTPClient),
		origins:  http.NewCrossOriginProtection(),
		cookies:  newCookieCache(cfg.CookieCacheSize),
	}
	for _, o := range cfg.TrustedOrigins {
		if err := m.origins.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("middleware: Config.TrustedOrigins: %w", err)
		}
	}
	m.fetchMu.Lock()
	err = m.fetchJWKS(ctx)
	m.fetchMu.Unlock()
	if err != nil {
		return nil, err
	}
	if cfg.FeedToken != "" {
		// The Set's own staleness is off: the middleware tracks it, since
		// it applies feed entries with the exported Apply.
		m.revs = revocation.NewSet(0)
		if _, err := m.syncFeed(ctx, 0); err != nil {
			return nil, fmt.Errorf("middleware: first sync of the revocation feed: %w", err)
		}
	}
	return m, nil
}

// Run follows the revocation feed (long polls, with bounded backoff on
// errors) and refreshes the JWKS every JWKSRefresh, until ctx ends or
// Close is called; it then returns nil. It returns ErrClosed after Close,
// and an error if another Run is going.
func (m *Middleware) Run(ctx context.Context) error {
	m.runMu.Lock()
	switch {
	case m.closed:
		m.runMu.Unlock()
		return ErrClosed
	case m.running:
		m.runMu.Unlock()
		return errors.New("middleware: Run is already running")
	}
	ctx, stop := context.WithCancel(ctx)
	m.running, m.stop, m.done = true, stop, make(chan struct{})
	done := m.done
	m.runMu.Unlock()
	defer func() {
		stop()
		m.runMu.Lock()
		m.running = false
		m.runMu.Unlock()
		close(done)
	}()

	var wg sync.WaitGroup
	if m.revs != nil {
		wg.Go(func() { m.followFeed(ctx) })
	}
	wg.Go(func() { m.refreshKeys(ctx) })
	wg.Wait()
	return nil
}

// Close stops Run and waits for it to return. The Middleware still
// answers requests afterwards, but without the feed its revocation list
// goes stale after MaxStale and tokens are then refused.
func (m *Middleware) Close() error {
	m.runMu.Lock()
	m.closed = true
	stop, done, running := m.stop, m.done, m.running
	m.runMu.Unlock()
	if running {
		stop()
		<-done
	}
	return nil
}

// Ready reports whether tokens can be verified now: nil, or ErrStale when
// the revocation feed has not answered for MaxStale. For readiness probes.
func (m *Middleware) Ready() error {
	if m.revs != nil && m.stale(m.cfg.Now()) {
		return ErrStale
	}
	return nil
}

// Verify checks an access token: signature, claims and revocation. The
// key set is refetched (rate-limited) when the token names a key it does
// not know. It returns the caller, or an error wrapping ErrBadCredentials
// (and the token package's reason), ErrRevoked or ErrStale.
func (m *Middleware) Verify(ctx context.Context, tok string) (User, error) {
	c, err := m.verify(ctx, tok)
	if err != nil {
		return User{}, err
	}
	return userFromClaims(c, FromBearer), nil
}

// verify is Verify returning the claims.
func (m *Middleware) verify(ctx context.Context, tok string) (token.Claims, error) {
	now := m.cfg.Now()
	ks := m.keys.Load()
	c, err := m.verifier.Verify(ks.set, tok, now)
	if errors.Is(err, token.ErrUnknownKey) {
		// Parse the kid only to decide whether a refetch can help; the
		// verifier still looks the whole header up.
		if kid := headerKID(tok); kid != "" && !ks.kids[kid] && m.refetchFor(ctx, kid) {
			c, err = m.verifier.Verify(m.keys.Load().set, tok, now)
		}
	}
	if err != nil {
		return token.Claims{}, fmt.Errorf("%w: %w", ErrBadCredentials, err)
	}
	if err := m.checkRevoked(now, c); err != nil {
		return token.Claims{}, err
	}
	return c, nil
}

// checkRevoked consults the revocation list: ErrStale when it cannot be
// trusted, ErrRevoked when the token is on it.
func (m *Middleware) checkRevoked(now time.Time, c token.Claims) error {
	if m.revs == nil {
		return nil
	}
	if m.stale(now) {
		return ErrStale
	}
	return m.revs.Check(now, c.SessionID, c.ID, c.Subject, c.IssuedAt)
}

// stale reports whether the feed last answered more than MaxStale ago.
func (m *Middleware) stale(now time.Time) bool {
	return now.Sub(time.Unix(0, m.syncedAt.Load())) > m.cfg.MaxStale
}
