package auth

import (
	"context"
	"strings"

	"github.com/gatehouse/gatehouse/store"
)

// Audit event types.
const (
	EventSignInOK               = "signin.ok"
	EventSignInFailed           = "signin.failed"
	EventSignOut                = "signout"
	EventSessionRevoked         = "session.revoked"
	EventRefreshReuse           = "refresh.reuse"
	EventUserCreated            = "user.created"
	EventUserDisabled           = "user.disabled"
	EventUserEnabled            = "user.enabled"
	EventRolesChanged           = "user.roles_changed"
	EventRoleChanged            = "role.changed"
	EventKeyRotated             = "key.rotated"
	EventTokenRevoked           = "token.revoked"
	EventForceLogout            = "user.force_logout"
	EventPasswordChanged        = "password.changed"
	EventPasswordResetRequested = "password.reset_requested"
	EventPasswordReset          = "password.reset"
	EventReauth                 = "reauth"
	EventEmailChanged           = "email.changed"
	EventBindingMismatch        = "session.binding_mismatch"
)

// Actor says who caused an event, for the audit log: empty for the user
// themself or the system.
type Actor struct {
	UserID string
	IP     string
}

// audit appends an event. Failing to audit is logged, not fatal: the
// action already happened and the log line keeps the record.
func (s *Service) audit(ctx context.Context, e store.AuditEvent) {
	e.Time = s.now()
	if s.deps.OnEvent != nil {
		s.deps.OnEvent(e.Type)
	}
	if _, err := s.deps.Store.AppendAudit(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "audit write failed", "type", e.Type, "user_id", e.UserID, "err", err)
	}
}

// ListAudit reads the audit log.
func (s *Service) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	return s.deps.Store.ListAudit(ctx, f)
}

func sessionIDs(ss []store.Session) string {
	ids := make([]string, len(ss))
	for i, x := range ss {
		ids[i] = x.ID
	}
	return strings.Join(ids, ",")
}

// AuditKeyRotated records a signing-key rotation.
func (s *Service) AuditKeyRotated(ctx context.Context, actor Actor, kid string) {
	s.audit(ctx, store.AuditEvent{Type: EventKeyRotated, ActorID: actor.UserID, IP: actor.IP, Detail: map[string]string{"kid": kid}})
}
