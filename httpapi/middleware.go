package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/auth"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	clientIPKey
)

// requestID returns the ID given to the request by withRequestID.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID gives every request a random ID, echoed in X-Request-ID and
// in every log line and problem body about it. A client-sent ID is not
// trusted: it could forge or flood log correlation.
func (a *API) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-ID", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, clientIPKey, a.resolveClientIP(r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// loggingWriter records what a handler answered, for the request log.
type loggingWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (l *loggingWriter) WriteHeader(status int) {
	if l.status == 0 {
		l.status = status
	}
	l.ResponseWriter.WriteHeader(status)
}

func (l *loggingWriter) Write(b []byte) (int, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	n, err := l.ResponseWriter.Write(b)
	l.bytes += n
	return n, err
}

func (l *loggingWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// withLog writes one line per request. It logs the path but never the
// query, headers or body: those are where secrets travel.
func (a *API) withLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &loggingWriter{ResponseWriter: w}
		next.ServeHTTP(lw, r)
		if a.cfg.Metrics != nil {
			// r.Pattern is the route the mux matched: a bounded label.
			a.cfg.Metrics.ObserveRequest(r.Pattern, r.Method, lw.status, time.Since(start))
		}
		a.log.InfoContext(r.Context(), "request",
			"request_id", requestID(r.Context()),
			"method", r.Method,
			"path", r.URL.Path,
			"status", lw.status,
			"bytes", lw.bytes,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"ip", clientIP(r),
		)
	})
}

// recoverPanic turns a handler panic into a logged 500 problem, never a
// stack trace on the wire.
func (a *API) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.ErrorContext(r.Context(), "handler panic", "panic", v, "request_id", requestID(r.Context()))
				a.writeError(w, r, apperr.New(apperr.Internal, "Something went wrong on our side; please try again."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// browserHeaders are what every response a browser may render carries
// (canonical keys; values shared read-only, capacity 1 so that an Add
// copies). The UI sets its own, stricter-for-pages CSP.
var browserHeaders = []struct {
	key   string
	value []string
}{
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Referrer-Policy", []string{"no-referrer"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Content-Security-Policy", []string{"default-src 'none'; frame-ancestors 'none'"}},
}

var hstsValue = []string{"max-age=63072000; includeSubDomains"}

func setBrowserHeaders(h http.Header, r *http.Request) {
	for _, bh := range browserHeaders {
		h[bh.key] = bh.value[:1:1]
	}
	if r.TLS != nil {
		h["Strict-Transport-Security"] = hstsValue[:1:1]
	}
}

// securityHeaders sets the browser headers on every response but
// forward-auth's, which sets them itself on the answers a proxy may pass
// to a browser (401, 302, 403, errors) and leaves them off its 200s, which
// only the proxy reads: on the hottest path that keeps the response
// header map within its inline size.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != forwardPath {
			setBrowserHeaders(w.Header(), r)
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the client address withRequestID resolved.
func clientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey).(string); ok {
		return ip
	}
	return peerIP(r)
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// resolveClientIP is the TCP peer, unless the peer is a trusted proxy: then
// X-Forwarded-For is read from the right, skipping trusted proxies, and the
// first untrusted address is the client. Headers from anyone else are
// ignored, so a client cannot pick its own IP (and dodge throttling).
func (a *API) resolveClientIP(r *http.Request) string {
	peer := peerIP(r)
	if len(a.cfg.TrustedProxies) == 0 || !a.trusted(peer) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, p := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(p))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer // a malformed chain: trust nothing in it
		}
		if !a.trusted(addr.Unmap().String()) {
			return addr.Unmap().String()
		}
	}
	return peer
}

func (a *API) trusted(ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range a.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func clientOf(r *http.Request) auth.Client {
	return auth.Client{IP: clientIP(r), UserAgent: r.UserAgent()}
}

// caller is what authed puts in the request context.
type caller struct {
	auth.Principal
	// sessionToken is the presented cookie value; the CSRF token derives
	// from it.
	sessionToken string
}

// unsafeMethod reports whether the method may change state (RFC 9110).
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// checkOrigin refuses a browser request from another origin (by
// Sec-Fetch-Site or Origin). Requests with neither header come from
// non-browser clients, which cannot be driven by another site.
func (a *API) checkOrigin(r *http.Request) error {
	if err := a.origins.Check(r); err != nil {
		return apperr.Wrap(apperr.CSRF, "This request came from another site and was refused (cross-site request forgery protection).", err)
	}
	return nil
}

// authed wraps a handler that needs a signed-in caller. For unsafe methods
// it also enforces the CSRF defences: same origin and the session's token
// in X-CSRF-Token.
func (a *API) authed(h func(http.ResponseWriter, *http.Request, caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Cookie")
		c, err := a.authenticate(r)
		if err != nil {
			if _, had := r.Cookie(a.cookie); had == nil && isUnauthenticated(err) && !errors.Is(err, auth.ErrBindingMismatch) {
				a.clearCookie(w) // the cookie is dead; stop the browser sending it
			}
			a.writeError(w, r, err)
			return
		}
		if unsafeMethod(r.Method) && !c.Bearer {
			if err := a.checkOrigin(r); err != nil {
				a.writeError(w, r, err)
				return
			}
			if !auth.ValidCSRFToken(c.sessionToken, r.Header.Get("X-CSRF-Token")) {
				a.writeError(w, r, apperr.New(apperr.CSRF, "Missing or wrong CSRF token: send the csrf_token from /v1/me in the X-CSRF-Token header."))
				return
			}
		}
		h(w, r, c)
	})
}

// admin wraps a handler that needs the admin role.
func (a *API) admin(h func(http.ResponseWriter, *http.Request, caller)) http.Handler {
	return a.authed(func(w http.ResponseWriter, r *http.Request, c caller) {
		if !c.IsAdmin() {
			a.writeError(w, r, apperr.New(apperr.Forbidden, "This needs the admin role."))
			return
		}
		h(w, r, c)
	})
}

// authenticate takes a bearer access token if the request carries one,
// else the session cookie. A request with a malformed Authorization header
// is refused rather than silently falling back to the cookie.
func (a *API) authenticate(r *http.Request) (caller, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := bearerToken(h)
		if !ok {
			return caller{}, apperr.New(apperr.Unauthenticated, `The Authorization header must be "Bearer <access token>".`)
		}
		p, err := a.svc.AuthenticateBearer(r.Context(), tok, clientOf(r))
		if err != nil {
			return caller{}, err
		}
		return caller{Principal: p}, nil
	}
	ck, err := r.Cookie(a.cookie)
	if err != nil || ck.Value == "" {
		return caller{}, apperr.New(apperr.Unauthenticated, "You are not signed in. Sign in first.")
	}
	p, err := a.svc.Authenticate(r.Context(), ck.Value, clientOf(r))
	if err != nil {
		return caller{}, err
	}
	return caller{Principal: p, sessionToken: ck.Value}, nil
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
