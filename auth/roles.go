package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/store"
)

// PermIntrospect allows RFC 7662 token introspection.
const PermIntrospect = "tokens:introspect"

// rolesTTL bounds how long an instance uses its cached role definitions
// before rereading them: a definition edited on another instance takes
// effect here within this time. Edits on this instance apply at once.
const rolesTTL = 5 * time.Second

// roleCache holds the role definitions, reloaded when older than rolesTTL.
type roleCache struct {
	mu       sync.Mutex
	roles    authz.Roles
	loadedAt time.Time
}

// builtinRoles are always defined and cannot be edited.
func builtinRoles() authz.Roles {
	return authz.Roles{RoleAdmin: {authz.AllPermissions}}
}

// Roles returns the role definitions: the built-in admin role plus those
// stored.
func (s *Service) Roles(ctx context.Context) (authz.Roles, error) {
	c := &s.roles
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.roles != nil && now.Sub(c.loadedAt) < rolesTTL {
		return c.roles, nil
	}
	roles := builtinRoles()
	if rs, ok := s.deps.Store.(store.RoleStore); ok {
		list, err := rs.ListRoles(ctx)
		if err != nil {
			if c.roles != nil {
				return c.roles, nil // a stale definition beats an outage
			}
			return nil, err
		}
		for _, r := range list {
			if r.Name != RoleAdmin {
				roles[r.Name] = r.Permissions
			}
		}
	}
	c.roles, c.loadedAt = roles, now
	return roles, nil
}

func (s *Service) invalidateRoles() {
	s.roles.mu.Lock()
	s.roles.roles = nil
	s.roles.mu.Unlock()
}

// Permissions resolves a user's roles to the permissions they grant.
func (s *Service) Permissions(ctx context.Context, roles []string) ([]string, error) {
	defs, err := s.Roles(ctx)
	if err != nil {
		return nil, err
	}
	return defs.Permissions(roles), nil
}

// Can reports whether a user with these roles holds the permission.
func (s *Service) Can(ctx context.Context, roles []string, perm string) (bool, error) {
	perms, err := s.Permissions(ctx, roles)
	if err != nil {
		return false, err
	}
	return authz.Granted(perms, perm), nil
}

// ListRoles returns the role definitions as records, the built-in admin
// role first.
func (s *Service) ListRoles(ctx context.Context) ([]store.Role, error) {
	out := []store.Role{{Name: RoleAdmin, Permissions: []string{authz.AllPermissions}, Description: "Built in: every permission."}}
	if rs, ok := s.deps.Store.(store.RoleStore); ok {
		list, err := rs.ListRoles(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			if r.Name != RoleAdmin {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

var errNoRoleStore = apperr.New(apperr.Unprocessable, "This store cannot keep role definitions.")

// PutRole creates or replaces a role definition. Users holding the role
// get its new permissions on their next request: their access tokens are
// revoked (clients refresh and get tokens with the new permissions).
func (s *Service) PutRole(ctx context.Context, actor Actor, name string, perms []string, description string) (store.Role, error) {
	rs, ok := s.deps.Store.(store.RoleStore)
	if !ok {
		return store.Role{}, errNoRoleStore
	}
	if err := ValidateRoles([]string{name}); err != nil {
		return store.Role{}, err
	}
	if name == RoleAdmin {
		return store.Role{}, apperr.New(apperr.Unprocessable, "The admin role is built in and cannot be changed.")
	}
	for _, p := range perms {
		if !authz.ValidPermission(p) {
			return store.Role{}, apperr.New(apperr.Unprocessable, "Permission "+truncateQuote(p)+" is not valid: use resource:action (a-z, 0-9, '_', '-', '.'), where either part may be *, or * alone.")
		}
	}
	if len(description) > 500 {
		return store.Role{}, apperr.New(apperr.Unprocessable, "The description is too long (at most 500 characters).")
	}
	now := s.now()
	r := store.Role{Name: name, Permissions: slices.Compact(slices.Sorted(slices.Values(perms))), Description: description, CreatedAt: now, UpdatedAt: now}
	if r.Permissions == nil {
		r.Permissions = []string{}
	}
	if err := rs.PutRole(ctx, r); err != nil {
		return store.Role{}, err
	}
	s.invalidateRoles()
	s.audit(ctx, store.AuditEvent{Type: EventRoleChanged, ActorID: actor.UserID, IP: actor.IP,
		Detail: map[string]string{"role": name, "permissions": strings.Join(r.Permissions, " ")}})
	if err := s.revokeHolders(ctx, name); err != nil {
		return r, err
	}
	return r, nil
}

// DeleteRole removes a role definition; holders lose its permissions at once.
func (s *Service) DeleteRole(ctx context.Context, actor Actor, name string) error {
	rs, ok := s.deps.Store.(store.RoleStore)
	if !ok {
		return errNoRoleStore
	}
	if name == RoleAdmin {
		return apperr.New(apperr.Unprocessable, "The admin role is built in and cannot be deleted.")
	}
	if err := rs.DeleteRole(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apperr.Wrap(apperr.NotFound, "No such role.", err)
		}
		return err
	}
	s.invalidateRoles()
	s.audit(ctx, store.AuditEvent{Type: EventRoleChanged, ActorID: actor.UserID, IP: actor.IP, Detail: map[string]string{"role": name, "deleted": "true"}})
	return s.revokeHolders(ctx, name)
}

// revokeHolders revokes the access tokens of every user holding role.
func (s *Service) revokeHolders(ctx context.Context, role string) error {
	after := ""
	for {
		page, err := s.deps.Store.ListUsers(ctx, store.ListUsersOptions{After: after, Limit: 500})
		if err != nil {
			return err
		}
		for _, u := range page {
			if slices.Contains(u.Roles, role) {
				if err := s.RevokeUserTokens(ctx, u.ID); err != nil {
					return err
				}
			}
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

func truncateQuote(s string) string { return `"` + truncate(s, 80) + `"` }
