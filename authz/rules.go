package authz

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Policy is what a matching rule demands.
type Policy int

// The policies a rule can have.
const (
	Deny          Policy = iota // nobody
	Public                      // everybody, signed in or not
	Authenticated               // anybody signed in
	Permission                  // signed in with a permission (Rule.Need)
	Role                        // signed in with a role (Rule.Need)
)

// Rule is one access rule: if the request's host, path and method match,
// the policy decides. Empty Hosts or Methods match any.
type Rule struct {
	Hosts   []string // exact ("app.example.com") or "*.example.com"
	Paths   []string // see matchPath
	Methods []string // upper case
	Policy  Policy
	Need    string // the permission or role for Permission and Role
	Line    int    // where the rule was written, for messages
}

// Request is what a rule is matched against.
type Request struct {
	Host   string // lower case, without port
	Method string // upper case
	Path   string // decoded, cleaned, starting with "/"
}

// Subject is the caller as authorization sees it.
type Subject struct {
	Authenticated bool
	Roles         []string
	Permissions   []string // granted patterns, already resolved from Roles
}

// Decision is the outcome of Decide.
type Decision int

// The decisions. Unauthenticated means "sign in and try again".
const (
	Allow Decision = iota
	Unauthenticated
	Forbidden
)

func (d Decision) String() string {
	return [...]string{"allow", "unauthenticated", "forbidden"}[d]
}

// Decide applies the first rule that matches req; when none matches, the
// answer is Forbidden (default deny). A rule that needs a signed-in caller
// answers Unauthenticated to an anonymous one, whatever it needs.
func Decide(rules []Rule, req Request, sub Subject) (Decision, *Rule) {
	for i := range rules {
		r := &rules[i]
		if !r.matches(req) {
			continue
		}
		switch r.Policy {
		case Public:
			return Allow, r
		case Deny:
			return Forbidden, r
		}
		if !sub.Authenticated {
			return Unauthenticated, r
		}
		switch r.Policy {
		case Authenticated:
			return Allow, r
		case Permission:
			if Granted(sub.Permissions, r.Need) {
				return Allow, r
			}
		case Role:
			if slices.Contains(sub.Roles, r.Need) {
				return Allow, r
			}
		}
		return Forbidden, r
	}
	return Forbidden, nil
}

func (r *Rule) matches(req Request) bool {
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, req.Method) {
		return false
	}
	if len(r.Hosts) > 0 && !slices.ContainsFunc(r.Hosts, func(h string) bool { return matchHost(h, req.Host) }) {
		return false
	}
	if len(r.Paths) > 0 && !slices.ContainsFunc(r.Paths, func(p string) bool { return matchPath(p, req.Path) }) {
		return false
	}
	return true
}

func matchHost(pattern, host string) bool {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+rest)
	}
	return pattern == host
}

// matchPath matches a request path against a pattern:
//   - "/api/" or "/api/**": the prefix, at a segment boundary ("/api" too);
//   - a pattern with *, ? or [ : path.Match, where * stays within a segment;
//   - anything else: exactly that path.
func matchPath(pattern, p string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/**"); ok {
		pattern = prefix + "/"
	}
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(p, pattern) || p == strings.TrimSuffix(pattern, "/")
	}
	if strings.ContainsAny(pattern, "*?[") {
		// path.Match keeps * and ? within a segment, but a character
		// class can match "/": also require the same number of segments,
		// so a pattern never covers more depth than its author wrote.
		ok, err := path.Match(pattern, p)
		return err == nil && ok && strings.Count(p, "/") == literalSlashes(pattern)
	}
	return pattern == p
}

// CheckPattern validates a path pattern, for the config parser.
func CheckPattern(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q must start with /", p)
	}
	if _, err := path.Match(strings.TrimSuffix(p, "/**"), "/"); err != nil {
		return fmt.Errorf("path %q is not a valid pattern: %v", p, err)
	}
	return nil
}

// literalSlashes counts the slashes a pattern matches literally: plain or
// escaped "/" outside a character class.
func literalSlashes(pattern string) int {
	n, inClass := 0, false
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\' && i+1 < len(pattern):
			i++
			if !inClass && pattern[i] == '/' {
				n++
			}
		case c == '[' && !inClass:
			inClass = true
		case c == ']' && inClass:
			inClass = false
		case c == '/' && !inClass:
			n++
		}
	}
	return n
}
