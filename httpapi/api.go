// Package httpapi is gatehouse's HTTP surface: the JSON API, its
// authentication and CSRF checks, problem+json errors, request logging and
// the health endpoints. It turns HTTP into calls on auth.Service and back.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/openapi"
	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/token"
)

// Config is the HTTP-level configuration.
type Config struct {
	// CookieSecure sets the Secure flag and the __Host- prefix on the
	// session cookie. Browsers accept both on http://localhost, so it stays
	// on for development; turn it off only for plain HTTP on other hosts.
	CookieSecure bool
	// TrustedOrigins are extra origins (scheme://host[:port]) allowed to
	// make cookie-authenticated unsafe requests, for a UI served elsewhere.
	TrustedOrigins []string
	// UI, if set, serves the web pages (/, /account, /static/…).
	UI http.Handler
	// Keys, if set, enables the JWKS and key administration.
	Keys KeyAdmin
	// Issuer is the public base URL, for discovery metadata and the
	// sign-in page forward-auth redirects to.
	Issuer string
	// CookieDomain shares the session cookie with a parent domain
	// (forward-auth for apps on other hosts); the cookie is then
	// __Secure-gatehouse_session.
	CookieDomain string
	// Rules are the forward-auth access rules (default deny).
	Rules []authz.Rule
	// RedirectDomains are where a sign-in may return the browser.
	RedirectDomains []string
	// ForwardTokenHeader, if set, carries a fresh access token to the
	// upstream on forward-auth success.
	ForwardTokenHeader string
	// FeedToken, if set, opens GET /v1/revocations to holders of it.
	FeedToken string
	// Revocations is this instance's list; its changes wake long polls.
	Revocations *revocation.Set
	// Metrics, if set, records every request and serves GET /metrics.
	Metrics *metrics.Metrics
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
}

// KeyAdmin is what the API needs of the signing-key manager.
type KeyAdmin interface {
	KeySet() *token.KeySet
	List(ctx context.Context) ([]keys.Info, error)
	Rotate(ctx context.Context) (keys.Info, error)
}

// API holds the handlers. Build it with New; use Handler to serve.
type API struct {
	cfg     Config
	svc     *auth.Service
	ready   func(context.Context) map[string]error
	log     *slog.Logger
	cookie  string
	origins *http.CrossOriginProtection
	rules   []authz.Rule
	routes  []string // the patterns Handler registered, for the OpenAPI drift test
}

// Routes lists the method-and-path patterns of the HTTP surface, as
// registered by the last call to Handler.
func (a *API) Routes() []string { return slices.Clone(a.routes) }

// New returns the API. ready is called by /readyz to check each store.
func New(cfg Config, svc *auth.Service, ready func(context.Context) map[string]error, log *slog.Logger) (*API, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Issuer != "" && !validIssuer(cfg.Issuer) {
		return nil, fmt.Errorf("issuer %q must be an absolute http(s) URL without query or fragment", cfg.Issuer)
	}
	a := &API{cfg: cfg, svc: svc, ready: ready, log: log, origins: http.NewCrossOriginProtection()}
	a.rules = cfg.Rules
	a.cookie = "gatehouse_session"
	switch {
	case cfg.CookieDomain != "" && cfg.CookieSecure:
		a.cookie = "__Secure-gatehouse_session" // __Host- forbids a Domain
	case cfg.CookieSecure:
		a.cookie = "__Host-gatehouse_session"
	}
	for _, o := range cfg.TrustedOrigins {
		if err := a.origins.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Handler returns the whole HTTP surface with its middleware.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.routes = a.routes[:0]
	handle := func(pattern string, h http.Handler) {
		a.routes = append(a.routes, pattern)
		mux.Handle(pattern, h)
	}
	handleFunc := func(pattern string, h http.HandlerFunc) { handle(pattern, h) }
	handleFunc("POST /v1/signup", a.signup)
	handleFunc("POST /v1/login", a.login)
	handle("POST /v1/logout", a.authed(a.logout))
	handle("GET /v1/me", a.authed(a.me))
	handle("PATCH /v1/me", a.authed(a.patchMe))
	handle("GET /v1/sessions", a.authed(a.listSessions))
	handle("DELETE /v1/sessions/{id}", a.authed(a.revokeSession))
	handle("DELETE /v1/sessions", a.authed(a.revokeOtherSessions))
	handle("POST /v1/session/token", a.authed(a.sessionToken))
	handle("POST /v1/password", a.authed(a.changePassword))
	handle("POST /v1/reauth", a.authed(a.reauth))
	handleFunc("POST /v1/password/forgot", a.forgotPassword)
	handleFunc("POST /v1/password/reset", a.resetPassword)
	handleFunc("POST /v1/token", a.token)
	handleFunc("POST /v1/revoke", a.revoke)
	handle("POST /v1/introspect", a.authed(a.introspect))
	handleFunc(forwardPath, a.forward)
	handleFunc("GET /v1/redirect", a.redirect)
	handleFunc("GET /v1/revocations", a.revocationFeed)
	handleFunc("GET /.well-known/jwks.json", a.jwks)
	handleFunc("GET /.well-known/openid-configuration", a.discovery)

	handle("GET /v1/admin/users", a.admin(a.adminListUsers))
	handle("POST /v1/admin/users", a.admin(a.recent(a.adminCreateUser)))
	handle("GET /v1/admin/users/{id}", a.admin(a.adminGetUser))
	handle("PATCH /v1/admin/users/{id}", a.admin(a.recent(a.adminUpdateUser)))
	handle("GET /v1/admin/users/{id}/sessions", a.admin(a.adminUserSessions))
	handle("POST /v1/admin/users/{id}/logout", a.admin(a.adminLogoutUser))
	handle("GET /v1/admin/roles", a.admin(a.adminListRoles))
	handle("PUT /v1/admin/roles/{name}", a.admin(a.recent(a.adminPutRole)))
	handle("DELETE /v1/admin/roles/{name}", a.admin(a.recent(a.adminDeleteRole)))
	handle("GET /v1/admin/keys", a.admin(a.adminListKeys))
	handle("POST /v1/admin/keys/rotate", a.admin(a.recent(a.adminRotateKeys)))
	handle("GET /v1/admin/audit", a.admin(a.adminAudit))

	handleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handleFunc("GET /readyz", a.readyz)
	handle("GET /openapi.json", openapi.Handler())
	if a.cfg.Metrics != nil {
		handle("GET /metrics", a.cfg.Metrics.Handler())
	}
	if a.cfg.UI != nil {
		for _, p := range []string{"GET /{$}", "GET /account", "GET /admin", "GET /reset", "GET /static/"} {
			handle(p, a.cfg.UI)
		}
	}
	return a.withRequestID(a.withLog(a.recoverPanic(securityHeaders(routeErrorsAsProblems(mux)))))
}

// routeErrorsAsProblems turns the mux's own plain-text 404 and 405 answers
// into problem+json, keeping the Allow header of a 405.
func routeErrorsAsProblems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status, detail := http.StatusNotFound, "There is nothing at this address."
		if rec.status == http.StatusMethodNotAllowed {
			status, detail = rec.status, "This address does not accept the "+r.Method+" method."
		}
		writeProblem(w, status, Problem{
			Type: problemTypeBase + map[int]string{404: "not_found", 405: "method_not_allowed"}[status], Title: http.StatusText(status),
			Status: status, Detail: detail, RequestID: requestID(r.Context()),
		})
	})
}

// statusRecorder keeps the status and headers the mux would have sent.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(status int)      { s.status = status }

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	if a.ready != nil {
		for name, err := range a.ready(ctx) {
			checks[name] = "ok"
			if err != nil {
				a.log.WarnContext(ctx, "not ready", "store", name, "err", err)
				checks[name], status = "unreachable", http.StatusServiceUnavailable
			}
		}
	}
	if a.cfg.Revocations != nil {
		checks["revocation_feed"] = "ok"
		if err := a.cfg.Revocations.Check(time.Now(), "", "", "", time.Time{}); err != nil {
			checks["revocation_feed"], status = "stale", http.StatusServiceUnavailable
		}
	}
	word := map[int]string{http.StatusOK: "ok", http.StatusServiceUnavailable: "unavailable"}[status]
	writeJSON(w, status, map[string]any{"status": word, "checks": checks})
}

// userJSON is a user as the API shows it; the password hash never leaves.
type userJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Roles     []string  `json:"roles"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toUserJSON(u store.User) userJSON {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userJSON{ID: u.ID, Email: u.Email, Roles: roles, Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}
