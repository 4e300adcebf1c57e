// Package authz decides what a caller may touch. It is pure: no I/O, no
// clock, no HTTP. The JSON API, the forward-auth endpoint and the Go
// middleware all call the same functions, so they cannot disagree.
//
// Permissions are "resource:action" strings such as "notes:read". A granted
// permission may use "*" for a whole segment: "notes:*" grants every action
// on notes, "*:read" reading anything, and "*" alone grants everything.
// Required permissions never contain wildcards.
package authz

import (
	"slices"
	"strings"
)

// AllPermissions is the wildcard that grants everything (the admin role's).
const AllPermissions = "*"

// Granted reports whether any of the granted permission patterns covers
// the required permission. An empty or malformed requirement is never
// granted: a typo must deny, not allow.
func Granted(granted []string, required string) bool {
	if !ValidRequirement(required) {
		return false
	}
	for _, g := range granted {
		if covers(g, required) {
			return true
		}
	}
	return false
}

// covers reports whether one granted pattern covers a required permission.
func covers(pattern, required string) bool {
	if pattern == AllPermissions {
		return true
	}
	pres, pact, ok := strings.Cut(pattern, ":")
	if !ok {
		return false
	}
	rres, ract, _ := strings.Cut(required, ":")
	return (pres == "*" || pres == rres) && (pact == "*" || pact == ract)
}

// ValidRequirement reports whether s is a concrete "resource:action".
func ValidRequirement(s string) bool {
	res, act, ok := strings.Cut(s, ":")
	return ok && validSegment(res, false) && validSegment(act, false)
}

// ValidPermission reports whether s may be granted: "*", or
// "resource:action" where either segment may be "*".
func ValidPermission(s string) bool {
	if s == AllPermissions {
		return true
	}
	res, act, ok := strings.Cut(s, ":")
	return ok && validSegment(res, true) && validSegment(act, true)
}

func validSegment(s string, wildcard bool) bool {
	if s == "*" {
		return wildcard
	}
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// Roles maps role names to the permissions they grant.
type Roles map[string][]string

// Permissions is the union of the permissions the roles grant, sorted and
// without duplicates. Unknown roles grant nothing.
func (r Roles) Permissions(roles []string) []string {
	var out []string
	for _, name := range roles {
		out = append(out, r[name]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
