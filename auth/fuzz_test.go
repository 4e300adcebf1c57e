package auth

// Fuzz targets for what clients hand the auth core: session cookies,
// refresh tokens and email addresses. They live in package auth (not
// auth_test) to reach the unexported parsers.

import (
	"context"
	"encoding/base64"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/memory"
)

// countingStore counts session lookups, so a fuzz target can check that
// junk never reaches the store.
type countingStore struct {
	store.Store
	lookups atomic.Int64
}

func (c *countingStore) SessionByTokenHash(ctx context.Context, hash []byte) (store.Session, error) {
	c.lookups.Add(1)
	return c.Store.SessionByTokenHash(ctx, hash)
}

// fuzzService is a Service on a memory store holding one user with one
// live session, whose token it returns.
func fuzzService(f *testing.F) (*Service, *countingStore, string) {
	ctx := context.Background()
	st := &countingStore{Store: memory.New()}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	svc := NewService(Config{Now: func() time.Time { return now }}, Deps{Store: st})
	u := store.User{ID: "usr_fuzz", Email: "fuzz@example.com", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		f.Fatal(err)
	}
	in, err := svc.startSession(ctx, u, Client{IP: "192.0.2.1", UserAgent: "fuzz"}, false)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, in.Token, Client{}); err != nil {
		f.Fatalf("the real token does not authenticate: %v", err)
	}
	return svc, st, in.Token
}

// urlSafe reports whether every byte of s is in the unpadded base64url
// alphabet.
func urlSafe(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// FuzzSessionCookie feeds arbitrary cookie values to wellFormedToken and
// Authenticate. Only 43 base64url characters are well formed; anything
// else is refused before it costs a store lookup; and no value but the
// session's own token authenticates — not even one that decodes to the
// same bytes. Every refusal is Unauthenticated.
func FuzzSessionCookie(f *testing.F) {
	svc, st, real := fuzzService(f)
	ctx := context.Background()
	// The real token differs per run, so seeds are its neighbours: other
	// spellings of the same bytes and near misses. testdata/fuzz holds the
	// inputs that once broke a property (CR or LF inside a token).
	last := real[len(real)-1]
	f.Add(real[:42] + string(rune(last^1)))
	f.Add(real[:42] + "A")
	f.Add(real[:42])
	f.Add(real + "A")
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("A", 42) + "=")
	f.Add(strings.Repeat("+", 43))
	f.Add(strings.Repeat("/", 43))
	f.Add("")
	f.Add(strings.Repeat("A", 44) + "==")
	f.Add(strings.Repeat("A", 1<<12))
	f.Fuzz(func(t *testing.T, cookie string) {
		wf := wellFormedToken(cookie)
		if wf && (len(cookie) != 43 || !urlSafe(cookie)) {
			t.Fatalf("wellFormedToken(%q) = true: not 43 base64url characters", cookie)
		}
		if !wf && len(cookie) == 43 && urlSafe(cookie) {
			t.Fatalf("wellFormedToken(%q) = false for 43 base64url characters", cookie)
		}
		before := st.lookups.Load()
		p, err := svc.Authenticate(ctx, cookie, Client{IP: "198.51.100.7", UserAgent: "fuzz"})
		if cookie == real {
			if err != nil {
				t.Fatalf("the real token is refused: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("cookie %q authenticated as %s (session %s)", cookie, p.User.ID, p.Session.ID)
		}
		if c := apperr.CodeOf(err); c != apperr.Unauthenticated {
			t.Fatalf("cookie %q: error code %s, want unauthenticated (%v)", cookie, c, err)
		}
		if !wf && st.lookups.Load() != before {
			t.Fatalf("malformed cookie %q reached the store", cookie)
		}
	})
}

// FuzzParseRefreshToken fuzzes the refresh-token parser: it never panics,
// and an accepted token has a ses_ session ID, a positive generation and a
// 32-byte secret, and re-serialises (String) to exactly the input — so one
// token has one spelling, and what is logged or compared is what was sent.
func FuzzParseRefreshToken(f *testing.F) {
	good := newRefreshToken("ses_abcdefghijklmnopqrstuvwx").String()
	sid, rest, _ := strings.Cut(good, ".")
	_, sec, _ := strings.Cut(rest, ".")
	f.Add(good)
	f.Add(newRefreshToken("ses_abcdefghijklmnopqrstuvwx").next([]byte("k")).String())
	f.Add(sid + ".01." + sec)
	f.Add(sid + ".+1." + sec)
	f.Add(sid + ".0." + sec)
	f.Add(sid + ".-1." + sec)
	f.Add(sid + ".9223372036854775807." + sec)
	f.Add(sid + ".9223372036854775808." + sec)
	f.Add(sid + ".1." + sec + "=")
	f.Add(sid + ".1." + sec[:42] + "B") // non-zero trailing bits
	// testdata/fuzz adds CR and LF inside the secret, which base64's
	// decoder skips even in strict mode.
	f.Add(sid + ".1." + strings.ReplaceAll(sec, "-", "+"))
	f.Add("ses_.1." + sec)
	f.Add("ses_a.b.1." + sec)
	f.Add("usr_x.1." + sec)
	f.Add("ses_" + strings.Repeat("x", 37) + ".1." + sec)
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		rt, ok := parseRefreshToken(s)
		if !ok {
			return
		}
		if !strings.HasPrefix(rt.sessionID, "ses_") || strings.Contains(rt.sessionID, ".") || rt.gen < 1 {
			t.Fatalf("accepted %q as %+v", s, rt)
		}
		if got := rt.String(); got != s {
			t.Fatalf("accepted %q, which re-serialises as %q", s, got)
		}
		again, ok := parseRefreshToken(rt.String())
		if !ok || again != rt {
			t.Fatalf("%q: String() does not parse back to the same token", s)
		}
		dec, err := base64.RawURLEncoding.Strict().DecodeString(s[strings.LastIndexByte(s, '.')+1:])
		if err != nil || string(dec) != string(rt.secret[:]) {
			t.Fatalf("%q: secret does not match its encoding", s)
		}
	})
}

// FuzzNormalizeEmail checks that NormalizeEmail is idempotent — an address
// it returns normalises to itself — and that what it returns is trimmed,
// lower case, at most 254 bytes, with one "@" that is neither first nor
// last. Refusals are Unprocessable.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"ann@example.com", "  Ann@Example.COM\t", "a.b+tag@sub.example.org", "", "ann", "@example.com", "ann@",
		"Ann <ann@example.com>", "ann@example.com (comment)", "\"quoted\"@example.com", "ann@@example.com",
		"a@b@c", "ann@[192.0.2.1]", "ann@example.com.", ".ann@example.com", "ÄNN@ÉXAMPLE.COM", "ann@exa mple.com",
		"KELVIN\u212a@example.com", "\u0130@example.com", "ann\u00a0@example.com", "ann@example.com\u0085",
		"=?utf-8?q?ann?=@example.com", "ann@example.com\x00", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 189) + ".com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			if c := apperr.CodeOf(err); c != apperr.Unprocessable {
				t.Fatalf("NormalizeEmail(%q): error code %s, want unprocessable", s, c)
			}
			return
		}
		if got != strings.TrimSpace(got) || got != strings.ToLower(got) || len(got) > maxEmailLength {
			t.Fatalf("NormalizeEmail(%q) = %q: not trimmed, not lower case, or too long", s, got)
		}
		if at := strings.LastIndexByte(got, '@'); at < 1 || at == len(got)-1 {
			t.Fatalf("NormalizeEmail(%q) = %q: no local part or domain", s, got)
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeEmail(%q) = %q, but NormalizeEmail(%q) = %q, %v", s, got, got, again, err)
		}
	})
}
