package middleware

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/token"
)

// Source says how a caller proved who they are.
type Source string

// The sources of a User.
const (
	FromBearer Source = "bearer" // an access token in the Authorization header
	FromCookie Source = "cookie" // gatehouse's session cookie, checked with gatehouse
)

// User is a verified caller.
type User struct {
	// ID is gatehouse's user ID ("usr_…"), the token's sub.
	ID string
	// Email is known for cookie callers only: access tokens do not carry it.
	Email string
	// Roles are the user's role names.
	Roles []string
	// Permissions are the granted permission patterns of those roles
	// ("notes:read", "notes:*", "*"), from the token's scope. Check them
	// with Can, never by comparing strings.
	Permissions []string
	// SessionID is the gatehouse session ("ses_…") behind the credential.
	SessionID string
	// TokenID is the access token's jti (bearer callers only).
	TokenID string
	// ExpiresAt is when the credential stops being accepted here at the
	// latest (the token's exp; for cookies, that of the token minted for
	// them).
	ExpiresAt time.Time
	// Source says whether a bearer token or a session cookie proved it.
	Source Source
}

// Can reports whether the user holds the permission, by authz.Granted: a
// granted "notes:*" or "*" covers "notes:read"; a malformed requirement is
// never granted.
func (u User) Can(permission string) bool {
	return authz.Granted(u.Permissions, permission)
}

// HasRole reports whether the user has the role.
func (u User) HasRole(role string) bool {
	return slices.Contains(u.Roles, role)
}

// clone returns u with its own slices, so that a handler changing them
// cannot change the cached answer other requests get.
func (u User) clone() User {
	u.Roles, u.Permissions = slices.Clone(u.Roles), slices.Clone(u.Permissions)
	return u
}

// userFromClaims is the caller a verified access token describes.
func userFromClaims(c token.Claims, src Source) User {
	return User{
		ID:          c.Subject,
		Roles:       slices.Clone(c.Roles),
		Permissions: strings.Fields(c.Scope),
		SessionID:   c.SessionID,
		TokenID:     c.ID,
		ExpiresAt:   c.ExpiresAt,
		Source:      src,
	}
}

// ctxKey is the context key of the User; unexported so only this package
// can set it.
type ctxKey struct{}

// UserFrom returns the caller that RequireAuth, RequirePermission,
// RequireRole or Authenticate put in the request context.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(ctxKey{}).(User)
	return u, ok
}

// ContextWithUser returns ctx carrying u, as the handlers do. It is meant
// for tests of handlers that call UserFrom.
func ContextWithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, ctxKey{}, u)
}

// Errors from Verify and the handlers' decisions; test with errors.Is.
// Token failures wrap the token package's sentinels (token.ErrExpired, …).
var (
	// ErrNoCredentials means the request carried neither a bearer token
	// nor a session cookie.
	ErrNoCredentials = errors.New("middleware: no credentials")
	// ErrBadCredentials means a credential was presented and refused:
	// malformed, forged, expired, for another issuer or audience, or a
	// session cookie gatehouse does not know.
	ErrBadCredentials = errors.New("middleware: credentials refused")
	// ErrRevoked means the token's session, the token, or every token of
	// its user was revoked (the revocation package's sentinel).
	ErrRevoked = revocation.ErrRevoked
	// ErrStale means the revocation feed has not answered for longer than
	// MaxStale, so tokens are refused (the revocation package's sentinel).
	ErrStale = revocation.ErrStale
	// ErrUnavailable means gatehouse could not be asked (network, timeout,
	// 5xx) about a session cookie.
	ErrUnavailable = errors.New("middleware: gatehouse unavailable")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("middleware: closed")
)

// unavailable reports whether err means "try again later" (503) rather
// than "not signed in" (401).
func unavailable(err error) bool {
	return errors.Is(err, ErrStale) || errors.Is(err, ErrUnavailable)
}
