package httpapi

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/auth"
)

// oauthError is the RFC 6749 section 5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError answers an OAuth endpoint's failure in the OAuth format.
func (a *API) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	e := apperr.As(err)
	code, status := e.OAuth, http.StatusBadRequest
	switch {
	case code != "":
	case e.Code == apperr.Unavailable, e.Code == apperr.Busy:
		code, status = "temporarily_unavailable", http.StatusServiceUnavailable
	case e.Code == apperr.Internal:
		code, status = "server_error", http.StatusInternalServerError
		a.log.ErrorContext(r.Context(), "oauth request failed", "err", err, "request_id", requestID(r.Context()))
	case e.Code == apperr.TooLarge:
		code, status = "invalid_request", http.StatusRequestEntityTooLarge
	case e.Code == apperr.Unauthenticated:
		code, status = "invalid_token", http.StatusUnauthorized
	case e.Code == apperr.Forbidden:
		code, status = "insufficient_scope", http.StatusForbidden
	default:
		code = "invalid_request"
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strings.TrimSuffix(e.RetryAfter.Round(time.Second).String(), "s"))
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, oauthError{Error: code, Description: e.Message})
}

// readParams reads an OAuth request's parameters from a form body (the
// RFC's encoding) or a JSON object of strings. Repeated parameters are
// refused, as RFC 6749 section 3.2 requires.
func readParams(w http.ResponseWriter, r *http.Request, names ...string) (map[string]string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, apperr.New(apperr.UnsupportedType, "Send the parameters as application/x-www-form-urlencoded or application/json.")
	}
	out := map[string]string{}
	switch mt {
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, jsonError(err)
			}
			return nil, apperr.New(apperr.Invalid, "The form body could not be read.")
		}
		if len(r.URL.RawQuery) > 0 {
			// Tokens never travel in URLs.
			return nil, apperr.New(apperr.Invalid, "Send the parameters in the body, not the URL.")
		}
		for k, vs := range r.PostForm {
			if len(vs) > 1 {
				return nil, apperr.New(apperr.Invalid, "Parameter "+k+" is repeated.")
			}
			out[k] = vs[0]
		}
	case "application/json":
		var m map[string]string
		if err := decodeJSON(w, r, &m); err != nil {
			return nil, err
		}
		out = m
	default:
		return nil, apperr.New(apperr.UnsupportedType, "Send the parameters as application/x-www-form-urlencoded or application/json.")
	}
	known := map[string]bool{"client_id": true}
	for _, n := range names {
		known[n] = true
	}
	for k := range out {
		if !known[k] {
			return nil, apperr.New(apperr.Invalid, "Unknown parameter: "+k+".")
		}
	}
	return out, nil
}

// token is the OAuth 2.0 token endpoint. It supports the refresh_token
// grant (RFC 6749 section 6); sign-in itself is POST /v1/login.
func (a *API) token(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(w, r, "grant_type", "refresh_token", "scope")
	if err != nil {
		a.writeOAuthError(w, r, err)
		return
	}
	switch p["grant_type"] {
	case "refresh_token":
	case "":
		a.writeOAuthError(w, r, apperr.OAuth(apperr.Invalid, "invalid_request", "grant_type is required."))
		return
	default:
		a.writeOAuthError(w, r, apperr.OAuth(apperr.Invalid, "unsupported_grant_type", "Only grant_type=refresh_token is supported here; sign in with POST /v1/login."))
		return
	}
	if p["refresh_token"] == "" {
		a.writeOAuthError(w, r, apperr.OAuth(apperr.Invalid, "invalid_request", "refresh_token is required."))
		return
	}
	pair, err := a.svc.Refresh(r.Context(), p["refresh_token"], clientOf(r))
	if err != nil {
		a.writeOAuthError(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, toTokenResponse(pair))
}

// revoke is RFC 7009 token revocation: 200 whether or not the token was
// valid, so it cannot be used to probe tokens.
func (a *API) revoke(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(w, r, "token", "token_type_hint")
	if err != nil {
		a.writeOAuthError(w, r, err)
		return
	}
	if p["token"] == "" {
		a.writeOAuthError(w, r, apperr.OAuth(apperr.Invalid, "invalid_request", "token is required."))
		return
	}
	if err := a.svc.RevokeToken(r.Context(), p["token"], p["token_type_hint"], clientOf(r)); err != nil {
		a.writeOAuthError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// introspect is RFC 7662 token introspection, for callers holding the
// tokens:introspect permission.
func (a *API) introspect(w http.ResponseWriter, r *http.Request, c caller) {
	if ok, err := a.svc.Can(r.Context(), c.User.Roles, auth.PermIntrospect); err != nil || !ok {
		a.writeOAuthError(w, r, apperr.New(apperr.Forbidden, "Introspection needs the tokens:introspect permission."))
		return
	}
	p, err := readParams(w, r, "token", "token_type_hint")
	if err != nil {
		a.writeOAuthError(w, r, err)
		return
	}
	if p["token"] == "" {
		a.writeOAuthError(w, r, apperr.OAuth(apperr.Invalid, "invalid_request", "token is required."))
		return
	}
	in, err := a.svc.Introspect(r.Context(), p["token"])
	if err != nil {
		a.writeOAuthError(w, r, err)
		return
	}
	if !in.Active {
		writeJSON(w, http.StatusOK, map[string]bool{"active": false})
		return
	}
	out := map[string]any{
		"active": true, "token_type": in.TokenType, "sub": in.Claims.Subject, "sid": in.Claims.SessionID,
		"iss": in.Claims.Issuer, "exp": in.ExpiresAt.Unix(), "roles": in.Claims.Roles,
	}
	if in.Email != "" {
		out["username"] = in.Email
	}
	if !in.Claims.IssuedAt.IsZero() {
		out["iat"] = in.Claims.IssuedAt.Unix()
	}
	if in.Claims.ID != "" {
		out["jti"] = in.Claims.ID
	}
	if len(in.Claims.Audience) > 0 {
		out["aud"] = in.Claims.Audience
	}
	if in.Claims.Scope != "" {
		out["scope"] = in.Claims.Scope
	}
	writeJSON(w, http.StatusOK, out)
}

// sessionToken lets a cookie session mint a short access token, for a
// single-page app that calls other APIs. Bearer callers may not: an access
// token must not be able to extend itself.
func (a *API) sessionToken(w http.ResponseWriter, r *http.Request, c caller) {
	if c.Bearer {
		a.writeError(w, r, apperr.New(apperr.Forbidden, "Only a cookie session can mint access tokens here; use the refresh token at /v1/token."))
		return
	}
	tok, ttl, err := a.svc.MintAccessToken(r.Context(), c.Principal)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds())})
}

// jwks publishes the public signing keys (RFC 7517). Caches may keep it a
// few minutes: a new key is published before it signs anything verifiers
// have not refetched for (they refetch on an unknown kid).
func (a *API) jwks(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Keys == nil {
		a.notFoundProblem(w, r)
		return
	}
	b, err := a.cfg.Keys.KeySet().JWKS()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(b)
}

// discovery is the OpenID-Connect-style metadata (RFC 8414 fields).
func (a *API) discovery(w http.ResponseWriter, r *http.Request) {
	iss := strings.TrimSuffix(a.cfg.Issuer, "/")
	u := func(p string) string { return iss + p }
	meta := map[string]any{
		"issuer":                                        iss,
		"jwks_uri":                                      u("/.well-known/jwks.json"),
		"token_endpoint":                                u("/v1/token"),
		"revocation_endpoint":                           u("/v1/revoke"),
		"introspection_endpoint":                        u("/v1/introspect"),
		"grant_types_supported":                         []string{"refresh_token"},
		"token_endpoint_auth_methods_supported":         []string{"none"},
		"revocation_endpoint_auth_methods_supported":    []string{"none"},
		"introspection_endpoint_auth_methods_supported": []string{"bearer"},
		"response_types_supported":                      []string{},
		"subject_types_supported":                       []string{"public"},
		"claims_supported":                              []string{"iss", "sub", "aud", "exp", "iat", "jti", "sid", "roles", "auth_time"},
		"gatehouse_login_endpoint":                      u("/v1/login"),
		"gatehouse_logout_endpoint":                     u("/v1/logout"),
	}
	if a.cfg.Keys != nil {
		var set struct {
			Keys []struct {
				Alg string `json:"alg"`
			} `json:"keys"`
		}
		if b, err := a.cfg.Keys.KeySet().JWKS(); err == nil && json.Unmarshal(b, &set) == nil {
			algs := []string{}
			for _, k := range set.Keys {
				algs = append(algs, k.Alg)
			}
			meta["token_signing_alg_values_supported"] = algs
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSONCached(w, meta)
}

func writeJSONCached(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// validIssuer checks the configured issuer is an absolute http(s) URL.
func validIssuer(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}
