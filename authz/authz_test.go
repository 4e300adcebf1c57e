package authz_test

import (
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/authz"
)

func TestGranted(t *testing.T) {
	cases := []struct {
		granted  []string
		required string
		want     bool
	}{
		{[]string{"notes:read"}, "notes:read", true},
		{[]string{"notes:read"}, "notes:write", false},
		{[]string{"notes:*"}, "notes:write", true},
		{[]string{"notes:*"}, "tasks:write", false},
		{[]string{"*:read"}, "tasks:read", true},
		{[]string{"*:read"}, "tasks:delete", false},
		{[]string{"*"}, "anything:at-all", true},
		{[]string{"*:*"}, "anything:at-all", true},
		{nil, "notes:read", false},
		{[]string{"notes"}, "notes:read", false},      // malformed grant grants nothing
		{[]string{"notes:read"}, "notes", false},      // malformed requirement: deny
		{[]string{"*"}, "", false},                    // empty requirement: deny even for admin
		{[]string{"*"}, "notes:*", false},             // requirements are concrete
		{[]string{"notes:rea"}, "notes:read", false},  // no prefix matching
		{[]string{"note:read"}, "notes:read", false},  // no prefix matching
		{[]string{"notes:read", "x:y"}, "x:y", true},  // any grant suffices
		{[]string{"NOTES:READ"}, "notes:read", false}, // case matters
	}
	for _, c := range cases {
		if got := authz.Granted(c.granted, c.required); got != c.want {
			t.Errorf("Granted(%v, %q) = %v, want %v", c.granted, c.required, got, c.want)
		}
	}
}

func TestValidPermission(t *testing.T) {
	for _, ok := range []string{"*", "notes:read", "notes:*", "*:read", "a-b.c_d:x"} {
		if !authz.ValidPermission(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "notes", ":read", "notes:", "no tes:read", "Notes:read", "a:b:c", "**:read", "n*:read"} {
		if authz.ValidPermission(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRolesPermissions(t *testing.T) {
	roles := authz.Roles{"admin": {"*"}, "editor": {"notes:*", "tags:read"}, "viewer": {"notes:read", "tags:read"}}
	got := roles.Permissions([]string{"viewer", "editor", "ghost"})
	if !slices.Equal(got, []string{"notes:*", "notes:read", "tags:read"}) {
		t.Fatalf("got %v", got)
	}
	if len(roles.Permissions([]string{"ghost"})) != 0 {
		t.Fatal("unknown role granted something")
	}
}

func TestDecide(t *testing.T) {
	rules := []authz.Rule{
		{Paths: []string{"/public/"}, Policy: authz.Public},
		{Paths: []string{"/admin/"}, Policy: authz.Role, Need: "admin"},
		{Hosts: []string{"notes.example.com"}, Paths: []string{"/api/"}, Methods: []string{"GET"}, Policy: authz.Permission, Need: "notes:read"},
		{Hosts: []string{"notes.example.com"}, Paths: []string{"/api/"}, Policy: authz.Permission, Need: "notes:write"},
		{Hosts: []string{"*.example.com"}, Paths: []string{"/blocked/**"}, Policy: authz.Deny},
		{Hosts: []string{"*.example.com"}, Paths: []string{"/users/*/avatar"}, Policy: authz.Public},
		{Hosts: []string{"*.example.com"}, Paths: []string{"/"}, Policy: authz.Authenticated},
	}
	anon := authz.Subject{}
	reader := authz.Subject{Authenticated: true, Roles: []string{"viewer"}, Permissions: []string{"notes:read"}}
	writer := authz.Subject{Authenticated: true, Roles: []string{"editor"}, Permissions: []string{"notes:*"}}
	admin := authz.Subject{Authenticated: true, Roles: []string{"admin"}, Permissions: []string{"*"}}
	req := func(host, method, path string) authz.Request {
		return authz.Request{Host: host, Method: method, Path: path}
	}
	cases := []struct {
		name string
		req  authz.Request
		sub  authz.Subject
		want authz.Decision
		line int // index+1 of the rule expected to decide; 0 = default deny
	}{
		{"public for anyone", req("x.example.com", "GET", "/public/a.css"), anon, authz.Allow, 1},
		{"public prefix without slash", req("x.example.com", "GET", "/public"), anon, authz.Allow, 1},
		{"prefix is segment-bounded", req("x.example.com", "GET", "/publicity"), anon, authz.Unauthenticated, 7},
		{"role needed, anonymous", req("x.example.com", "GET", "/admin/users"), anon, authz.Unauthenticated, 2},
		{"role needed, missing", req("x.example.com", "GET", "/admin/users"), writer, authz.Forbidden, 2},
		{"role needed, present", req("x.example.com", "GET", "/admin/users"), admin, authz.Allow, 2},
		{"read with read permission", req("notes.example.com", "GET", "/api/notes"), reader, authz.Allow, 3},
		{"write without write permission", req("notes.example.com", "POST", "/api/notes"), reader, authz.Forbidden, 4},
		{"write via wildcard", req("notes.example.com", "POST", "/api/notes"), writer, authz.Allow, 4},
		{"admin star grants any permission", req("notes.example.com", "DELETE", "/api/notes/1"), admin, authz.Allow, 4},
		{"first match wins over later allow", req("notes.example.com", "GET", "/blocked/x"), admin, authz.Forbidden, 5},
		{"deny even for anonymous", req("a.example.com", "GET", "/blocked"), anon, authz.Forbidden, 5},
		{"glob within a segment", req("a.example.com", "GET", "/users/42/avatar"), anon, authz.Allow, 6},
		{"glob does not cross segments", req("a.example.com", "GET", "/users/4/2/avatar"), anon, authz.Unauthenticated, 7},
		{"wildcard host needs a subdomain", req("example.com", "GET", "/x"), admin, authz.Forbidden, 0},
		{"other host: default deny", req("evil.test", "GET", "/x"), admin, authz.Forbidden, 0},
		{"host rule for other host skipped", req("other.example.com", "GET", "/api/notes"), reader, authz.Allow, 7},
	}
	for _, c := range cases {
		got, rule := authz.Decide(rules, c.req, c.sub)
		if got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		idx := 0
		if rule != nil {
			idx = indexOf(rules, rule) + 1
		}
		if idx != c.line {
			t.Errorf("%s: decided by rule %d, want %d", c.name, idx, c.line)
		}
	}
	if d, r := authz.Decide(nil, req("a", "GET", "/"), admin); d != authz.Forbidden || r != nil {
		t.Fatal("no rules must deny")
	}
}

func indexOf(rules []authz.Rule, r *authz.Rule) int {
	for i := range rules {
		if &rules[i] == r {
			return i
		}
	}
	return -1
}
