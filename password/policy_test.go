package password

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	const (
		tooShort = "Password must be at least 8 characters."
		tooLong  = "Password must be at most 1024 characters."
		common   = "This password is too common; choose another."
	)
	cases := []struct {
		name, password, reason string // reason "" means accepted
	}{
		{"empty", "", tooShort},
		{"seven", "kq7#vZp", tooShort},
		{"exactly eight", "kq7#vZp2", ""},
		{"exactly 1024", strings.Repeat("kq7#", 256), ""},
		{"1025", strings.Repeat("kq7#", 256) + "x", tooLong},
		// Seven two-byte runes are 14 bytes but 7 characters.
		{"multi-byte seven", "ßüöäéèà", tooShort},
		{"multi-byte eight", "ßüöäéèàç", ""},
		// Four-byte runes: 1024 of them is 4096 bytes and allowed.
		{"emoji 1024", strings.Repeat("🔑", 1024), ""},
		{"emoji 1025", strings.Repeat("🔑", 1025), tooLong},
		// Counted after NFKC: "e" + combining acute is one character.
		{"combining seven", strings.Repeat("e\u0301", 7), tooShort},
		// ... and the ligature "ﬁ" counts as two.
		{"ligature four to eight", strings.Repeat("\ufb01", 4), ""},
		{"spaces allowed", "a b c d e f", ""},
		{"no composition rules", "zebrahorsecloud", ""},
		{"common lower", "password", common},
		{"common upper", "PASSWORD", common},
		{"common mixed", "PaSsWoRd", common},
		{"common digits", "12345678", common},
		{"common long", "qwertyuiop", common},
		{"common fullwidth", "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44", common},
		{"common with suffix is fine", "password-for-gatehouse-9", ""},
		{"invalid utf8", "abcdefgh\xff", "Password contains bytes that are not valid text."},
	}
	policies := map[string]Policy{
		"NewPolicy":  NewPolicy(),
		"zero value": {},
	}
	for pname, p := range policies {
		for _, c := range cases {
			t.Run(pname+"/"+c.name, func(t *testing.T) {
				err := p.Check(c.password)
				if c.reason == "" {
					if err != nil {
						t.Fatalf("Check refused: %v", err)
					}
					return
				}
				var pe *PolicyError
				if !errors.As(err, &pe) {
					t.Fatalf("Check = %v, want *PolicyError", err)
				}
				if pe.Reason != c.reason || err.Error() != c.reason {
					t.Errorf("reason %q, want %q", err.Error(), c.reason)
				}
			})
		}
	}
}

func TestPolicyCustomLengths(t *testing.T) {
	p := NewPolicy()
	p.MinLength, p.MaxLength = 12, 16
	if err := p.Check("kq7#vZp2kq7"); err == nil || err.Error() != "Password must be at least 12 characters." {
		t.Errorf("11 chars: %v", err)
	}
	if err := p.Check("kq7#vZp2kq7#vZp2x"); err == nil || err.Error() != "Password must be at most 16 characters." {
		t.Errorf("17 chars: %v", err)
	}
	if err := p.Check("kq7#vZp2kq7#"); err != nil {
		t.Errorf("12 chars: %v", err)
	}
}

func TestCommonListContents(t *testing.T) {
	set := parseCommon(commonPasswords)
	if len(set) < 5000 {
		t.Fatalf("only %d common passwords, want several thousand", len(set))
	}
	for pw := range set {
		if pw != strings.ToLower(pw) || pw != normalize(pw) || strings.TrimSpace(pw) != pw {
			t.Errorf("entry %q is not lowercase, NFKC and trimmed", pw)
		}
		if n := len([]rune(pw)); n < 8 {
			t.Errorf("entry %q has %d characters, want 8 or more", pw, n)
		}
		// The scanning fallback must agree with the set.
		if !scanCommon(commonPasswords, pw) {
			t.Errorf("scanCommon misses %q", pw)
		}
	}
	for _, header := range []string{"#", "# license of the source list (mit):", "permission is hereby granted"} {
		if _, ok := set[header]; ok || scanCommon(commonPasswords, header) {
			t.Errorf("header text %q treated as a password", header)
		}
	}
}

func TestPolicyCopiesShareSet(t *testing.T) {
	p := NewPolicy()
	q := p // copying the value must not copy a lock or lose the set
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if q.Check("iloveyou") == nil || p.Check("sunshine") == nil {
				t.Errorf("common password accepted")
			}
		})
	}
	wg.Wait()
	if p.common.set == nil || len(q.common.set) != len(p.common.set) {
		t.Errorf("set not built once and shared")
	}
}

func BenchmarkPolicyCheck(b *testing.B) {
	p := NewPolicy()
	p.Check("warm up the set")
	for b.Loop() {
		p.Check("correct horse battery staple")
	}
}

func BenchmarkPolicyCheckZeroValue(b *testing.B) {
	var p Policy
	for b.Loop() {
		p.Check("correct horse battery staple")
	}
}
