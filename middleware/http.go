package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/authz"
)

// problemTypeBase prefixes problem types, as gatehouse's own do.
const problemTypeBase = "urn:gatehouse:problem:"

// problem is an RFC 9457 problem document in gatehouse's shape.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// writeProblem sends a problem+json error with the code as its type.
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: problemTypeBase + code, Title: http.StatusText(status), Status: status, Detail: detail})
}

// identify finds the caller of r. It returns ok false, with a nil error,
// for a request without credentials, and for a dead session cookie when
// anonymous is allowed. Errors are refusals the caller should answer with
// m.refuse.
func (m *Middleware) identify(r *http.Request, anonymousOK bool) (u User, ok bool, err error) {
	if auth := r.Header.Values("Authorization"); len(auth) > 0 {
		if len(auth) > 1 {
			return User{}, false, fmt.Errorf("%w: more than one Authorization header", ErrBadCredentials)
		}
		tok, ok := bearerToken(auth[0])
		if !ok {
			return User{}, false, fmt.Errorf(`%w: the Authorization header must be "Bearer <access token>"`, ErrBadCredentials)
		}
		u, err := m.Verify(r.Context(), tok)
		return u, err == nil, err
	}
	if m.cfg.DisableCookies {
		return User{}, false, nil
	}
	ck, err := r.Cookie(m.cfg.CookieName)
	if err != nil {
		return User{}, false, nil
	}
	u, err = m.VerifyCookie(r.Context(), ck.Value)
	if err != nil {
		if anonymousOK && !unavailable(err) {
			return User{}, false, nil
		}
		return User{}, false, err
	}
	// A cookie rides along on cross-site requests too: state-changing
	// ones must come from the same origin (or a trusted one).
	if err := m.origins.Check(r); err != nil {
		return User{}, false, errCrossOrigin
	}
	return u, true, nil
}

// errCrossOrigin refuses a cookie-authenticated unsafe request from
// another origin.
var errCrossOrigin = errors.New("middleware: cross-origin request with a session cookie")

// refuse answers a failed identify: 503 when the answer cannot be trusted
// now, 403 for a cross-origin cookie request, else 401.
func (m *Middleware) refuse(w http.ResponseWriter, err error) {
	switch {
	case unavailable(err):
		w.Header().Set("Retry-After", "5")
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Sign-in cannot be checked right now; try again in a moment.")
	case errors.Is(err, errCrossOrigin):
		writeProblem(w, http.StatusForbidden, "csrf", "Cross-site request refused: a request that changes something must come from this site.")
	case errors.Is(err, ErrNoCredentials):
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		writeProblem(w, http.StatusUnauthorized, "unauthenticated", "You are not signed in. Send an access token as \"Authorization: Bearer …\" or sign in.")
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token"`)
		detail := "Your credentials were refused (expired, revoked or not valid here). Sign in again."
		if errors.Is(err, ErrRevoked) {
			detail = "Your session has ended. Sign in again."
		}
		writeProblem(w, http.StatusUnauthorized, "unauthenticated", detail)
	}
}

// forbid answers a signed-in caller who lacks what the route needs.
func forbid(w http.ResponseWriter, u User, detail, scope string) {
	if u.Source == FromBearer && scope != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="insufficient_scope", scope="`+scope+`"`)
	}
	writeProblem(w, http.StatusForbidden, "forbidden", detail)
}

// guard is the shared shape of the handlers: identify, then allow.
func (m *Middleware) guard(next http.Handler, anonymousOK bool, allow func(http.ResponseWriter, User) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Authorization, Cookie")
		u, ok, err := m.identify(r, anonymousOK)
		if err != nil {
			m.refuse(w, err)
			return
		}
		if !ok {
			if anonymousOK {
				next.ServeHTTP(w, r)
				return
			}
			m.refuse(w, ErrNoCredentials)
			return
		}
		if allow != nil && !allow(w, u) {
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithUser(r.Context(), u)))
	})
}

// Authenticate puts the caller in the request context when there is one
// and lets anonymous requests through: for pages that greet signed-in
// users but work without. A dead session cookie counts as anonymous; a
// bad bearer token is still 401, and a stale revocation list 503.
func (m *Middleware) Authenticate(next http.Handler) http.Handler {
	return m.guard(next, true, nil)
}

// RequireAuth lets only signed-in callers through (401 otherwise) and puts
// them in the request context.
func (m *Middleware) RequireAuth(next http.Handler) http.Handler {
	return m.guard(next, false, nil)
}

// RequirePermission returns middleware that lets through callers holding
// the permission by authz.Granted (401 when not signed in, 403 without
// it). The permission must be a concrete "resource:action"; anything else
// panics when the middleware is built, since it could never be granted.
func (m *Middleware) RequirePermission(permission string) func(http.Handler) http.Handler {
	if !authz.ValidRequirement(permission) {
		panic(fmt.Sprintf("middleware: RequirePermission(%q): want a resource:action permission without wildcards, like notes:read", permission))
	}
	return func(next http.Handler) http.Handler {
		return m.guard(next, false, func(w http.ResponseWriter, u User) bool {
			if u.Can(permission) {
				return true
			}
			forbid(w, u, "You need the permission "+permission+".", permission)
			return false
		})
	}
}

// RequireRole returns middleware that lets through callers with the role
// (401 when not signed in, 403 without it). Prefer RequirePermission:
// roles are names an admin may redefine, permissions are what code means.
func (m *Middleware) RequireRole(role string) func(http.Handler) http.Handler {
	if role == "" {
		panic("middleware: RequireRole needs a role name")
	}
	return func(next http.Handler) http.Handler {
		return m.guard(next, false, func(w http.ResponseWriter, u User) bool {
			if u.HasRole(role) {
				return true
			}
			forbid(w, u, "You need the role "+role+".", "")
			return false
		})
	}
}

// Issuer is the gatehouse this middleware trusts (Config.Issuer), for
// links to its pages such as /account.
func (m *Middleware) Issuer() string { return m.cfg.Issuer }

// SignInURL is gatehouse's sign-in page, which sends the browser back to
// returnTo afterwards when gatehouse allows that host (its own, or one of
// its --redirect-domains).
func (m *Middleware) SignInURL(returnTo string) string {
	base := strings.TrimSuffix(m.cfg.Issuer, "/") + "/"
	if returnTo == "" {
		return base
	}
	return base + "?rd=" + url.QueryEscape(returnTo)
}

// bearerToken extracts the token of an RFC 6750 Authorization header.
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != "" && !strings.ContainsAny(tok, " \t")
}
