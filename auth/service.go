// Package auth is gatehouse's core: accounts, password sign-in, sessions and
// their revocation. It knows nothing of HTTP or SQL; package httpapi calls
// it and the store backends serve it.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gatehouse/gatehouse/token"
)

// RoleAdmin is the built-in role that may use the admin API.
const RoleAdmin = "admin"

// maxUserAgent bounds the User-Agent kept with a session.
const maxUserAgent = 512

// Config holds the session rules. NewService fills zero fields with the
// defaults named on each field.
type Config struct {
	IdleTimeout      time.Duration // default 24h
	AbsoluteLifetime time.Duration // default 30 days
	// TouchInterval is how stale LastSeenAt may get before a request
	// writes it again; it keeps the store out of the per-request path.
	TouchInterval time.Duration // default 1 minute

	// AccessTokenTTL is the lifetime of access tokens; default 10 minutes.
	AccessTokenTTL time.Duration
	// RefreshGrace is how long the predecessor of the current refresh
	// token may still be presented (concurrent tabs) and get the current
	// pair; default 10 seconds.
	RefreshGrace time.Duration
	// Issuer and Audience go into access tokens' iss and aud and are
	// required of the tokens this service accepts.
	Issuer   string
	Audience string
	// Leeway is the clock skew tolerated on token times; default 5s.
	Leeway time.Duration
	// ReauthWindow is how recent a password check must be for sensitive
	// actions; default 10 minutes.
	ReauthWindow time.Duration
	// ResetTTL is how long a password-reset link works; default 30 minutes.
	ResetTTL time.Duration
	// Binding is the session-binding mode: off (default), loose, strict.
	Binding string
	// SessionCacheSize caps the sessions (with their users) this instance
	// keeps in memory, kept coherent by the revocation feed; default
	// 20,000; negative switches the cache off.
	SessionCacheSize int

	Now func() time.Time
}

func (c *Config) fill() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 24 * time.Hour
	}
	if c.AbsoluteLifetime <= 0 {
		c.AbsoluteLifetime = 30 * 24 * time.Hour
	}
	if c.TouchInterval <= 0 {
		c.TouchInterval = time.Minute
	}
	if c.AccessTokenTTL <= 0 {
		c.AccessTokenTTL = 10 * time.Minute
	}
	if c.RefreshGrace <= 0 {
		c.RefreshGrace = 10 * time.Second
	}
	if c.Issuer == "" {
		c.Issuer = "http://localhost:8080"
	}
	if c.Audience == "" {
		c.Audience = "gatehouse"
	}
	if c.Leeway <= 0 {
		c.Leeway = token.DefaultLeeway
	}
	if c.ReauthWindow <= 0 {
		c.ReauthWindow = 10 * time.Minute
	}
	if c.ResetTTL <= 0 {
		c.ResetTTL = 30 * time.Minute
	}
	if c.SessionCacheSize == 0 {
		c.SessionCacheSize = 20_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Deps are the parts a Service is built from.
type Deps struct {
	Store  store.Store
	Hasher *password.Hasher
	Policy password.Policy
	// AccountLimiter throttles failed sign-ins per account, IPLimiter per
	// client address. Either may be nil to switch it off.
	AccountLimiter throttle.Limiter
	IPLimiter      throttle.Limiter
	// Keys signs and verifies access tokens; nil disables token features.
	Keys KeySource
	// Revocations is this instance's in-memory revocation list; entries
	// are also written to the store for the other instances' feeds.
	Revocations *revocation.Set
	// ChainKey (32 bytes, derived from the server secret) derives each
	// refresh token from its predecessor; see refresh.go.
	ChainKey []byte
	// OnRevoke, if set, hears of every session that ends before its time
	// (logout, revocation, force logout).
	OnRevoke func(ctx context.Context, sessions []store.Session)
	// Mailer sends password-reset links; nil disables resets.
	Mailer mail.Mailer
	// OnEvent, if set, hears the type of every audit event and of every
	// revocation published ("revocation.sid", …): metrics count them.
	OnEvent func(eventType string)
	Logger  *slog.Logger
}

// KeySource gives the current signing and verification keys.
type KeySource interface {
	KeySet() *token.KeySet
}

// Service carries out sign-up, sign-in and session management.
type Service struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	verifier token.Verifier
	roles    roleCache
	verified verifiedCache
	sessions sessionCache
}

// NewService returns a Service. It starts nothing; call Run for the sweeper.
func NewService(cfg Config, deps Deps) *Service {
	cfg.fill()
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if deps.Revocations == nil {
		deps.Revocations = revocation.NewSet(0)
	}
	return &Service{cfg: cfg, deps: deps, log: log,
		verifier: token.Verifier{Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway},
		sessions: newSessionCache(cfg.SessionCacheSize)}
}

// Config returns the effective session rules.
func (s *Service) Config() Config { return s.cfg }

// Client describes where a request comes from.
type Client struct {
	IP        string
	UserAgent string
}

// SignIn is the result of a successful sign-up or sign-in.
type SignIn struct {
	User    store.User
	Session store.Session
	// Token is the secret session token; it goes to the client once and is
	// never stored.
	Token string
	// RefreshToken is set for token-mode sign-ins.
	RefreshToken string
}

// Principal is an authenticated caller.
type Principal struct {
	User    store.User
	Session store.Session
	// Bearer is set when the caller presented an access token rather than
	// the session cookie; Claims are then that token's claims.
	Bearer bool
	Claims token.Claims
}

// IsAdmin reports whether the caller holds the admin role.
func (p Principal) IsAdmin() bool { return slices.Contains(p.User.Roles, RoleAdmin) }

var (
	errBadCredentials = apperr.New(apperr.Unauthenticated, "Email or password is incorrect.")
	errNoSession      = apperr.New(apperr.Unauthenticated, "You are not signed in, or your session has ended. Please sign in.")
	errDisabled       = apperr.New(apperr.Forbidden, "This account is disabled. Contact an administrator.")
	errBusy           = apperr.Retry(apperr.Busy, "The server is busy checking passwords; please try again in a moment.", 2*time.Second)
)

// CreateUser makes an account after checking the email and the password
// policy. It does not sign in.
func (s *Service) CreateUser(ctx context.Context, actor Actor, email, pw string, roles []string) (store.User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	if err := s.deps.Policy.Check(pw); err != nil {
		return store.User{}, apperr.Wrap(apperr.Unprocessable, err.Error(), err)
	}
	hash, err := s.deps.Hasher.Hash(ctx, pw)
	if err != nil {
		return store.User{}, s.hashError(err)
	}
	if err := ValidateRoles(roles); err != nil {
		return store.User{}, err
	}
	now := s.now()
	roles = normalizeRoles(roles)
	u := store.User{ID: NewID("usr_"), Email: email, PasswordHash: hash, Roles: roles, CreatedAt: now, UpdatedAt: now}
	if err := s.deps.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.User{}, apperr.Wrap(apperr.Conflict, "An account with this email already exists. Sign in instead.", err)
		}
		return store.User{}, err
	}
	s.log.InfoContext(ctx, "user created", "user_id", u.ID, "roles", roles)
	s.audit(ctx, store.AuditEvent{Type: EventUserCreated, ActorID: actor.UserID, UserID: u.ID, IP: actor.IP,
		Detail: map[string]string{"roles": strings.Join(roles, ",")}})
	return u, nil
}

// Signup creates an account and signs it in.
func (s *Service) Signup(ctx context.Context, email, pw string, c Client, withRefresh bool) (SignIn, error) {
	u, err := s.CreateUser(ctx, Actor{IP: c.IP}, email, pw, nil)
	if err != nil {
		return SignIn{}, err
	}
	return s.startSession(ctx, u, c, withRefresh)
}

// Login checks an email and password and starts a new session. Unknown
// email and wrong password give the same error after the same work. With
// withRefresh the session also gets a refresh-token family.
func (s *Service) Login(ctx context.Context, email, pw string, c Client, withRefresh bool) (SignIn, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return SignIn{}, err
	}
	if pw == "" {
		return SignIn{}, apperr.New(apperr.Unprocessable, "Password is required.")
	}
	if len(pw) > s.deps.Policy.MaxLength*4 { // bytes: at most 4 per code point
		return SignIn{}, errBadCredentials
	}
	if s.deps.Hasher.Saturated() {
		return SignIn{}, errBusy // before any lookup: a flood costs only this
	}
	acctKey, ipKey := "acct:"+norm, "ip:"+c.IP
	if err := s.checkThrottle(ctx, acctKey, ipKey); err != nil {
		return SignIn{}, err
	}

	u, err := s.deps.Store.UserByEmail(ctx, norm)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.deps.Hasher.VerifyDummy(ctx, pw); err != nil {
			return SignIn{}, s.hashError(err)
		}
		s.recordFailure(ctx, acctKey, ipKey)
		s.log.InfoContext(ctx, "sign-in failed", "reason", "unknown email")
		s.audit(ctx, store.AuditEvent{Type: EventSignInFailed, IP: c.IP, Detail: map[string]string{"reason": "unknown email"}})
		return SignIn{}, errBadCredentials
	}
	if err != nil {
		return SignIn{}, err
	}
	ok, rehash, err := s.deps.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		if errors.Is(err, password.ErrBusy) {
			return SignIn{}, s.hashError(err)
		}
		// A stored hash we cannot read is our problem, not the caller's,
		// but it still must not sign anyone in.
		s.log.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID, "err", err)
		return SignIn{}, errBadCredentials
	}
	if !ok {
		s.recordFailure(ctx, acctKey, ipKey)
		s.log.InfoContext(ctx, "sign-in failed", "reason", "wrong password", "user_id", u.ID)
		s.audit(ctx, store.AuditEvent{Type: EventSignInFailed, UserID: u.ID, IP: c.IP, Detail: map[string]string{"reason": "wrong password"}})
		return SignIn{}, errBadCredentials
	}
	if u.Disabled {
		s.log.InfoContext(ctx, "sign-in refused", "reason", "disabled", "user_id", u.ID)
		s.audit(ctx, store.AuditEvent{Type: EventSignInFailed, UserID: u.ID, IP: c.IP, Detail: map[string]string{"reason": "disabled"}})
		return SignIn{}, errDisabled
	}
	if s.deps.AccountLimiter != nil {
		if err := s.deps.AccountLimiter.Reset(ctx, acctKey); err != nil {
			s.log.WarnContext(ctx, "throttle reset failed", "err", err)
		}
	}
	if rehash {
		s.upgradeHash(ctx, u.ID, pw)
	}
	return s.startSession(ctx, u, c, withRefresh)
}

func (s *Service) checkThrottle(ctx context.Context, acctKey, ipKey string) error {
	var wait time.Duration
	for _, l := range []struct {
		lim throttle.Limiter
		key string
	}{{s.deps.AccountLimiter, acctKey}, {s.deps.IPLimiter, ipKey}} {
		if l.lim == nil {
			continue
		}
		d, err := l.lim.Wait(ctx, l.key)
		if err != nil {
			return err
		}
		wait = max(wait, d)
	}
	if wait > 0 {
		return apperr.Retry(apperr.TooManyRequests, "Too many failed sign-in attempts. Wait a moment and try again.", wait)
	}
	return nil
}

func (s *Service) recordFailure(ctx context.Context, acctKey, ipKey string) {
	if s.deps.AccountLimiter != nil {
		if err := s.deps.AccountLimiter.Fail(ctx, acctKey); err != nil {
			s.log.WarnContext(ctx, "throttle record failed", "err", err)
		}
	}
	if s.deps.IPLimiter != nil {
		if err := s.deps.IPLimiter.Fail(ctx, ipKey); err != nil {
			s.log.WarnContext(ctx, "throttle record failed", "err", err)
		}
	}
}

// upgradeHash re-hashes a password whose stored hash uses old parameters
// or bcrypt. It is best effort: sign-in goes on if it fails.
func (s *Service) upgradeHash(ctx context.Context, userID, pw string) {
	hash, err := s.deps.Hasher.Hash(ctx, pw)
	if err != nil {
		return
	}
	_, err = s.deps.Store.UpdateUser(ctx, userID, func(u *store.User) error {
		u.PasswordHash = hash
		u.UpdatedAt = s.now()
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", "user_id", userID, "err", err)
	}
}

func (s *Service) hashError(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return errBusy
	}
	return err
}

// startSession creates a brand-new session: a fresh token on every sign-in,
// so a token planted before sign-in (fixation) is never promoted.
func (s *Service) startSession(ctx context.Context, u store.User, c Client, withRefresh bool) (SignIn, error) {
	now := s.now()
	token, hash := newSessionToken()
	sess := store.Session{
		ID:            NewID("ses_"),
		TokenHash:     hash,
		UserID:        u.ID,
		CreatedAt:     now,
		AuthTime:      now,
		LastSeenAt:    now,
		IdleExpiresAt: s.idleDeadline(now, now.Add(s.cfg.AbsoluteLifetime)),
		ExpiresAt:     now.Add(s.cfg.AbsoluteLifetime),
		IP:            c.IP,
		UserAgent:     truncate(c.UserAgent, maxUserAgent),
	}
	var refresh string
	if withRefresh {
		if s.deps.Keys == nil {
			return SignIn{}, apperr.New(apperr.Unprocessable, `Token mode is not enabled on this server; use mode "cookie".`)
		}
		rt := newRefreshToken(sess.ID)
		sess.RefreshHash, sess.RefreshGen, sess.RefreshRotatedAt = rt.hash(), rt.gen, now
		refresh = rt.String()
	}
	if err := s.deps.Store.CreateSession(ctx, sess); err != nil {
		return SignIn{}, err
	}
	s.log.InfoContext(ctx, "signed in", "user_id", u.ID, "session_id", sess.ID, "refresh", withRefresh)
	s.audit(ctx, store.AuditEvent{Type: EventSignInOK, UserID: u.ID, SessionID: sess.ID, IP: c.IP,
		Detail: map[string]string{"device": truncate(c.UserAgent, 120), "mode": map[bool]string{false: "cookie", true: "token"}[withRefresh]}})
	return SignIn{User: u, Session: sess, Token: token, RefreshToken: refresh}, nil
}

func (s *Service) idleDeadline(now, absolute time.Time) time.Time {
	d := now.Add(s.cfg.IdleTimeout)
	if d.After(absolute) {
		return absolute
	}
	return d
}

// Authenticate resolves a session token to its caller. It refuses expired
// sessions and disabled users, and renews the idle clock at most once per
// TouchInterval.
func (s *Service) Authenticate(ctx context.Context, token string, c Client) (Principal, error) {
	if !wellFormedToken(token) {
		return Principal{}, errNoSession
	}
	hash := HashToken(token)
	now := s.now()
	p, ok := s.fromCache(s.sessions.byTokenHash(hash), now)
	if !ok {
		generation := s.deps.Revocations.Generation()
		sess, err := s.deps.Store.SessionByTokenHash(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, errNoSession
		}
		if err != nil {
			return Principal{}, err
		}
		// resolve checks binding before the touch records this client.
		return s.resolve(ctx, sess, c, now, generation, errNoSession, true)
	}
	if err := s.checkBinding(ctx, p.Session, c); err != nil {
		return Principal{}, err
	}
	return p, nil
}

// fromCache answers from a cached entry (e may be nil) when it may: ok is
// false whenever the store must be asked instead — entry too old, touch
// due, a deadline passed by the cached clock, a revocation or change
// reported by the feed, or the feed stale. It never refuses by itself:
// the store has the last word on every refusal.
func (s *Service) fromCache(e *cachedSession, now time.Time) (Principal, bool) {
	if e == nil {
		return Principal{}, false
	}
	sess, u := e.sess, e.user
	if now.Sub(e.loadedAt) >= sessionCacheTTL || now.Sub(sess.LastSeenAt) >= s.cfg.TouchInterval ||
		sess.Expired(now) || u.Disabled {
		return Principal{}, false
	}
	if err := s.deps.Revocations.CheckCached(now, sess.ID, u.ID, e.generation); err != nil {
		if errors.Is(err, revocation.ErrRevoked) {
			s.sessions.remove(e)
		}
		return Principal{}, false
	}
	return Principal{User: u, Session: sess}, true
}

// cachedUser returns the user, from memory when a fresh enough copy that
// the revocation list reports unchanged is there (under the session sid,
// or on its own), else from the store.
func (s *Service) cachedUser(ctx context.Context, userID, sid string) (store.User, error) {
	now := s.now()
	if p, ok := s.fromCache(s.sessions.bySessionID(sid), now); ok && p.User.ID == userID {
		return p.User, nil
	}
	// No session here: "" matches no session entry or mark, so only the
	// user's marks (and the list's freshness) decide.
	if e := s.sessions.user(userID); e != nil && now.Sub(e.loadedAt) < sessionCacheTTL &&
		s.deps.Revocations.CheckCached(now, "", userID, e.generation) == nil {
		return e.user, nil
	}
	generation := s.deps.Revocations.Generation()
	u, err := s.deps.Store.UserByID(ctx, userID)
	if err != nil {
		return store.User{}, err
	}
	s.sessions.putUser(u, generation, now)
	return u, nil
}

// resolve finishes a lookup in the store: the session's deadlines, its
// user, session binding when bind is set, and the idle clock; then caches
// the pair. Binding is checked before the touch, which records the
// client's address in the session. generation is the revocation list's
// generation read before the session was loaded.
func (s *Service) resolve(ctx context.Context, sess store.Session, c Client, now time.Time, generation uint64, refusal error, bind bool) (Principal, error) {
	if sess.Expired(now) {
		return Principal{}, refusal
	}
	u, err := s.deps.Store.UserByID(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, refusal
	}
	if err != nil {
		return Principal{}, err
	}
	if u.Disabled {
		return Principal{}, errDisabled
	}
	if bind {
		if err := s.checkBinding(ctx, sess, c); err != nil {
			return Principal{}, err
		}
	}
	p := s.touch(ctx, u, sess, c, now)
	s.sessions.put(p.Session, p.User, generation, now)
	return p, nil
}

// touch renews the session's idle clock when LastSeenAt is older than
// TouchInterval, so a busy session costs a write a minute, not a request.
func (s *Service) touch(ctx context.Context, u store.User, sess store.Session, c Client, now time.Time) Principal {
	if now.Sub(sess.LastSeenAt) >= s.cfg.TouchInterval {
		idle := s.idleDeadline(now, sess.ExpiresAt)
		err := s.deps.Store.TouchSession(ctx, sess.ID, now, idle, c.IP)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Revoked in the meantime; the next request will say so.
		case err != nil:
			// The session is valid; a failed bookkeeping write must not
			// sign the user out.
			s.log.WarnContext(ctx, "session touch failed", "session_id", sess.ID, "err", err)
		default:
			sess.LastSeenAt, sess.IdleExpiresAt, sess.IP = now, idle, c.IP
		}
	}
	return Principal{User: u, Session: sess}
}

// Logout ends one session. The revocation is written before the session
// is deleted: if the store fails in between, the session still exists and
// the client can retry, rather than being signed out here while its access
// tokens live on elsewhere.
func (s *Service) Logout(ctx context.Context, sess store.Session) error {
	if err := s.revoked(ctx, []store.Session{sess}); err != nil {
		return err
	}
	if err := s.deps.Store.DeleteSession(ctx, sess.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.log.InfoContext(ctx, "signed out", "user_id", sess.UserID, "session_id", sess.ID)
	s.audit(ctx, store.AuditEvent{Type: EventSignOut, UserID: sess.UserID, SessionID: sess.ID, IP: sess.IP})
	return nil
}

// ListSessions returns the user's live sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	all, err := s.deps.Store.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return slices.DeleteFunc(all, func(x store.Session) bool { return x.Expired(now) }), nil
}

// RevokeSession ends one of the user's own sessions. A session of another
// user is reported as not found, so IDs cannot be probed.
func (s *Service) RevokeSession(ctx context.Context, actor Actor, userID, sessionID string) error {
	sess, err := s.deps.Store.SessionByID(ctx, sessionID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.UserID != userID) {
		return apperr.New(apperr.NotFound, "No such session.")
	}
	if err != nil {
		return err
	}
	if err := s.revoked(ctx, []store.Session{sess}); err != nil {
		return err
	}
	if err := s.deps.Store.DeleteSession(ctx, sessionID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apperr.New(apperr.NotFound, "No such session.")
		}
		return err
	}
	s.log.InfoContext(ctx, "session revoked", "user_id", userID, "session_id", sessionID)
	s.audit(ctx, store.AuditEvent{Type: EventSessionRevoked, ActorID: actor.UserID, UserID: userID, SessionID: sessionID, IP: actor.IP})
	return nil
}

// RevokeSessions ends every session of the user but except (which may be
// empty to end them all) and returns how many ended.
func (s *Service) RevokeSessions(ctx context.Context, actor Actor, userID, except string) (int, error) {
	// Revoke first (see Logout), then delete; a session that appeared in
	// between is revoked after the delete.
	before, err := s.deps.Store.ListUserSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	before = slices.DeleteFunc(before, func(x store.Session) bool { return x.ID == except })
	if err := s.revoked(ctx, before); err != nil {
		return 0, err
	}
	gone, err := s.deps.Store.DeleteUserSessions(ctx, userID, except)
	if err != nil {
		return 0, err
	}
	late := slices.DeleteFunc(slices.Clone(gone), func(x store.Session) bool {
		return slices.ContainsFunc(before, func(b store.Session) bool { return b.ID == x.ID })
	})
	if err := s.revoked(ctx, late); err != nil {
		return 0, err
	}
	s.log.InfoContext(ctx, "sessions revoked", "user_id", userID, "count", len(gone), "kept", except)
	typ := EventSessionRevoked
	if except == "" {
		typ = EventForceLogout
	}
	if len(gone) > 0 || except == "" {
		s.audit(ctx, store.AuditEvent{Type: typ, ActorID: actor.UserID, UserID: userID, IP: actor.IP,
			Detail: map[string]string{"sessions": truncate(sessionIDs(gone), 2000), "kept": except}})
	}
	return len(gone), nil
}

// revoked puts ended sessions on the revocation list — here at once, and in
// the store for every other instance — until the last access token they
// could have minted has expired.
func (s *Service) revoked(ctx context.Context, sessions []store.Session) error {
	if len(sessions) == 0 {
		return nil
	}
	now := s.now()
	entries := make([]store.Revocation, len(sessions))
	for i, x := range sessions {
		entries[i] = store.Revocation{Kind: store.RevokeSession, Key: x.ID, ExpiresAt: s.tokenHorizon(now), CreatedAt: now}
	}
	if err := s.publishRevocations(ctx, entries); err != nil {
		return err
	}
	if s.deps.OnRevoke != nil {
		s.deps.OnRevoke(ctx, sessions)
	}
	return nil
}

// tokenHorizon is the latest time a token issued now can still be accepted.
func (s *Service) tokenHorizon(now time.Time) time.Time {
	return now.Add(s.cfg.AccessTokenTTL + 2*s.cfg.Leeway)
}

// publishRevocations writes entries to the store (for every other
// instance) and applies them here. When the write fails, this instance
// still applies them, and the error goes back to the caller: a revocation
// that only one instance knows must not be reported as done.
func (s *Service) publishRevocations(ctx context.Context, entries []store.Revocation) error {
	written, err := s.deps.Store.AddRevocations(ctx, entries)
	if err != nil {
		s.log.ErrorContext(ctx, "revocation write failed; only this instance refuses the tokens", "err", err)
		s.deps.Revocations.Apply(s.now(), entries)
		return apperr.Wrap(apperr.Unavailable, "The revocation could not be recorded for every server; please try again.", err)
	}
	if s.deps.OnEvent != nil {
		for _, e := range entries {
			s.deps.OnEvent("revocation." + e.Kind)
		}
	}
	// Applied after the write, so that whoever this wakes (the HTTP feed's
	// long polls) finds the entries in the store.
	s.deps.Revocations.Apply(s.now(), written)
	return nil
}

// User returns one user, as NotFound when missing.
func (s *Service) User(ctx context.Context, id string) (store.User, error) {
	u, err := s.deps.Store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, apperr.Wrap(apperr.NotFound, "No such user.", err)
	}
	return u, err
}

// UserByEmail returns one user by email, as NotFound when missing.
func (s *Service) UserByEmail(ctx context.Context, email string) (store.User, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.deps.Store.UserByEmail(ctx, norm)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, apperr.Wrap(apperr.NotFound, "No user with this email.", err)
	}
	return u, err
}

// ListUsers pages through users.
func (s *Service) ListUsers(ctx context.Context, opts store.ListUsersOptions) ([]store.User, error) {
	return s.deps.Store.ListUsers(ctx, opts)
}

// CountUsers tells how many accounts exist (zero on a fresh install).
func (s *Service) CountUsers(ctx context.Context) (int, error) {
	return s.deps.Store.CountUsers(ctx)
}

// SetRoles replaces the user's roles.
func (s *Service) SetRoles(ctx context.Context, actor Actor, userID string, roles []string) (store.User, error) {
	if err := ValidateRoles(roles); err != nil {
		return store.User{}, err
	}
	roles = normalizeRoles(roles)
	u, err := s.updateUser(ctx, userID, func(u *store.User) error {
		u.Roles = roles
		return nil
	})
	if err == nil {
		// Access tokens carry the old roles: revoke them so the next
		// request (after a refresh) sees the new ones.
		if err := s.RevokeUserTokens(ctx, userID); err != nil {
			return u, err
		}
		s.log.InfoContext(ctx, "roles set", "user_id", userID, "roles", roles)
		s.audit(ctx, store.AuditEvent{Type: EventRolesChanged, ActorID: actor.UserID, UserID: userID, IP: actor.IP,
			Detail: map[string]string{"roles": strings.Join(roles, ",")}})
	}
	return u, err
}

// SetDisabled disables or enables an account. Disabling ends every session.
func (s *Service) SetDisabled(ctx context.Context, actor Actor, userID string, disabled bool) (store.User, error) {
	u, err := s.updateUser(ctx, userID, func(u *store.User) error {
		u.Disabled = disabled
		return nil
	})
	if err != nil {
		return u, err
	}
	s.log.InfoContext(ctx, "user disabled changed", "user_id", userID, "disabled", disabled)
	typ := EventUserEnabled
	if disabled {
		typ = EventUserDisabled
	}
	s.audit(ctx, store.AuditEvent{Type: typ, ActorID: actor.UserID, UserID: userID, IP: actor.IP})
	if disabled {
		if err := s.RevokeUserTokens(ctx, userID); err != nil {
			return u, err
		}
		if _, err := s.RevokeSessions(ctx, actor, userID, ""); err != nil {
			return u, err
		}
	}
	return u, nil
}

// RevokeUserTokens makes every access token of the user issued until now
// invalid, on every instance (a per-user not-before time).
func (s *Service) RevokeUserTokens(ctx context.Context, userID string) error {
	now := s.now()
	// Tokens carry iat in whole seconds: the not-before is the next second,
	// so a token minted in this very second is caught too.
	nb := now.Truncate(time.Second).Add(time.Second)
	// A second revocation within the same second must still catch tokens
	// minted after the first (which carry iat = the first not-before).
	if cur := s.deps.Revocations.UserNotBefore(now, userID); !nb.After(cur) {
		nb = cur.Add(time.Second)
	}
	return s.publishRevocations(ctx, []store.Revocation{{Kind: store.RevokeUser, Key: userID, NotBefore: nb, ExpiresAt: s.tokenHorizon(nb), CreatedAt: now}})
}

func (s *Service) updateUser(ctx context.Context, userID string, fn func(u *store.User) error) (store.User, error) {
	u, err := s.deps.Store.UpdateUser(ctx, userID, func(u *store.User) error {
		if err := fn(u); err != nil {
			return err
		}
		u.UpdatedAt = s.now()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, apperr.Wrap(apperr.NotFound, "No such user.", err)
	}
	if err != nil {
		return store.User{}, err
	}
	s.invalidate(ctx, store.UserChanged, userID)
	return u, nil
}

// invalidate tells every instance (this one at once) that a user or
// session record changed, so that their session caches reread it. A
// failed announcement is logged, not returned: the change is stored, the
// security steps that follow it (token and session revocations, which
// report their own failures) must still run, and other instances reread
// the record within sessionCacheTTL anyway.
func (s *Service) invalidate(ctx context.Context, kind, key string) {
	now := s.now()
	entry := []store.Revocation{{Kind: kind, Key: key, ExpiresAt: now.Add(invalidationLifetime), CreatedAt: now}}
	written, err := s.deps.Store.AddRevocations(ctx, entry)
	if err != nil {
		s.log.ErrorContext(ctx, "change saved but not announced to other instances; their caches catch up within 30s", "kind", kind, "key", key, "err", err)
		s.deps.Revocations.Apply(now, entry)
		return
	}
	s.deps.Revocations.Apply(now, written)
}

// SweepExpired deletes the sessions that have expired by now.
func (s *Service) SweepExpired(ctx context.Context) (int, error) {
	return s.deps.Store.DeleteExpiredSessions(ctx, s.now())
}

// Run sweeps expired sessions every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.SweepExpired(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "session sweep failed", "err", err)
			} else if n > 0 {
				s.log.InfoContext(ctx, "expired sessions swept", "count", n)
			}
		}
	}
}

// now is the injected clock in UTC, cut to the millisecond the stores keep,
// so a record reads back exactly as it was written.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// ValidateRoles checks role names: 1–64 characters of a-z, 0-9, '_', '-',
// '.' and ':', starting with a letter or digit.
func ValidateRoles(roles []string) error {
	for _, r := range roles {
		if !validRole(r) {
			return apperr.New(apperr.Unprocessable, fmt.Sprintf("Role %q is not a valid name: use 1–64 lower-case letters, digits, '_', '-', '.' or ':'.", truncate(r, 80)))
		}
	}
	return nil
}

func validRole(r string) bool {
	if len(r) == 0 || len(r) > 64 {
		return false
	}
	for i, c := range r {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '-' || c == '.' || c == ':'):
		default:
			return false
		}
	}
	return true
}

// normalizeRoles drops duplicates and sorts.
func normalizeRoles(roles []string) []string {
	out := slices.Clone(roles)
	slices.Sort(out)
	return slices.Compact(out)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ChangePassword replaces the user's password after checking the current
// one, and ends every other session of the user with its tokens: whoever
// knew the old password is out. The calling session stays.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string, c Client) error {
	if current == "" || next == "" {
		return apperr.New(apperr.Unprocessable, "Both the current and the new password are required.")
	}
	if err := s.verifyOwnPassword(ctx, p.User.ID, current, c); err != nil {
		return err
	}
	u := p.User
	if err := s.deps.Policy.Check(next); err != nil {
		return apperr.Wrap(apperr.Unprocessable, err.Error(), err)
	}
	if current == next {
		return apperr.New(apperr.Unprocessable, "The new password must differ from the current one.")
	}
	hash, err := s.deps.Hasher.Hash(ctx, next)
	if err != nil {
		return s.hashError(err)
	}
	if _, err := s.updateUser(ctx, u.ID, func(x *store.User) error {
		x.PasswordHash = hash
		return nil
	}); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEvent{Type: EventPasswordChanged, UserID: u.ID, SessionID: p.Session.ID, IP: c.IP})
	_, err = s.RevokeSessions(ctx, Actor{UserID: u.ID, IP: c.IP}, u.ID, p.Session.ID)
	return err
}
