package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/useragent"
)

var errBadResetToken = apperr.New(apperr.Invalid, "This reset link is invalid, expired or already used. Ask for a new one.")

// ForgotPassword starts a password reset: if the email belongs to an
// enabled account, a single-use link valid for ResetTTL is mailed to it.
// The caller gets the same answer either way, and the mail goes out in the
// background, so neither the answer nor its timing tells whether the
// account exists.
func (s *Service) ForgotPassword(ctx context.Context, email string, c Client) error {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	rs, ok := s.deps.Store.(store.ResetTokenStore)
	if !ok || s.deps.Mailer == nil {
		return apperr.New(apperr.Unprocessable, "Password reset is not available on this server.")
	}
	if err := s.checkThrottle(ctx, "reset:"+norm, "ip:"+c.IP); err != nil {
		return err
	}
	// Counting requests as failures keeps one address or IP from flooding
	// someone's inbox; a completed reset does not reset the counter.
	s.recordFailure(ctx, "reset:"+norm, "ip:"+c.IP)
	u, err := s.deps.Store.UserByEmail(ctx, norm)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		s.audit(ctx, store.AuditEvent{Type: EventPasswordResetRequested, IP: c.IP, Detail: map[string]string{"result": "no such enabled account"}})
		return nil
	}
	if err != nil {
		return err
	}
	var b [32]byte
	rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	if err := rs.CreateResetToken(ctx, store.ResetToken{TokenHash: HashToken(tok), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.ResetTTL)}); err != nil {
		return err
	}
	s.audit(ctx, store.AuditEvent{Type: EventPasswordResetRequested, UserID: u.ID, IP: c.IP})
	// The token travels in the URL fragment, which browsers never send to
	// a server or put in Referer headers.
	link := s.cfg.Issuer + "/reset#token=" + tok
	msg := mail.Message{To: u.Email, Subject: "Reset your password",
		Text: "Someone (hopefully you) asked to reset the password of your account.\n\n" +
			"Open this link within " + s.cfg.ResetTTL.String() + " to choose a new password:\n\n" + link +
			"\n\nIf you did not ask for this, ignore this mail: your password stays as it is.\n"}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := s.deps.Mailer.Send(ctx, msg); err != nil {
			s.log.ErrorContext(ctx, "sending the password-reset mail failed", "user_id", u.ID, "err", err)
		}
	}()
	return nil
}

// ResetPassword uses a reset token: it sets the new password and ends
// every session of the user, with their tokens. The token works once.
func (s *Service) ResetPassword(ctx context.Context, tok, next string, c Client) error {
	rs, ok := s.deps.Store.(store.ResetTokenStore)
	if !ok {
		return apperr.New(apperr.Unprocessable, "Password reset is not available on this server.")
	}
	if !wellFormedToken(tok) {
		return errBadResetToken
	}
	// Check the new password before spending the token, so a weak choice
	// does not burn the link.
	if err := s.deps.Policy.Check(next); err != nil {
		return apperr.Wrap(apperr.Unprocessable, err.Error(), err)
	}
	rt, err := rs.ConsumeResetToken(ctx, HashToken(tok))
	if errors.Is(err, store.ErrNotFound) {
		return errBadResetToken
	}
	if err != nil {
		return err
	}
	if !s.now().Before(rt.ExpiresAt) {
		return errBadResetToken
	}
	hash, err := s.deps.Hasher.Hash(ctx, next)
	if err != nil {
		return s.hashError(err)
	}
	if _, err := s.updateUser(ctx, rt.UserID, func(u *store.User) error {
		u.PasswordHash = hash
		return nil
	}); err != nil {
		return err
	}
	if err := rs.DeleteUserResetTokens(ctx, rt.UserID); err != nil {
		s.log.WarnContext(ctx, "deleting the other reset tokens failed", "user_id", rt.UserID, "err", err)
	}
	s.audit(ctx, store.AuditEvent{Type: EventPasswordReset, UserID: rt.UserID, IP: c.IP})
	if err := s.RevokeUserTokens(ctx, rt.UserID); err != nil {
		return err
	}
	_, err = s.RevokeSessions(ctx, Actor{IP: c.IP}, rt.UserID, "")
	return err
}

// errReauth asks the client to sign in again (or call POST /v1/reauth).
var errReauth = apperr.New(apperr.Reauth, "This action needs a recent sign-in. Confirm your password (POST /v1/reauth) and try again.")

// RequireRecentAuth refuses sensitive actions when the caller's session
// last proved the password longer ago than ReauthWindow.
func (s *Service) RequireRecentAuth(p Principal) error {
	at := p.Session.AuthTime
	if p.Bearer && !p.Claims.AuthTime.IsZero() && p.Claims.AuthTime.Before(at) {
		at = p.Claims.AuthTime
	}
	if s.now().Sub(at) > s.cfg.ReauthWindow {
		return errReauth
	}
	return nil
}

// Reauthenticate checks the caller's password again and renews the
// session's auth time, opening the window for sensitive actions.
func (s *Service) Reauthenticate(ctx context.Context, p Principal, pw string, c Client) (store.Session, error) {
	if pw == "" {
		return store.Session{}, apperr.New(apperr.Unprocessable, "Password is required.")
	}
	if err := s.verifyOwnPassword(ctx, p.User.ID, pw, c); err != nil {
		return store.Session{}, err
	}
	now := s.now()
	sess, err := s.deps.Store.UpdateSession(ctx, p.Session.ID, func(x *store.Session) error {
		x.AuthTime = now
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, errNoSession
	}
	if err != nil {
		return store.Session{}, err
	}
	s.invalidate(ctx, store.SessionChanged, sess.ID)
	s.audit(ctx, store.AuditEvent{Type: EventReauth, UserID: p.User.ID, SessionID: p.Session.ID, IP: c.IP})
	return sess, nil
}

// verifyOwnPassword checks a signed-in user's password, throttled like
// sign-in.
func (s *Service) verifyOwnPassword(ctx context.Context, userID, pw string, c Client) error {
	u, err := s.deps.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	acctKey, ipKey := "acct:"+u.Email, "ip:"+c.IP
	if err := s.checkThrottle(ctx, acctKey, ipKey); err != nil {
		return err
	}
	ok, _, err := s.deps.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil && errors.Is(err, password.ErrBusy) {
		return s.hashError(err)
	}
	if err != nil || !ok {
		s.recordFailure(ctx, acctKey, ipKey)
		s.audit(ctx, store.AuditEvent{Type: EventSignInFailed, UserID: u.ID, IP: c.IP, Detail: map[string]string{"reason": "wrong password (confirmation of a signed-in user)"}})
		return apperr.New(apperr.Unauthenticated, "The password is incorrect.")
	}
	return nil
}

// checkBinding enforces session binding: a session presented from another
// browser family, or from another network (loose: the same IPv4 /24 or
// IPv6 /64; strict: the same address), is refused and the event audited.
// The session itself stays: a thief cannot use binding to sign its owner
// out.
func (s *Service) checkBinding(ctx context.Context, sess store.Session, c Client) error {
	mode := s.cfg.Binding
	if mode == "" || mode == BindingOff {
		return nil
	}
	sameUA := useragent.Parse(sess.UserAgent).Family() == useragent.Parse(c.UserAgent).Family()
	sameNet := sameNetwork(sess.IP, c.IP, mode == BindingStrict)
	if sameUA && sameNet {
		return nil
	}
	s.log.WarnContext(ctx, "session binding mismatch", "session_id", sess.ID, "user_id", sess.UserID, "ip", c.IP)
	s.audit(ctx, store.AuditEvent{Type: EventBindingMismatch, UserID: sess.UserID, SessionID: sess.ID, IP: c.IP,
		Detail: map[string]string{"mode": mode, "same_browser": boolStr(sameUA), "same_network": boolStr(sameNet)}})
	return apperr.Wrap(apperr.Unauthenticated, "This session was started on another device or network. Please sign in again.", ErrBindingMismatch)
}

// ErrBindingMismatch marks a refusal by session binding: the session is
// fine where it belongs, so the HTTP layer does not clear its cookie.
var ErrBindingMismatch = errors.New("auth: session binding mismatch")

// Session binding modes.
const (
	BindingOff    = "off"
	BindingLoose  = "loose"
	BindingStrict = "strict"
)

func sameNetwork(a, b string, exact bool) bool {
	ipa, ipb := net.ParseIP(a), net.ParseIP(b)
	if ipa == nil || ipb == nil {
		return a == b
	}
	if exact {
		return ipa.Equal(ipb)
	}
	if a4, b4 := ipa.To4(), ipb.To4(); a4 != nil || b4 != nil {
		return a4 != nil && b4 != nil && a4.Mask(net.CIDRMask(24, 32)).Equal(b4.Mask(net.CIDRMask(24, 32)))
	}
	return ipa.Mask(net.CIDRMask(64, 128)).Equal(ipb.Mask(net.CIDRMask(64, 128)))
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// ChangeEmail moves the caller's account to a new email address. It is a
// sensitive action: it needs a recent password check.
func (s *Service) ChangeEmail(ctx context.Context, p Principal, email string, c Client) (store.User, error) {
	if err := s.RequireRecentAuth(p); err != nil {
		return store.User{}, err
	}
	norm, err := NormalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	old := p.User.Email
	u, err := s.updateUser(ctx, p.User.ID, func(u *store.User) error {
		u.Email = norm
		return nil
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.User{}, apperr.Wrap(apperr.Conflict, "Another account already uses this email.", err)
	}
	if err != nil {
		return store.User{}, err
	}
	s.audit(ctx, store.AuditEvent{Type: EventEmailChanged, UserID: u.ID, SessionID: p.Session.ID, IP: c.IP,
		Detail: map[string]string{"from": old, "to": norm}})
	return u, nil
}
