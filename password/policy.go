package password

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// commonPasswords is the shipped blocklist: one lowercase password per
// line, "#" comment lines first. Source and license are in the file header.
//
//go:embed common-passwords.txt
var commonPasswords string

// Default length bounds, in Unicode code points after NFKC.
const (
	// DefaultMinLength is NIST SP 800-63B's minimum for a memorised secret.
	DefaultMinLength = 8
	// DefaultMaxLength is generous enough for passphrases and password
	// managers while bounding hashing input.
	DefaultMaxLength = 1024
)

// Policy decides whether a new password is acceptable, following NIST SP
// 800-63B section 5.1.1.2: a minimum and maximum length, no composition
// rules (no "one digit and one symbol"), and no password from a list of
// commonly used ones. Create it with NewPolicy and reuse it: the list is
// parsed into a set on first use and shared by copies of the value.
//
// Lengths count Unicode code points after NFKC normalisation, the form the
// Hasher hashes. The blocklist only holds entries of 8 or more characters,
// so a MinLength below 8 lets short common passwords through.
type Policy struct {
	// MinLength is the fewest characters allowed; zero means
	// DefaultMinLength.
	MinLength int
	// MaxLength is the most characters allowed; zero means
	// DefaultMaxLength.
	MaxLength int

	common *commonSet
}

// commonSet is the blocklist parsed into a set, built once on demand.
type commonSet struct {
	once sync.Once
	set  map[string]struct{}
}

// NewPolicy returns a Policy with the default lengths and its own lazily
// built copy of the common-password list.
func NewPolicy() Policy {
	return Policy{MinLength: DefaultMinLength, MaxLength: DefaultMaxLength, common: new(commonSet)}
}

// PolicyError explains why a password was refused. Reason is a sentence
// fit to show the person choosing the password.
type PolicyError struct {
	Reason string
}

// Error returns Reason.
func (e *PolicyError) Error() string { return e.Reason }

// Check returns nil if password is acceptable and a *PolicyError otherwise.
// The comparison with the common-password list ignores case.
func (p Policy) Check(password string) error {
	minLen, maxLen := p.MinLength, p.MaxLength
	if minLen <= 0 {
		minLen = DefaultMinLength
	}
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	if !utf8.ValidString(password) {
		return &PolicyError{Reason: "Password contains bytes that are not valid text."}
	}
	password = normalize(password)
	n := utf8.RuneCountInString(password)
	switch {
	case n < minLen:
		return &PolicyError{Reason: fmt.Sprintf("Password must be at least %d characters.", minLen)}
	case n > maxLen:
		return &PolicyError{Reason: fmt.Sprintf("Password must be at most %d characters.", maxLen)}
	case p.isCommon(strings.ToLower(password)):
		return &PolicyError{Reason: "This password is too common; choose another."}
	}
	return nil
}

// isCommon looks lower up in the blocklist. A Policy not made by NewPolicy
// has no set to fill, so it scans the embedded text instead: correct, just
// slower (about 0.15 ms per check instead of 60 ns).
func (p Policy) isCommon(lower string) bool {
	if p.common == nil {
		return scanCommon(commonPasswords, lower)
	}
	p.common.once.Do(func() { p.common.set = parseCommon(commonPasswords) })
	_, ok := p.common.set[lower]
	return ok
}

// parseCommon turns the embedded list into a set, skipping comments and
// blank lines.
func parseCommon(text string) map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(text, "\n"))
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[line] = struct{}{}
	}
	return set
}

// scanCommon reports whether lower is a whole line of text.
func scanCommon(text, lower string) bool {
	if lower == "" || strings.ContainsAny(lower, "\r\n") || strings.HasPrefix(lower, "#") {
		return false
	}
	needle := "\n" + lower + "\n"
	return strings.Contains(text, needle)
}
