package auth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/token"
)

// TokenPair is what token mode and the refresh grant hand out.
type TokenPair struct {
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken string
	SessionID    string
}

var (
	errInvalidGrant = apperr.OAuth(apperr.Invalid, "invalid_grant", "The refresh token is invalid, expired, revoked or already used.")
	errNoTokens     = apperr.New(apperr.Unprocessable, "Tokens are not enabled on this server.")
	errBadToken     = apperr.New(apperr.Unauthenticated, "The access token is invalid, expired or revoked. Get a new one.")
)

// errGraceReplay is UpdateSession's way of saying "do not write": the
// caller lost a rotation race within the grace window.
var errGraceReplay = errors.New("refresh: predecessor within grace window")

// errReuse says a genuine, already-spent refresh token came back: theft.
var errReuse = errors.New("refresh: spent token reused")

// MintAccessToken signs an access token for the principal's session.
func (s *Service) MintAccessToken(ctx context.Context, p Principal) (string, time.Duration, error) {
	if s.deps.Keys == nil {
		return "", 0, errNoTokens
	}
	perms, err := s.Permissions(ctx, p.User.Roles)
	if err != nil {
		return "", 0, err
	}
	now := s.cfg.Now()
	issued := now
	// iat has whole seconds: right after a per-user revocation (not-before
	// rounded up to the next second) a new token must not look older than
	// it. The verifier's leeway absorbs the sub-second step forward.
	if nb := s.deps.Revocations.UserNotBefore(now, p.User.ID); issued.Before(nb) {
		issued = nb
	}
	c := token.Claims{
		Scope:     strings.Join(perms, " "),
		Issuer:    s.cfg.Issuer,
		Subject:   p.User.ID,
		Audience:  []string{s.cfg.Audience},
		IssuedAt:  issued,
		ExpiresAt: now.Add(s.cfg.AccessTokenTTL),
		SessionID: p.Session.ID,
		Roles:     p.User.Roles,
		AuthTime:  p.Session.AuthTime,
	}
	tok, err := s.deps.Keys.KeySet().Issue(c)
	if err != nil {
		return "", 0, err
	}
	return tok, s.cfg.AccessTokenTTL, nil
}

// pairFor mints an access token to go with a refresh token.
func (s *Service) pairFor(ctx context.Context, u store.User, sess store.Session, refresh string) (TokenPair, error) {
	at, ttl, err := s.MintAccessToken(ctx, Principal{User: u, Session: sess})
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: at, ExpiresIn: ttl, RefreshToken: refresh, SessionID: sess.ID}, nil
}

// LoginTokens signs in in token mode: a new session with a refresh-token
// family, and a first access token.
func (s *Service) LoginTokens(ctx context.Context, in SignIn) (TokenPair, error) {
	return s.pairFor(ctx, in.User, in.Session, in.RefreshToken)
}

// Refresh rotates a refresh token: the presented token is spent and a new
// pair is returned. See refresh.go for the chain. The cases:
//   - the current token: rotate (atomically in the store) and return the
//     successor;
//   - its immediate predecessor within RefreshGrace of the rotation (two
//     tabs raced): return the current token again with a fresh access
//     token — the same family, never a second one;
//   - any genuine older token, or the predecessor after the grace window:
//     theft; the session is revoked and the event audited;
//   - anything else: invalid_grant, and nothing changes.
//
// A store failure leaves the presented token usable.
func (s *Service) Refresh(ctx context.Context, refresh string, c Client) (TokenPair, error) {
	if s.deps.Keys == nil {
		return TokenPair{}, errNoTokens
	}
	rt, ok := parseRefreshToken(refresh)
	if !ok {
		return TokenPair{}, errInvalidGrant
	}
	sess, err := s.deps.Store.SessionByID(ctx, rt.sessionID)
	if errors.Is(err, store.ErrNotFound) {
		return TokenPair{}, errInvalidGrant
	}
	if err != nil {
		return TokenPair{}, err
	}
	now := s.now()
	if sess.Expired(now) {
		return TokenPair{}, errInvalidGrant
	}
	u, err := s.deps.Store.UserByID(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return TokenPair{}, errInvalidGrant
	}
	if err != nil {
		return TokenPair{}, err
	}
	if err := s.checkBinding(ctx, sess, c); err != nil {
		return TokenPair{}, errInvalidGrant
	}

	var out refreshToken
	sess, err = s.deps.Store.UpdateSession(ctx, rt.sessionID, func(x *store.Session) error {
		out = refreshToken{}
		if len(x.RefreshHash) == 0 {
			return errInvalidGrant
		}
		switch {
		case rt.gen == x.RefreshGen:
			if !rt.matches(x.RefreshHash) {
				return errInvalidGrant
			}
			out = rt.next(s.deps.ChainKey)
			x.RefreshHash, x.RefreshGen, x.RefreshRotatedAt = out.hash(), out.gen, now
			x.LastSeenAt, x.IdleExpiresAt, x.IP = now, s.idleDeadline(now, x.ExpiresAt), c.IP
			return nil
		case rt.gen == x.RefreshGen-1:
			succ := rt.next(s.deps.ChainKey)
			if !succ.matches(x.RefreshHash) {
				return errInvalidGrant
			}
			if now.Sub(x.RefreshRotatedAt) <= s.cfg.RefreshGrace {
				out = succ
				return errGraceReplay
			}
			return errReuse
		case rt.chainsTo(s.deps.ChainKey, x.RefreshGen, x.RefreshHash):
			return errReuse
		default:
			return errInvalidGrant
		}
	})
	switch {
	case err == nil, errors.Is(err, errGraceReplay):
		if errors.Is(err, errGraceReplay) {
			// The winner's session state is current; read it back for the
			// access token.
			if sess, err = s.deps.Store.SessionByID(ctx, rt.sessionID); err != nil {
				return TokenPair{}, errInvalidGrant
			}
		}
		return s.pairFor(ctx, u, sess, out.String())
	case errors.Is(err, errReuse):
		s.refreshReuse(ctx, rt, c)
		return TokenPair{}, errInvalidGrant
	case errors.Is(err, store.ErrNotFound):
		return TokenPair{}, errInvalidGrant
	default:
		return TokenPair{}, err // includes errInvalidGrant
	}
}

// refreshReuse revokes the session whose spent refresh token came back.
func (s *Service) refreshReuse(ctx context.Context, rt refreshToken, c Client) {
	sess, err := s.deps.Store.SessionByID(ctx, rt.sessionID)
	if err != nil {
		return
	}
	if err := s.revoked(ctx, []store.Session{sess}); err != nil {
		s.log.ErrorContext(ctx, "revoking tokens after refresh reuse failed", "session_id", sess.ID, "err", err)
	}
	if err := s.deps.Store.DeleteSession(ctx, sess.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "revoking session after refresh reuse failed", "session_id", sess.ID, "err", err)
	}
	s.log.WarnContext(ctx, "refresh token reuse: session revoked", "user_id", sess.UserID, "session_id", sess.ID, "generation", rt.gen)
	s.audit(ctx, store.AuditEvent{Type: EventRefreshReuse, UserID: sess.UserID, SessionID: sess.ID, IP: c.IP,
		Detail: map[string]string{"presented_generation": strconv.FormatInt(rt.gen, 10), "current_generation": strconv.FormatInt(sess.RefreshGen, 10)}})
}

// VerifyAccessToken checks an access token: signature, claims and the
// revocation list, with no store round trip.
func (s *Service) VerifyAccessToken(tok string) (token.Claims, error) {
	if s.deps.Keys == nil {
		return token.Claims{}, errNoTokens
	}
	now := s.cfg.Now()
	ks := s.deps.Keys.KeySet()
	c, hit := s.verified.get(ks, tok)
	if hit && expired(c, now, s.cfg.Leeway) {
		return token.Claims{}, apperr.Wrap(apperr.Unauthenticated, errBadToken.Message, token.ErrExpired)
	}
	if !hit {
		var err error
		if c, err = s.verifier.Verify(ks, tok, now); err != nil {
			return token.Claims{}, apperr.Wrap(apperr.Unauthenticated, errBadToken.Message, err)
		}
		s.verified.put(ks, tok, c)
	}
	if err := s.deps.Revocations.Check(now, c.SessionID, c.ID, c.Subject, c.IssuedAt); err != nil {
		if errors.Is(err, revocation.ErrStale) {
			return token.Claims{}, apperr.Wrap(apperr.Unavailable, "Token checks are paused: this server lost its revocation feed. Try again shortly.", err)
		}
		return token.Claims{}, apperr.Wrap(apperr.Unauthenticated, errBadToken.Message, err)
	}
	return c, nil
}

// AuthenticateBearer resolves an access token to its caller for
// gatehouse's own API, which also needs the live session and user.
func (s *Service) AuthenticateBearer(ctx context.Context, tok string, cl Client) (Principal, error) {
	c, err := s.VerifyAccessToken(tok)
	if err != nil {
		return Principal{}, err
	}
	now := s.now()
	p, ok := s.fromCache(s.sessions.bySessionID(c.SessionID), now)
	if !ok || p.Session.UserID != c.Subject {
		generation := s.deps.Revocations.Generation()
		sess, err := s.deps.Store.SessionByID(ctx, c.SessionID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sess.UserID != c.Subject) {
			return Principal{}, errBadToken
		}
		if err != nil {
			return Principal{}, err
		}
		if p, err = s.resolve(ctx, sess, cl, now, generation, errBadToken, false); err != nil {
			return Principal{}, err
		}
	}
	p.Bearer, p.Claims = true, c
	return p, nil
}

// RevokeToken is RFC 7009 revocation: a refresh token ends its whole
// session (its family); an access token is revoked by its jti until it
// expires. Unknown, invalid or already-dead tokens are not an error; a
// store failure is (503), so that a client never believes a revocation
// that did not happen.
func (s *Service) RevokeToken(ctx context.Context, tok, hint string, c Client) error {
	if s.deps.Keys == nil {
		return errNoTokens
	}
	tryRefresh := func() (bool, error) {
		rt, ok := parseRefreshToken(tok)
		if !ok {
			return false, nil
		}
		sess, err := s.deps.Store.SessionByID(ctx, rt.sessionID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if len(sess.RefreshHash) == 0 || !rt.chainsTo(s.deps.ChainKey, sess.RefreshGen, sess.RefreshHash) {
			return false, nil
		}
		if err := s.revoked(ctx, []store.Session{sess}); err != nil {
			return false, err
		}
		if err := s.deps.Store.DeleteSession(ctx, sess.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		s.audit(ctx, store.AuditEvent{Type: EventTokenRevoked, UserID: sess.UserID, SessionID: sess.ID, IP: c.IP, Detail: map[string]string{"token": "refresh"}})
		return true, nil
	}
	tryAccess := func() (bool, error) {
		claims, err := s.VerifyAccessToken(tok)
		if err != nil {
			if apperr.CodeOf(err) == apperr.Unavailable {
				return false, err // cannot tell: do not pretend
			}
			return false, nil
		}
		now := s.now()
		if err := s.publishRevocations(ctx, []store.Revocation{{Kind: store.RevokeToken, Key: claims.ID, ExpiresAt: claims.ExpiresAt.Add(2 * s.cfg.Leeway), CreatedAt: now}}); err != nil {
			return false, err
		}
		s.audit(ctx, store.AuditEvent{Type: EventTokenRevoked, UserID: claims.Subject, SessionID: claims.SessionID, IP: c.IP, Detail: map[string]string{"token": "access", "jti": claims.ID}})
		return true, nil
	}
	first, second := tryRefresh, tryAccess
	if hint == "access_token" {
		first, second = tryAccess, tryRefresh
	}
	if done, err := first(); done || err != nil {
		return err
	}
	_, err := second()
	return err
}

// Introspection is an RFC 7662 answer.
type Introspection struct {
	Active    bool
	TokenType string // "access_token" or "refresh_token"
	Claims    token.Claims
	Email     string
	ExpiresAt time.Time
}

// Introspect says whether a token is active now and what it carries.
func (s *Service) Introspect(ctx context.Context, tok string) (Introspection, error) {
	if s.deps.Keys == nil {
		return Introspection{}, errNoTokens
	}
	if rt, ok := parseRefreshToken(tok); ok {
		sess, err := s.deps.Store.SessionByID(ctx, rt.sessionID)
		if err != nil || sess.Expired(s.now()) || rt.gen != sess.RefreshGen || !rt.matches(sess.RefreshHash) {
			return Introspection{}, nil
		}
		u, err := s.deps.Store.UserByID(ctx, sess.UserID)
		if err != nil || u.Disabled {
			return Introspection{}, nil
		}
		return Introspection{Active: true, TokenType: "refresh_token", Email: u.Email, ExpiresAt: sess.ExpiresAt,
			Claims: token.Claims{Subject: u.ID, SessionID: sess.ID, IssuedAt: sess.RefreshRotatedAt, Issuer: s.cfg.Issuer, Roles: u.Roles}}, nil
	}
	c, err := s.VerifyAccessToken(tok)
	if err != nil {
		if apperr.CodeOf(err) == apperr.Unavailable {
			return Introspection{}, err
		}
		return Introspection{}, nil
	}
	in := Introspection{Active: true, TokenType: "access_token", Claims: c, ExpiresAt: c.ExpiresAt}
	if u, err := s.cachedUser(ctx, c.Subject, c.SessionID); err == nil {
		in.Email = u.Email
	}
	return in, nil
}

// RevocationsSince reads the store's revocation list after seq, for the
// HTTP feed that remote verifiers follow.
func (s *Service) RevocationsSince(ctx context.Context, after int64) ([]store.Revocation, error) {
	return s.deps.Store.RevocationsSince(ctx, after, s.now())
}
