package config_test

// A fuzz target for the access-rule parser: the YAML a deployer writes
// under "access: rules:", read the way gatehouse reads its config file.

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/config"
)

// namesLine matches the "line N" every parse error must carry; ruleAt the
// "access rule N (line M)" of every Compile error.
var (
	namesLine = regexp.MustCompile(`line [1-9][0-9]*`)
	ruleAt    = regexp.MustCompile(`^access rule [1-9][0-9]* \(line [1-9][0-9]*\): `)
)

// decodeFile decodes a config file's text as config.Flags(...).Parse does:
// onto the defaults, refusing unknown keys, an empty file being no
// settings.
func decodeFile(text []byte) (config.Config, error) {
	cfg := config.Default()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, err
	}
	return cfg, nil
}

// FuzzAccessRules fuzzes config files, mostly access rules. It must not
// panic. An error names a line (except yaml's own position-less syntax
// errors); a rule Compile refuses is named by
// number and line; a rule list it accepts has one compiled rule per
// written rule, each with its line, lower-case hosts, patterns that start
// with "/", known upper-case methods, and a policy that matches its need
// (a concrete permission, a role, or nothing). Parse, which reads the
// same text from a file, agrees: it fails exactly when the rules do not
// compile (or the file does not decode), and otherwise yields the same
// rules.
func FuzzAccessRules(f *testing.F) {
	for _, s := range []string{
		"access:\n  rules:\n    - host: notes.example.com\n      path: [/api/]\n      methods: [GET]\n      permission: notes:read\n    - path: /public/\n      allow: public\n",
		"access:\n  rules:\n    - allow: deny\n",
		"access:\n  rules:\n    - path: /admin/**\n      role: admin\n    - host: '*.example.com'\n      allow: authenticated\n",
		"access:\n  rules:\n    - path: /\n      allow: public\n      role: admin\n", // two policies
		"access:\n  rules:\n    - path: /\n",                                          // no policy
		"access:\n  rules:\n    - path: api\n      allow: public\n",                   // relative path
		"access:\n  rules:\n    - path: '/a['\n      allow: public\n",                 // bad pattern
		"access:\n  rules:\n    - host: 'a.example.com:8080'\n      allow: public\n",  // port
		"access:\n  rules:\n    - host: '*.*.example.com'\n      allow: public\n",     // two wildcards
		"access:\n  rules:\n    - host: ' NOTES.Example.COM '\n      allow: public\n", // case, spaces
		"access:\n  rules:\n    - methods: [get, TRACE]\n      allow: public\n",       // unknown method
		"access:\n  rules:\n    - methods: {a: b}\n      allow: public\n",             // mapping as list
		"access:\n  rules:\n    - permission: 'notes:*'\n",                            // wildcard need
		"access:\n  rules:\n    - permission: notes\n",                                // malformed need
		"access:\n  rules:\n    - allow: Public\n",                                    // case
		"access:\n  rules:\n    - allow: public\n      alow: public\n",                // unknown key
		"access:\n  rules:\n    - allow: public\n      allow: deny\n",                 // duplicate key
		"access:\n  rules:\n    - public\n",                                           // not a mapping
		"access:\n  rules: public\n",                                                  // not a list
		"access:\n  rules:\n    - &r {path: /, allow: public}\n    - *r\n",            // alias
		"access:\n  rules:\n    - <<: {allow: public}\n      path: /\n",               // merge key
		"access:\n  rules:\n    - !!binary aGk=\n",                                    // tag
		"access:\n  rules:\n    - {path: /, allow: public}\n\t- x\n",                  // tab
		"access:\n  rules:\n    - allow: ~\n      role: ''\n",                         // nulls
		"access:\n  rules:\n    - path: [/, [/nested]]\n      allow: public\n",        // nested list
		"access:\n  rules:\n",     // empty
		"access:\n  rooles: []\n", // unknown section key
		"{\"access\": {\"rules\": [{\"path\": \"/\", \"allow\": \"public\"}]}}",                                                    // JSON
		"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n", // aliases
		"access:\n  rules:\n    - path: \"/\\0\"\n      allow: public\n",                                                           // NUL
		"\xef\xbb\xbfaccess:\n  rules: []\n",                                                                                       // BOM
		"access:\n  rules:\n    - role: \"\\u00e9\"\n",                                                                             // non-ASCII role
		"",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		cfg, derr := decodeFile([]byte(text))
		var rules []authz.Rule
		var cerr error
		if derr != nil {
			// yaml's scanner reports some syntax errors without a position
			// ("yaml: found unexpected end of stream"); every other error —
			// type errors and the rule decoder's own — names its line.
			var te *yaml.TypeError
			syntax := strings.HasPrefix(derr.Error(), "yaml: ") && !errors.As(derr, &te)
			if !syntax && !namesLine.MatchString(derr.Error()) {
				t.Fatalf("error names no line: %v\n%q", derr, text)
			}
			if errors.As(derr, &te) {
				for _, e := range te.Errors {
					if !namesLine.MatchString(e) {
						t.Fatalf("type error names no line: %q\n%q", e, text)
					}
				}
			}
		} else {
			rules, cerr = cfg.Access.Compile()
			if cerr != nil {
				if !ruleAt.MatchString(cerr.Error()) {
					t.Fatalf("Compile error names no rule and line: %v\n%q", cerr, text)
				}
			} else {
				checkRules(t, text, cfg.Access, rules)
			}
		}

		// The same text through Flags(...).Parse, from a file.
		p := filepath.Join(dir, "gatehouse.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		got := config.Default()
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		perr := config.Flags(fs, &got, true).Parse([]string{"--config", p}, func(string) string { return "" })
		switch {
		case derr != nil:
			if perr == nil || !strings.Contains(perr.Error(), "config file") {
				t.Fatalf("decode failed (%v) but Parse says %v", derr, perr)
			}
		case cerr != nil:
			if perr == nil || !strings.Contains(perr.Error(), cerr.Error()) {
				t.Fatalf("Compile failed (%v) but Parse says %v", cerr, perr)
			}
		case perr == nil:
			again, err := got.Access.Compile()
			if err != nil || !reflect.DeepEqual(again, rules) {
				t.Fatalf("Parse's rules differ:\n%+v\n%+v (%v)", again, rules, err)
			}
		default:
			// Parse may refuse other settings in the file; never the rules.
			if strings.Contains(perr.Error(), "access rule") {
				t.Fatalf("rules compiled, yet Parse refuses them: %v", perr)
			}
		}
	})
}

// checkRules checks rules compiled from the written access section.
func checkRules(t *testing.T, text string, a config.Access, rules []authz.Rule) {
	t.Helper()
	if len(rules) != len(a.Rules) {
		t.Fatalf("%d rules written, %d compiled\n%q", len(a.Rules), len(rules), text)
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	for i, r := range rules {
		if r.Line < 1 || r.Line != a.Rules[i].Line {
			t.Fatalf("rule %d: line %d (written on %d)\n%q", i+1, r.Line, a.Rules[i].Line, text)
		}
		for _, h := range r.Hosts {
			if h == "" || h != strings.ToLower(strings.TrimSpace(h)) || strings.ContainsAny(h, "/: ") || strings.Contains(strings.TrimPrefix(h, "*."), "*") {
				t.Fatalf("rule %d: host %q\n%q", i+1, h, text)
			}
		}
		for _, p := range r.Paths {
			if !strings.HasPrefix(p, "/") || authz.CheckPattern(p) != nil {
				t.Fatalf("rule %d: path %q\n%q", i+1, p, text)
			}
		}
		for _, m := range r.Methods {
			if !slices.Contains(methods, m) {
				t.Fatalf("rule %d: method %q\n%q", i+1, m, text)
			}
		}
		switch r.Policy {
		case authz.Public, authz.Authenticated, authz.Deny:
			if r.Need != "" {
				t.Fatalf("rule %d: policy %d with need %q\n%q", i+1, r.Policy, r.Need, text)
			}
		case authz.Permission:
			if !authz.ValidRequirement(r.Need) {
				t.Fatalf("rule %d: permission %q is not concrete\n%q", i+1, r.Need, text)
			}
		case authz.Role:
			if r.Need == "" {
				t.Fatalf("rule %d: role rule without a role\n%q", i+1, text)
			}
		default:
			t.Fatalf("rule %d: policy %d\n%q", i+1, r.Policy, text)
		}
	}
}
