package httpapi

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/authz"
)

// maxForwardedURI bounds the original URI a proxy may pass.
const maxForwardedURI = 8 << 10

// forwardedRequest is the original request a reverse proxy asks about.
type forwardedRequest struct {
	authz.Request
	Proto string
	URI   string // the raw request-target, for the return URL
	nginx bool   // nginx auth_request: redirects must be a 401 with Location
}

// parseForwarded reads the original method, host and URI from the headers
// nginx (X-Original-*), Traefik and Caddy (X-Forwarded-*) send. Missing or
// contradictory headers are an error: a guess could allow what should not
// be.
func parseForwarded(r *http.Request) (forwardedRequest, error) {
	h := r.Header
	pick := func(names ...string) (string, error) {
		val := ""
		for _, n := range names {
			vs := h.Values(n)
			if len(vs) > 1 {
				return "", apperr.New(apperr.Invalid, "Header "+n+" is repeated.")
			}
			if len(vs) == 1 {
				if val != "" && vs[0] != val {
					return "", apperr.New(apperr.Invalid, "Headers "+strings.Join(names, " and ")+" disagree.")
				}
				val = vs[0]
			}
		}
		return val, nil
	}
	var f forwardedRequest
	method, err := pick("X-Forwarded-Method", "X-Original-Method")
	if err != nil {
		return f, err
	}
	uri, err := pick("X-Forwarded-Uri", "X-Original-URI")
	if err != nil {
		return f, err
	}
	host, err := pick("X-Forwarded-Host")
	if err != nil {
		return f, err
	}
	proto, err := pick("X-Forwarded-Proto")
	if err != nil {
		return f, err
	}
	f.nginx = h.Get("X-Original-URI") != ""
	if uri == "" {
		return f, apperr.New(apperr.Invalid, "Forward-auth needs the original URI in X-Forwarded-Uri (Traefik, Caddy) or X-Original-URI (nginx).")
	}
	if method == "" {
		if !f.nginx {
			return f, apperr.New(apperr.Invalid, "Forward-auth needs the original method in X-Forwarded-Method.")
		}
		// nginx's auth_request subrequest carries the original method.
		method = r.Method
	}
	if host == "" {
		host = r.Host // nginx passes the original Host header through
	}
	if proto == "" {
		proto = "http"
	}
	if proto != "http" && proto != "https" {
		return f, apperr.New(apperr.Invalid, "X-Forwarded-Proto must be http or https.")
	}
	method = strings.ToUpper(method)
	if !validMethod(method) {
		return f, apperr.New(apperr.Invalid, "The original method is not a valid HTTP method.")
	}
	if len(uri) > maxForwardedURI || !strings.HasPrefix(uri, "/") {
		return f, apperr.New(apperr.Invalid, "The original URI must be a path starting with / (at most 8 KiB).")
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return f, apperr.New(apperr.Invalid, "The original URI cannot be parsed.")
	}
	// Refuse paths whose meaning depends on who normalises them: encoded
	// slashes or backslashes, dot segments, empty segments.
	lower := strings.ToLower(u.RawPath + u.EscapedPath())
	p := u.Path
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(p, "\\") || strings.ContainsAny(uri, ";#") ||
		strings.Contains(p, "//") || strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../") || strings.ContainsRune(p, 0) {
		return f, apperr.New(apperr.Invalid, "The original path is ambiguous (encoded slash, backslash, dot or empty segment); refused.")
	}
	hostOnly := strings.ToLower(host)
	if h, _, err := net.SplitHostPort(hostOnly); err == nil {
		hostOnly = h // drops the port
		if strings.Contains(h, ":") {
			hostOnly = "[" + h + "]" // an IPv6 literal keeps its brackets, with or without a port
		}
	}
	// "admin.example.com." names the same host as "admin.example.com":
	// rules must see one spelling.
	hostOnly = strings.TrimSuffix(hostOnly, ".")
	if hostOnly == "" || strings.ContainsAny(hostOnly, "/ @") || (strings.Contains(hostOnly, ":") && !strings.HasPrefix(hostOnly, "[")) {
		return f, apperr.New(apperr.Invalid, "The original host is missing or malformed.")
	}
	f.Request = authz.Request{Host: hostOnly, Method: method, Path: p}
	f.Proto, f.URI = proto, host+uri
	return f, nil
}

func validMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return true
	}
	return false
}

// forwardPath is the forward-auth endpoint's path.
const forwardPath = "/v1/authz/forward"

// forward is the forward-auth endpoint for nginx auth_request, Traefik
// forwardAuth and Caddy forward_auth.
func (a *API) forward(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Vary", "Cookie, Authorization")
	// Every answer but a 200 may reach a browser (Traefik and Caddy pass
	// them on): those carry the browser headers.
	refuse := func(err error) {
		setBrowserHeaders(w.Header(), r)
		a.writeError(w, r, err)
	}
	f, err := parseForwarded(r)
	if err != nil {
		refuse(err)
		return
	}
	sub := authz.Subject{}
	c, err := a.authenticate(r)
	signedIn := err == nil
	if err != nil && apperr.CodeOf(err) != apperr.Unauthenticated {
		refuse(err) // 503 when the store or feed is down: never a wrong 200
		return
	}
	if signedIn {
		perms, err := a.svc.Permissions(r.Context(), c.User.Roles)
		if err != nil {
			refuse(err)
			return
		}
		sub = authz.Subject{Authenticated: true, Roles: c.User.Roles, Permissions: perms}
	}
	decision, _ := authz.Decide(a.rules, f.Request, sub)
	switch decision {
	case authz.Allow:
		if signedIn {
			h := w.Header()
			h.Set("Remote-User", c.User.ID)
			h.Set("Remote-Email", c.User.Email)
			h.Set("Remote-Groups", strings.Join(c.User.Roles, ","))
			if a.cfg.ForwardTokenHeader != "" {
				tok, _, err := a.svc.MintAccessToken(r.Context(), c.Principal)
				if err != nil {
					refuse(err)
					return
				}
				h.Set(a.cfg.ForwardTokenHeader, "Bearer "+tok)
			}
		}
		w.WriteHeader(http.StatusOK)
	case authz.Forbidden:
		refuse(apperr.New(apperr.Forbidden, "You may not access this."))
	default:
		if wantsHTML(r) && (f.Method == "GET" || f.Method == "HEAD") {
			loc := a.signInURL(f.Proto + "://" + f.URI)
			w.Header().Set("Location", loc)
			if f.nginx {
				// auth_request only understands 2xx, 401 and 403; the nginx
				// config turns this 401 into a redirect to Location.
				refuse(apperr.New(apperr.Unauthenticated, "Sign in first."))
				return
			}
			setBrowserHeaders(w.Header(), r)
			http.Redirect(w, r, loc, http.StatusFound)
			return
		}
		refuse(apperr.New(apperr.Unauthenticated, "Sign in first."))
	}
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// signInURL is the sign-in page, with the return URL when it is allowed.
func (a *API) signInURL(returnTo string) string {
	base := strings.TrimSuffix(a.cfg.Issuer, "/") + "/"
	if a.allowedRedirect(returnTo) {
		return base + "?rd=" + url.QueryEscape(returnTo)
	}
	return base
}

// allowedRedirect reports whether a return URL is absolute http(s), has no
// user info, and points at a configured redirect domain or gatehouse's own
// host: anything else would make gatehouse an open redirect.
func (a *API) allowedRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host == "" || len(raw) > maxForwardedURI {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if iss, err := url.Parse(a.cfg.Issuer); err == nil && strings.EqualFold(iss.Hostname(), host) {
		return true
	}
	for _, d := range a.cfg.RedirectDomains {
		d = strings.ToLower(d)
		if rest, ok := strings.CutPrefix(d, "*."); ok {
			if strings.HasSuffix(host, "."+rest) {
				return true
			}
		} else if host == d {
			return true
		}
	}
	return false
}

// redirect sends a signed-in browser back where forward-auth found it, if
// that is an allowed place; else to the account page.
func (a *API) redirect(w http.ResponseWriter, r *http.Request) {
	rd := r.URL.Query().Get("rd")
	if rd == "" || !a.allowedRedirect(rd) {
		rd = "/account"
	}
	http.Redirect(w, r, rd, http.StatusSeeOther)
}
