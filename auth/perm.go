package auth

import "slices"

// PermIntrospect allows RFC 7662 token introspection.
const PermIntrospect = "tokens:introspect"

// HasPermission reports whether the roles grant perm. Until configurable
// roles arrive (the authorization issue), the built-in admin role holds
// every permission and no other role holds any.
func HasPermission(roles []string, perm string) bool {
	return slices.Contains(roles, RoleAdmin)
}
