package authz

// Fuzz targets for the authorization decisions. They live in package authz
// (not authz_test) so they can compare Decide with Rule.matches.

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzGranted checks Granted against what a permission means: a malformed
// or empty requirement is never granted, whatever is granted; "*" grants
// every well-formed requirement; a grant is only ever made by a
// well-formed pattern; and granting more never takes a permission away.
// granted is a comma-separated list of patterns.
func FuzzGranted(f *testing.F) {
	for _, c := range [][2]string{
		{"notes:read", "notes:read"}, {"notes:*", "notes:write"}, {"*:read", "tasks:read"}, {"*", "a:b"},
		{"*:*", "a:b"}, {"*", ""}, {"*", "notes:*"}, {"*", "*"}, {"*", "*:*"}, {"notes", "notes:read"},
		{"notes:read", "notes"}, {"notes:read:x", "notes:read:x"}, {"NOTES:READ", "notes:read"},
		{"notes:rea", "notes:read"}, {":", ":"}, {"a:", "a:"}, {":b", ":b"}, {"a:b", "a:b "}, {"a:b", " a:b"},
		{"-a:b", "-a:b"}, {"a-:b_", "a-:b_"}, {"é:read", "é:read"}, {"a:b\x00", "a:b\x00"},
		{"*", strings.Repeat("a", 64) + ":b"}, {"*", strings.Repeat("a", 65) + ":b"},
	} {
		f.Add(c[0], c[1], "x:y")
	}
	f.Fuzz(func(t *testing.T, grantedList, required, extra string) {
		granted := strings.Split(grantedList, ",")
		got := Granted(granted, required)
		valid := ValidRequirement(required)
		if got && !valid {
			t.Fatalf("Granted(%q, %q) = true for a malformed requirement", granted, required)
		}
		if valid && (strings.Count(required, ":") != 1 || strings.Contains(required, "*")) {
			t.Fatalf("ValidRequirement(%q) = true: not one resource:action without wildcards", required)
		}
		if Granted([]string{AllPermissions}, required) != valid {
			t.Fatalf("Granted([*], %q) != ValidRequirement", required)
		}
		if Granted(nil, required) {
			t.Fatalf("Granted(nil, %q) = true", required)
		}
		if got && !slices.ContainsFunc(granted, func(g string) bool { return ValidPermission(g) && covers(g, required) }) {
			t.Fatalf("Granted(%q, %q) = true, but no well-formed pattern covers it", granted, required)
		}
		if got && !Granted(append(slices.Clone(granted), extra), required) {
			t.Fatalf("adding %q to %q took away %q", extra, granted, required)
		}
		if !got && Granted(append(slices.Clone(granted), extra), required) && !(ValidPermission(extra) && covers(extra, required)) {
			t.Fatalf("adding %q to %q granted %q, but it does not cover it", extra, granted, required)
		}
	})
}

// fuzzRules builds up to eight rules from b, three bytes a rule, choosing
// each rule's policy and its host, path and method conditions from small
// pools that overlap with the request the fuzzer also picks. need is the
// permission or role of Permission and Role rules, as fuzzed.
func fuzzRules(b []byte, need string) []Rule {
	hosts := [][]string{nil, {"notes.example.com"}, {"*.example.com"}, {"other.org"}, {"NOTES.example.com"}}
	paths := [][]string{nil, {"/"}, {"/api/"}, {"/api/**"}, {"/api/*"}, {"/api/notes"}, {"/public/"}, {"/api"}, {"/a?i/[n]*"}, {"/[", "/admin/"}}
	methods := [][]string{nil, {"GET"}, {"POST", "DELETE"}, {"get"}}
	var rules []Rule
	for i := 0; i+2 < len(b) && len(rules) < 8; i += 3 {
		r := Rule{
			Policy:  Policy(b[i] % 5),
			Hosts:   hosts[int(b[i+1])%len(hosts)],
			Paths:   paths[int(b[i+2])%len(paths)],
			Methods: methods[int(b[i]/5)%len(methods)],
			Line:    len(rules) + 1,
		}
		if r.Policy == Permission || r.Policy == Role {
			r.Need = need
			if b[i+1]&0x80 != 0 {
				r.Need = "notes:read"
			}
		}
		rules = append(rules, r)
	}
	return rules
}

// FuzzDecide checks Decide on fuzzed rule lists, requests and subjects:
// no rules deny; the rule Decide names is the first that matches, and no
// rule means none matched and the answer is Forbidden; an anonymous caller
// is only ever let in by a Public rule and is asked to sign in by a rule
// that needs a signed-in caller; Allow through a Permission rule needs the
// permission granted, which a malformed requirement never is; and a list
// of one Public rule allows exactly the requests it matches, for anyone.
func FuzzDecide(f *testing.F) {
	f.Add([]byte{1, 0, 0}, "", "notes.example.com", "GET", "/api/notes", true, "notes:read", "viewer")
	f.Add([]byte{3, 1, 2, 1, 0, 0}, "notes:read", "notes.example.com", "GET", "/api/notes", true, "notes:*", "")
	f.Add([]byte{3, 1, 2}, "notes", "notes.example.com", "GET", "/api/notes", true, "*", "")
	f.Add([]byte{3, 1, 2}, "notes:*", "notes.example.com", "GET", "/api/notes", true, "*", "")
	f.Add([]byte{4, 2, 3}, "admin", "x.example.com", "POST", "/api/x/y", true, "", "admin")
	f.Add([]byte{2, 0, 6, 0, 0, 0}, "", "notes.example.com", "DELETE", "/public/../admin", false, "", "")
	f.Add([]byte{1, 1, 1}, "", "notes.example.com.", "GET", "/", false, "", "")
	f.Add([]byte{1, 2, 4}, "", "example.com", "GET", "/api/a/b", false, "", "")
	f.Add([]byte{1, 0, 8}, "", "h", "GET", "/api/notes", false, "", "")
	f.Add([]byte{}, "", "h", "GET", "/", true, "*", "admin")
	f.Fuzz(func(t *testing.T, shape []byte, need, host, method, reqPath string, authed bool, perms, roles string) {
		rules := fuzzRules(shape, need)
		req := Request{Host: host, Method: method, Path: reqPath}
		sub := Subject{Authenticated: authed}
		if perms != "" {
			sub.Permissions = strings.Split(perms, ",")
		}
		if roles != "" {
			sub.Roles = strings.Split(roles, ",")
		}
		d, r := Decide(rules, req, sub)
		if d != Allow && d != Unauthenticated && d != Forbidden {
			t.Fatalf("decision %d", d)
		}
		if len(rules) == 0 && (d != Forbidden || r != nil) {
			t.Fatalf("no rules: %v, %v; want forbidden (default deny)", d, r)
		}
		first := slices.IndexFunc(rules, func(x Rule) bool { return x.matches(req) })
		if first < 0 {
			if d != Forbidden || r != nil {
				t.Fatalf("no rule matches %+v, yet %v by %+v", req, d, r)
			}
			return
		}
		if r != &rules[first] {
			t.Fatalf("%+v: decided by %+v, but the first matching rule is %+v", req, r, rules[first])
		}
		switch r.Policy {
		case Public:
			if d != Allow {
				t.Fatalf("public rule %+v gave %v", r, d)
			}
		case Deny:
			if d != Forbidden {
				t.Fatalf("deny rule %+v gave %v", r, d)
			}
		default:
			if !authed && d != Unauthenticated {
				t.Fatalf("anonymous caller got %v from %+v", d, r)
			}
		}
		if d == Allow && !authed && r.Policy != Public {
			t.Fatalf("anonymous caller allowed by %+v", r)
		}
		if d == Allow && r.Policy == Permission && !Granted(sub.Permissions, r.Need) {
			t.Fatalf("allowed by %+v without the permission (has %q)", r, sub.Permissions)
		}
		if d == Allow && r.Policy == Permission && !ValidRequirement(r.Need) {
			t.Fatalf("malformed requirement %q allowed", r.Need)
		}
		if d == Allow && r.Policy == Role && !slices.Contains(sub.Roles, r.Need) {
			t.Fatalf("allowed by %+v without the role (has %q)", r, sub.Roles)
		}
		// One Public rule: allows what it matches, for anyone.
		one := []Rule{{Policy: Public, Hosts: r.Hosts, Paths: r.Paths, Methods: r.Methods}}
		for _, s := range []Subject{{}, sub} {
			if d1, r1 := Decide(one, req, s); d1 != Allow || r1 != &one[0] {
				t.Fatalf("single public rule %+v matching %+v gave %v", one[0], req, d1)
			}
		}
	})
}

// FuzzMatchPath checks the path patterns: a prefix pattern ("/api/" or
// "/api/**") matches only at a segment boundary, an exact pattern only
// itself, and a glob never crosses a "/": not with "*" or "?", and not
// with a character class either ("[^x]" or "[.-0]" must not match "/";
// testdata/fuzz holds both).
func FuzzMatchPath(f *testing.F) {
	for _, c := range [][2]string{
		{"/api/", "/api"}, {"/api/", "/api/x"}, {"/api/", "/apix"}, {"/api/**", "/api/x/y"}, {"/api/**", "/api"},
		{"/api/*", "/api/x"}, {"/api/*", "/api/x/y"}, {"/api", "/api/"}, {"/a[", "/a["}, {"/a\\*", "/a*"},
		{"/**", "/anything"}, {"/", "/"}, {"/*", "/a/b"}, {"/[a-", "/a"}, {"/a[^/]b", "/axb"}, {"/a\\/b", "/a/b"},
		{"/a[\\]]b", "/a]b"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pattern, p string) {
		ok := matchPath(pattern, p)
		prefix, isPrefix := strings.CutSuffix(pattern, "/**")
		if isPrefix {
			prefix += "/"
		} else if strings.HasSuffix(pattern, "/") {
			prefix, isPrefix = pattern, true
		}
		switch {
		case isPrefix:
			want := strings.HasPrefix(p, prefix) || p == strings.TrimSuffix(prefix, "/")
			if ok != want {
				t.Fatalf("prefix pattern %q on %q: %v, want %v", pattern, p, ok, want)
			}
		case !strings.ContainsAny(pattern, "*?["):
			if ok != (pattern == p) {
				t.Fatalf("exact pattern %q on %q: %v", pattern, p, ok)
			}
		default:
			// Independent of matchPath's slash counting: where no class
			// holds a "/" and nothing is escaped, a match must be a match
			// segment by segment.
			if ok && !strings.Contains(pattern, "\\") && !classWithSlash.MatchString(pattern) {
				ps, ss := strings.Split(pattern, "/"), strings.Split(p, "/")
				if len(ps) != len(ss) {
					t.Fatalf("glob %q matched %q across a segment", pattern, p)
				}
				for i := range ps {
					if m, err := path.Match(ps[i], ss[i]); err != nil || !m {
						t.Fatalf("glob %q matched %q, but segment %q does not match %q", pattern, p, ss[i], ps[i])
					}
				}
			}
		}
	})
}

// classWithSlash finds a character class that contains a slash.
var classWithSlash = regexp.MustCompile(`\[[^\]]*/`)
