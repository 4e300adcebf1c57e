package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

// The cookie path. A session cookie is an opaque secret that only
// gatehouse can resolve, so the middleware asks it, with the browser's
// cookie, in two calls:
//
//  1. GET /v1/me: is the session alive, whose is it (ID, email), and its
//     CSRF token;
//  2. POST /v1/session/token (cookie + that CSRF token): a short access
//     token for the session, whose scope carries the permissions of the
//     user's roles — /v1/me lists roles but not what they grant, and the
//     forward-auth endpoint answers gatehouse's access rules for a URL,
//     not the app's permission names.
//
// The token is verified like any bearer token (so a tampered answer is
// caught too) and the result cached for CookieCacheTTL under the SHA-256
// of the cookie; every cache hit is re-checked against the revocation
// list, so a logout seen on the feed ends a cached session at once.

// cookieEntry is a cached answer about one cookie.
type cookieEntry struct {
	user   User
	claims token.Claims // of the token minted for it, for revocation checks
	err    error        // non-nil: the cookie is not a live session
	until  time.Time
}

// cookieCall is an ask in flight, which concurrent requests with the same
// cookie wait for.
type cookieCall struct {
	done  chan struct{}
	entry cookieEntry
}

// cookieCache holds answers by cookie hash, never the cookie itself.
type cookieCache struct {
	mu       sync.Mutex
	entries  map[[32]byte]cookieEntry
	inflight map[[32]byte]*cookieCall
	max      int
}

func newCookieCache(max int) *cookieCache {
	return &cookieCache{entries: map[[32]byte]cookieEntry{}, inflight: map[[32]byte]*cookieCall{}, max: max}
}

// put stores e, first dropping expired entries and then, if still full,
// arbitrary ones.
func (c *cookieCache) put(key [32]byte, e cookieEntry, now time.Time) {
	if c.max == 0 {
		return
	}
	if len(c.entries) >= c.max {
		for k, old := range c.entries {
			if !now.Before(old.until) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = e
}

// errBadCookie is the answer for a cookie that is not a live session.
var errBadCookie = fmt.Errorf("%w: the session cookie is not a live gatehouse session", ErrBadCredentials)

// plausibleCookie refuses, before any network call, values gatehouse
// cannot have issued: its session tokens are base64url.
func plausibleCookie(v string) bool {
	if v == "" || len(v) > maxCookieValue {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// VerifyCookie resolves a gatehouse session cookie value to its user,
// asking gatehouse at most once per CookieCacheTTL per cookie. It returns
// an error wrapping ErrBadCredentials (not a live session), ErrRevoked,
// ErrStale or ErrUnavailable (gatehouse could not be asked).
func (m *Middleware) VerifyCookie(ctx context.Context, value string) (User, error) {
	if !plausibleCookie(value) {
		return User{}, errBadCookie
	}
	key := sha256.Sum256([]byte(value))
	now := m.cfg.Now()
	c := m.cookies
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && now.Before(e.until) {
		c.mu.Unlock()
		if e.err != nil {
			return User{}, e.err
		}
		err := m.checkRevoked(now, e.claims)
		switch {
		case err == nil:
			return e.user.clone(), nil
		case errors.Is(err, ErrStale):
			return User{}, err
		}
		// Revoked: maybe the session ended, maybe only its tokens (a role
		// change). Ask again.
		c.mu.Lock()
		if cur, ok := c.entries[key]; ok && cur.claims.ID == e.claims.ID {
			delete(c.entries, key)
		}
	}
	call, ok := c.inflight[key]
	if !ok {
		call = &cookieCall{done: make(chan struct{})}
		c.inflight[key] = call
		c.mu.Unlock()
		call.entry = m.askGatehouse(ctx, value)
		c.mu.Lock()
		delete(c.inflight, key)
		if !errors.Is(call.entry.err, ErrUnavailable) && !errors.Is(call.entry.err, ErrStale) {
			c.put(key, call.entry, m.cfg.Now())
		}
		c.mu.Unlock()
		close(call.done)
	} else {
		c.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return User{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	if call.entry.err != nil {
		return User{}, call.entry.err
	}
	return call.entry.user.clone(), nil
}

// meAnswer is the part of GET /v1/me the middleware reads.
type meAnswer struct {
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
	Session struct {
		ID string `json:"id"`
	} `json:"session"`
	CSRFToken string `json:"csrf_token"`
}

// askGatehouse resolves a cookie with gatehouse (see the comment at the
// top of this file) and returns the entry to cache.
func (m *Middleware) askGatehouse(ctx context.Context, cookie string) cookieEntry {
	// The first request to ask may go away; the answer serves others too.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.RequestTimeout)
	defer cancel()
	base := strings.TrimSuffix(m.cfg.Issuer, "/")
	fail := func(err error) cookieEntry {
		return cookieEntry{err: err, until: m.cfg.Now().Add(m.cfg.CookieCacheTTL)}
	}

	var me meAnswer
	if err := m.callWithCookie(ctx, http.MethodGet, base+"/v1/me", cookie, "", &me); err != nil {
		return fail(err)
	}
	if me.User.ID == "" || me.Session.ID == "" || me.CSRFToken == "" {
		return fail(fmt.Errorf("%w: GET /v1/me answered without user, session or csrf_token", ErrUnavailable))
	}
	var minted struct {
		AccessToken string `json:"access_token"`
	}
	if err := m.callWithCookie(ctx, http.MethodPost, base+"/v1/session/token", cookie, me.CSRFToken, &minted); err != nil {
		return fail(err)
	}
	claims, err := m.verify(ctx, minted.AccessToken)
	switch {
	case errors.Is(err, ErrStale):
		return fail(err)
	case errors.Is(err, ErrRevoked):
		return fail(errBadCookie)
	case err != nil:
		// gatehouse signed something we cannot verify: a configuration
		// mismatch (Issuer, Audience), not the user's fault.
		return fail(fmt.Errorf("%w: the token gatehouse minted for the session does not verify: %w", ErrUnavailable, err))
	}
	if claims.Subject != me.User.ID || claims.SessionID != me.Session.ID {
		return fail(fmt.Errorf("%w: /v1/me and /v1/session/token disagree about the session", ErrUnavailable))
	}
	u := userFromClaims(claims, FromCookie)
	u.Email = me.User.Email
	u.TokenID = ""
	now := m.cfg.Now()
	return cookieEntry{user: u, claims: claims, until: minTime(now.Add(m.cfg.CookieCacheTTL), claims.ExpiresAt)}
}

// minTime returns the earlier time.
func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// callWithCookie sends one request to gatehouse carrying the session
// cookie and decodes a 200 answer into out. 401 and 403 (ended session,
// disabled user) mean the cookie is no good; anything else is
// ErrUnavailable.
func (m *Middleware) callWithCookie(ctx context.Context, method, url, cookie, csrf string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.AddCookie(&http.Cookie{Name: m.cfg.CookieName, Value: cookie})
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	res, err := m.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, method, url, err)
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return errBadCookie
	default:
		return fmt.Errorf("%w: %s %s: status %d", ErrUnavailable, method, url, res.StatusCode)
	}
	data, err := readLimited(res.Body, maxMeBytes)
	if err == nil {
		err = json.Unmarshal(data, out)
	}
	if err != nil {
		return fmt.Errorf("%w: %s %s: bad answer: %w", ErrUnavailable, method, url, err)
	}
	return nil
}
