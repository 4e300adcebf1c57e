// Package store defines gatehouse's persistent records and one small
// interface per concern. Backends (memory, sqlite, and later postgres and
// redis) implement them; package storetest is the conformance suite every
// backend runs.
//
// Contract shared by every interface here:
//   - Lookups of a missing record return an error matching ErrNotFound.
//   - Creating a record whose unique key exists returns ErrAlreadyExists and
//     writes nothing.
//   - Deleting a missing record returns ErrNotFound (callers that do not
//     care test with errors.Is and ignore it).
//   - Returned records are copies: mutating them never changes the store.
//   - Times are stored to the millisecond (rounded down) and returned in UTC.
//   - Emails are matched as given; callers normalise them (trimmed, lower
//     case). Backends may also fold ASCII case, as SQLite's NOCASE does.
//   - A backend may return ErrConflict from a read-modify-write when a
//     concurrent writer won; callers may retry.
//   - Listing or deleting the sessions of an unknown user returns an empty
//     result, not ErrNotFound.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors at the storage boundary. Backends wrap them with %w.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrAlreadyExists = errors.New("store: already exists")
	ErrConflict      = errors.New("store: conflict")
)

// User is an account. Email is already normalised (trimmed, lower case) by
// the caller; the store enforces its uniqueness.
type User struct {
	ID           string
	Email        string
	PasswordHash string // PHC string (argon2id) or an imported bcrypt hash
	Roles        []string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is one sign-in on one device. The session token itself is never
// stored: only its SHA-256 (TokenHash).
type Session struct {
	ID        string // public identifier, safe to show and to put in tokens (sid)
	TokenHash []byte // SHA-256 of the secret session token, 32 bytes
	UserID    string
	CreatedAt time.Time
	AuthTime  time.Time // when the user last proved who they are in this session
	// LastSeenAt is the last recorded use. It is written at most about once
	// a minute, so it may lag the real last use by that much.
	LastSeenAt time.Time
	// IdleExpiresAt is LastSeenAt plus the idle timeout; ExpiresAt is the
	// absolute end of the session. The session is dead at the earlier one.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	IP            string // client IP at the last recorded use
	UserAgent     string // raw User-Agent at sign-in, truncated by the caller

	// Refresh-token state, for sessions signed in in token mode; all zero
	// for cookie sessions. Only the hash of the current refresh token is
	// kept. RefreshGen counts rotations (1 for the first token) and
	// RefreshRotatedAt is when the current token was issued.
	RefreshHash      []byte
	RefreshGen       int64
	RefreshRotatedAt time.Time
}

// Expired reports whether the session is past either of its deadlines.
func (s *Session) Expired(now time.Time) bool {
	return !now.Before(s.ExpiresAt) || !now.Before(s.IdleExpiresAt)
}

// ListUsersOptions filters and pages ListUsers. The zero value lists the
// first page of every user.
type ListUsersOptions struct {
	EmailPrefix string // only users whose email starts with this, if set
	After       string // only users whose ID sorts after this (paging)
	Limit       int    // at most this many; <= 0 means 100
}

// Users stores accounts.
type Users interface {
	// CreateUser inserts u. It returns ErrAlreadyExists when the ID or the
	// email is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByID and UserByEmail return ErrNotFound for a missing user.
	UserByID(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns users ordered by ID.
	ListUsers(ctx context.Context, opts ListUsersOptions) ([]User, error)
	// CountUsers returns how many users exist.
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser reads the user, passes a copy to fn and, if fn returns nil,
	// writes fn's result atomically. The ID cannot change. An email that
	// collides with another user gives ErrAlreadyExists and writes nothing;
	// an error from fn is returned as is and writes nothing.
	UpdateUser(ctx context.Context, id string, fn func(u *User) error) (User, error)
}

// Sessions stores sign-in sessions.
type Sessions interface {
	// CreateSession inserts s. ErrAlreadyExists when its ID or token hash
	// exists.
	CreateSession(ctx context.Context, s Session) error
	// SessionByTokenHash and SessionByID return ErrNotFound for a missing
	// session. They do not check expiry: the caller does, with the clock.
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (Session, error)
	SessionByID(ctx context.Context, id string) (Session, error)
	// ListUserSessions returns the user's sessions, newest first.
	ListUserSessions(ctx context.Context, userID string) ([]Session, error)
	// TouchSession records a use: it sets LastSeenAt, IdleExpiresAt and IP.
	// ErrNotFound when the session is gone.
	TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time, ip string) error
	// UpdateSession reads the session, passes a copy to fn and, if fn
	// returns nil, writes fn's result atomically: concurrent updates of one
	// session are serialised, so two callers can never both see the same
	// old state and both write (refresh rotation relies on this). ID and
	// UserID cannot change. An error from fn is returned as is and writes
	// nothing; ErrNotFound when the session is missing.
	UpdateSession(ctx context.Context, id string, fn func(s *Session) error) (Session, error)
	// DeleteSession removes one session; ErrNotFound when it is missing.
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions removes every session of the user except the one
	// whose ID is except (if non-empty), and returns the removed sessions
	// (callers need their IDs to revoke their tokens).
	DeleteUserSessions(ctx context.Context, userID, except string) ([]Session, error)
	// DeleteExpiredSessions removes the sessions dead at now and returns
	// how many it removed.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}

// SigningKey is a token-signing key. The private key is sealed (encrypted
// with a key derived from the server secret) before it reaches the store.
type SigningKey struct {
	ID        string // the JWS "kid"
	Alg       string // EdDSA, ES256, RS256 or HS256
	Sealed    []byte // the sealed private key
	CreatedAt time.Time
	// RetiredAt is zero while the key may sign. Once a newer key takes
	// over it is set, and the key only verifies until the tokens it signed
	// have expired.
	RetiredAt time.Time
}

// Keys stores signing keys.
type Keys interface {
	// CreateKey inserts k; ErrAlreadyExists when its ID exists.
	CreateKey(ctx context.Context, k SigningKey) error
	// ListKeys returns every key, oldest first (by CreatedAt, then ID).
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// RetireKeys sets RetiredAt to at on every key that is not retired yet,
	// except the key whose ID is except. Keys already retired keep their
	// time.
	RetireKeys(ctx context.Context, except string, at time.Time) error
	// DeleteKey removes a key; ErrNotFound when it is missing.
	DeleteKey(ctx context.Context, id string) error
}

// Revocation kinds.
const (
	RevokeSession = "sid"  // every token of the session Key
	RevokeToken   = "jti"  // the one token whose jti is Key
	RevokeUser    = "user" // every token of user Key issued before NotBefore

	// Invalidations travel on the same list but revoke nothing: they tell
	// every instance that a record it may hold in memory changed, so it
	// rereads it. They never leave gatehouse (the HTTP feed drops them).
	UserChanged    = "user-changed"    // the user record Key changed
	SessionChanged = "session-changed" // the session record Key changed
)

// IsInvalidation reports whether kind is an invalidation, not a revocation.
func IsInvalidation(kind string) bool { return kind == UserChanged || kind == SessionChanged }

// Revocation is an entry of the revocation list: tokens it covers must be
// refused until ExpiresAt, after which none of them can be valid anyway.
type Revocation struct {
	// Seq is assigned by the store on insert: strictly increasing in the
	// order entries become visible, so an instance can ask for what is new
	// since the last Seq it saw.
	Seq       int64
	Kind      string
	Key       string
	NotBefore time.Time // RevokeUser only
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Revocations stores the revocation list that every instance mirrors in
// memory.
type Revocations interface {
	// AddRevocations appends entries (Seq is ignored on input and assigned)
	// and returns them with their Seq.
	AddRevocations(ctx context.Context, rs []Revocation) ([]Revocation, error)
	// RevocationsSince returns the entries with Seq > after that are not
	// expired at now, by ascending Seq. after = 0 gives the whole live list.
	RevocationsSince(ctx context.Context, after int64, now time.Time) ([]Revocation, error)
	// DeleteExpiredRevocations removes entries expired at now.
	DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error)
}

// Role is a named set of permissions ("notes:read", "notes:*", "*").
type Role struct {
	Name        string
	Permissions []string // sorted, without duplicates
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RoleStore stores role definitions. It is a separate interface (found by
// type assertion on a Store) so that backends can gain it one at a time;
// without it only the built-in admin role exists.
type RoleStore interface {
	// PutRole creates the role or replaces its permissions and description
	// (keeping CreatedAt of an existing role).
	PutRole(ctx context.Context, r Role) error
	// DeleteRole removes a role; ErrNotFound when it is missing. Users
	// keep the name in their roles; it grants nothing.
	DeleteRole(ctx context.Context, name string) error
	// ListRoles returns every role, by name.
	ListRoles(ctx context.Context) ([]Role, error)
}

// ResetToken is a password-reset token; only its SHA-256 is kept.
type ResetToken struct {
	TokenHash []byte
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ResetTokenStore keeps password-reset tokens. Optional, like RoleStore.
type ResetTokenStore interface {
	// CreateResetToken stores t; ErrAlreadyExists for a duplicate hash.
	CreateResetToken(ctx context.Context, t ResetToken) error
	// ConsumeResetToken deletes the token with this hash and returns it,
	// atomically, so a token works once; ErrNotFound when there is none.
	// It does not check expiry: the caller does.
	ConsumeResetToken(ctx context.Context, tokenHash []byte) (ResetToken, error)
	// DeleteUserResetTokens removes every token of the user (after a reset
	// or a password change).
	DeleteUserResetTokens(ctx context.Context, userID string) error
}

// SessionCounter is an optional capability for metrics: how many sessions
// are alive at now.
type SessionCounter interface {
	CountSessions(ctx context.Context, now time.Time) (int, error)
}

// RevocationWatcher is an optional capability of a store that can push
// revocations (PostgreSQL LISTEN/NOTIFY, Redis pub/sub). WatchRevocations
// calls notify whenever new entries may have been added — possibly
// spuriously — and blocks until ctx ends or the connection fails, returning
// the error; the caller then resynchronises and watches again.
type RevocationWatcher interface {
	WatchRevocations(ctx context.Context, notify func()) error
}

// AuditEvent is one line of the audit log. It never holds a secret.
type AuditEvent struct {
	ID        int64 // assigned by the store, increasing
	Time      time.Time
	Type      string // e.g. "signin.ok", "session.revoked", "refresh.reuse"
	ActorID   string // the user who acted, if not the subject or the system
	UserID    string // the user the event is about
	SessionID string
	IP        string
	Detail    map[string]string
}

// AuditFilter selects audit events; zero fields do not filter.
type AuditFilter struct {
	UserID string
	Type   string
	Since  time.Time // Time >= Since
	Until  time.Time // Time < Until
	Before int64     // ID < Before (paging backwards)
	Limit  int       // <= 0 means 100
}

// Audit stores the audit log. It is append-only.
type Audit interface {
	// AppendAudit adds e (its ID is assigned) and returns the ID.
	AppendAudit(ctx context.Context, e AuditEvent) (int64, error)
	// ListAudit returns matching events, newest first (by ID).
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// Store is everything a backend offers. Optional capabilities (a revocation
// feed, say) are separate interfaces found by type assertion.
type Store interface {
	Users
	Sessions
	Keys
	Revocations
	Audit
	// Ping checks that the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}
