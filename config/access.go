package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/authz"
)

// Access is the access-rule section of the config file:
//
//	access:
//	  rules:
//	    - host: notes.example.com
//	      path: [/api/]
//	      methods: [GET]
//	      permission: notes:read
//	    - path: /public/
//	      allow: public
//
// Each rule names exactly one of allow (public, authenticated, deny),
// permission or role. The first matching rule wins; no match denies.
type Access struct {
	Rules []RuleConfig `yaml:"rules"`
}

// RuleConfig is one rule as written, with its line in the file.
type RuleConfig struct {
	Host       stringList `yaml:"host"`
	Path       stringList `yaml:"path"`
	Methods    stringList `yaml:"methods"`
	Allow      string     `yaml:"allow"`
	Permission string     `yaml:"permission"`
	Role       string     `yaml:"role"`
	Line       int        `yaml:"-"`
}

// UnmarshalYAML records the rule's line and refuses unknown keys (yaml's
// own strict mode does not reach into custom decoders).
func (r *RuleConfig) UnmarshalYAML(n *yaml.Node) error {
	r.Line = n.Line
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: an access rule must be a mapping (host, path, methods, allow|permission|role)", n.Line)
	}
	known := []string{"host", "path", "methods", "allow", "permission", "role"}
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(known, k) {
			return fmt.Errorf("line %d: access rule has unknown key %q (known: %s)", n.Content[i].Line, k, strings.Join(known, ", "))
		}
	}
	type plain RuleConfig
	if err := n.Decode((*plain)(r)); err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	r.Line = n.Line
	return nil
}

// stringList accepts a single string or a list of strings.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = []string{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
		}
		*l = s
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// Compile turns the configured rules into authz rules, refusing bad ones with
// a message that names the line.
func (a Access) Compile() ([]authz.Rule, error) {
	out := make([]authz.Rule, 0, len(a.Rules))
	for i, rc := range a.Rules {
		where := fmt.Sprintf("access rule %d (line %d)", i+1, rc.Line)
		r := authz.Rule{Line: rc.Line}
		n := 0
		if rc.Allow != "" {
			n++
			switch rc.Allow {
			case "public":
				r.Policy = authz.Public
			case "authenticated":
				r.Policy = authz.Authenticated
			case "deny":
				r.Policy = authz.Deny
			default:
				return nil, fmt.Errorf("%s: allow must be public, authenticated or deny, not %q", where, rc.Allow)
			}
		}
		if rc.Permission != "" {
			n++
			if !authz.ValidRequirement(rc.Permission) {
				return nil, fmt.Errorf("%s: permission %q must be resource:action without wildcards, e.g. notes:read", where, rc.Permission)
			}
			r.Policy, r.Need = authz.Permission, rc.Permission
		}
		if rc.Role != "" {
			n++
			r.Policy, r.Need = authz.Role, rc.Role
		}
		if n != 1 {
			return nil, fmt.Errorf("%s: give exactly one of allow, permission or role", where)
		}
		for _, h := range rc.Host {
			h = strings.ToLower(strings.TrimSpace(h))
			if h == "" || strings.ContainsAny(h, "/: ") || strings.Contains(strings.TrimPrefix(h, "*."), "*") {
				return nil, fmt.Errorf("%s: host %q must be a host name or *.domain", where, h)
			}
			r.Hosts = append(r.Hosts, h)
		}
		for _, p := range rc.Path {
			if err := authz.CheckPattern(p); err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
			r.Paths = append(r.Paths, p)
		}
		for _, m := range rc.Methods {
			m = strings.ToUpper(strings.TrimSpace(m))
			if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, m) {
				return nil, fmt.Errorf("%s: unknown method %q", where, m)
			}
			r.Methods = append(r.Methods, m)
		}
		out = append(out, r)
	}
	return out, nil
}
