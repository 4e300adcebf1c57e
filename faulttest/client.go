package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Client speaks gatehouse's JSON API the way an API client or a browser
// does, with no cookie jar: the session cookie is carried explicitly, so
// one Client can present any session to any instance.
type Client struct {
	HTTP *http.Client
}

// NewClient returns a Client whose requests give up after timeout.
func NewClient(timeout time.Duration) *Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &Client{HTTP: &http.Client{Timeout: timeout, Transport: tr}}
}

// Response is what one request got: a status and body, or a transport
// error (Status 0).
type Response struct {
	Status int
	Body   []byte
	Header http.Header
	Err    error
	// Sent and Received bracket the request.
	Sent, Received time.Time
}

// Outcome classifies a response for tallies: "200", "401", "503", …, or
// "conn-refused", "conn-reset", "timeout", "error" for transport failures.
func (r Response) Outcome() string {
	if r.Err == nil {
		return fmt.Sprint(r.Status)
	}
	var ne net.Error
	switch {
	case errors.Is(r.Err, syscall.ECONNREFUSED):
		return "conn-refused"
	case errors.Is(r.Err, syscall.ECONNRESET), errors.Is(r.Err, io.EOF), errors.Is(r.Err, io.ErrUnexpectedEOF), errors.Is(r.Err, syscall.EPIPE):
		return "conn-reset"
	case errors.Is(r.Err, context.DeadlineExceeded), errors.Is(r.Err, os.ErrDeadlineExceeded), errors.As(r.Err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "error"
}

// ConnError reports whether the request failed before any HTTP answer.
func (r Response) ConnError() bool { return r.Err != nil }

func (r Response) String() string {
	if r.Err != nil {
		return r.Outcome() + ": " + r.Err.Error()
	}
	body := string(r.Body)
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(body))
}

// JSON decodes the body into a map (nil when it is not a JSON object).
func (r Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Do sends a request. body is JSON-encoded unless it is url.Values (a
// form); headers are name, value pairs.
func (c *Client) Do(ctx context.Context, method, u string, body any, headers ...string) Response {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return Response{Err: err}
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return Response{Err: err}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	out := Response{Sent: time.Now()}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		out.Err, out.Received = err, time.Now()
		return out
	}
	defer resp.Body.Close()
	out.Body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	out.Received = time.Now()
	if err != nil {
		out.Err = err
		return out
	}
	out.Status, out.Header = resp.StatusCode, resp.Header
	return out
}

// Tokens is a token-mode sign-in: an access token and a refresh token.
type Tokens struct {
	Access    string `json:"access_token"`
	Refresh   string `json:"refresh_token"`
	SessionID string `json:"session_id"`
}

// Cookie is a cookie-mode sign-in: the session cookie and its CSRF token.
type Cookie struct {
	Name, Value string
	CSRF        string
	SessionID   string
}

// Header returns the Cookie request header that presents it.
func (ck Cookie) Header() []string { return []string{"Cookie", ck.Name + "=" + ck.Value} }

// Bearer returns the Authorization header for an access token.
func Bearer(access string) []string { return []string{"Authorization", "Bearer " + access} }

// Signup creates an account through base (201), or accepts that it
// exists (409).
func (c *Client) Signup(ctx context.Context, base, email, password string) error {
	r := c.Do(ctx, "POST", base+"/v1/signup", map[string]string{"email": email, "password": password, "mode": "token"})
	if r.Status != http.StatusCreated && r.Status != http.StatusConflict {
		return fmt.Errorf("signup %s on %s: %s", email, base, r)
	}
	return nil
}

// LoginTokens signs in through base in token mode.
func (c *Client) LoginTokens(ctx context.Context, base, email, password string) (Tokens, error) {
	r := c.Do(ctx, "POST", base+"/v1/login", map[string]string{"email": email, "password": password, "mode": "token"})
	var t Tokens
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &t) != nil || t.Access == "" {
		return t, fmt.Errorf("token login %s on %s: %s", email, base, r)
	}
	return t, nil
}

// LoginCookie signs in through base in cookie mode.
func (c *Client) LoginCookie(ctx context.Context, base, email, password string) (Cookie, error) {
	r := c.Do(ctx, "POST", base+"/v1/login", map[string]string{"email": email, "password": password, "mode": "cookie"})
	if r.Status != http.StatusOK {
		return Cookie{}, fmt.Errorf("cookie login %s on %s: %s", email, base, r)
	}
	var body struct {
		CSRF    string `json:"csrf_token"`
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	_ = json.Unmarshal(r.Body, &body)
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if strings.HasSuffix(ck.Name, "gatehouse_session") && ck.Value != "" {
			return Cookie{Name: ck.Name, Value: ck.Value, CSRF: body.CSRF, SessionID: body.Session.ID}, nil
		}
	}
	return Cookie{}, fmt.Errorf("cookie login %s on %s: no session cookie in %v", email, base, r.Header["Set-Cookie"])
}

// Me is GET /v1/me with the given credential headers.
func (c *Client) Me(ctx context.Context, base string, cred []string) Response {
	return c.Do(ctx, "GET", base+"/v1/me", nil, cred...)
}

// LogoutBearer ends the session of an access token through base (204).
func (c *Client) LogoutBearer(ctx context.Context, base, access string) Response {
	return c.Do(ctx, "POST", base+"/v1/logout", nil, Bearer(access)...)
}

// RevokeAccess is RFC 7009 revocation of one access token through base.
func (c *Client) RevokeAccess(ctx context.Context, base, access string) Response {
	return c.Do(ctx, "POST", base+"/v1/revoke", url.Values{"token": {access}, "token_type_hint": {"access_token"}})
}

// Introspect asks base, as the admin whose access token is admin, whether
// tok is active (RFC 7662). This consults base's in-memory revocation list
// (no store lookup for tok), so it is how a test sees what that list
// holds. ok is false when the answer was not a 200 with "active".
func (c *Client) Introspect(ctx context.Context, base, admin, tok string) (active, ok bool, r Response) {
	r = c.Do(ctx, "POST", base+"/v1/introspect", url.Values{"token": {tok}}, Bearer(admin)...)
	if r.Status != http.StatusOK {
		return false, false, r
	}
	a, isBool := r.JSON()["active"].(bool)
	return a, isBool, r
}
