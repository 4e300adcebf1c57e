package token

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestB64Table(t *testing.T) {
	if len(b64dec) != 256 {
		t.Fatalf("table has %d entries", len(b64dec))
	}
	for c := 0; c < 256; c++ {
		want := byte(invalidB64)
		if i := strings.IndexByte(b64chars, byte(c)); i >= 0 {
			want = byte(i)
		}
		if b64dec[c] != want {
			t.Errorf("b64dec[%q] = %#x, want %#x", byte(c), b64dec[c], want)
		}
	}
}

func TestDecodeSegment(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" and ok=false for refusal
		ok   bool
	}{
		{"", "", true},
		{"YQ", "a", true},
		{"YWI", "ab", true},
		{"YWJj", "abc", true},
		{"-_-_", "\xfb\xff\xbf", true},
		{"Y", "", false},      // 4n+1
		{"YR", "", false},     // unused bits set
		{"YWJ", "", false},    // unused bits set
		{"YQ==", "", false},   // padding
		{"YW\nJj", "", false}, // the standard library skips newlines
		{"YW+j", "", false},   // standard alphabet
		{"YW/j", "", false},
		{"YW j", "", false},
		{"YWJj\x00", "", false},
	} {
		n := decodedLen(len(tc.in))
		dst := make([]byte, max(n, 0))
		ok := decodeSegment(dst, tc.in)
		if ok != tc.ok || (ok && string(dst) != tc.want) {
			t.Errorf("decodeSegment(%q) = %q, %v; want %q, %v", tc.in, dst, ok, tc.want, tc.ok)
		}
	}
	for n := range 40 {
		if got := encodedLen(n); got != base64.RawURLEncoding.EncodedLen(n) {
			t.Errorf("encodedLen(%d) = %d", n, got)
		}
		if got := decodedLen(encodedLen(n)); got != n {
			t.Errorf("decodedLen(encodedLen(%d)) = %d", n, got)
		}
	}
}

// FuzzDecodeSegment compares the decoder with encoding/base64 in strict
// mode, which differs only in skipping '\r' and '\n'.
func FuzzDecodeSegment(f *testing.F) {
	for _, s := range []string{"", "YQ", "YR", "YWJj", "YW\nJj", "-_8", "YQ=="} {
		f.Add(s)
	}
	strict := base64.RawURLEncoding.Strict()
	f.Fuzz(func(t *testing.T, s string) {
		n := decodedLen(len(s))
		dst := make([]byte, max(n, 0))
		ok := decodeSegment(dst, s)
		want, err := strict.DecodeString(s)
		if strings.ContainsAny(s, "\r\n") {
			if ok {
				t.Fatalf("accepted a newline in %q", s)
			}
			return
		}
		if ok != (err == nil) {
			t.Fatalf("%q: ours ok=%v, encoding/base64 err=%v", s, ok, err)
		}
		if ok && !bytes.Equal(dst, want) {
			t.Fatalf("%q: ours %x, encoding/base64 %x", s, dst, want)
		}
		if ok && base64.RawURLEncoding.EncodeToString(dst) != s {
			t.Fatalf("%q is not the only encoding of %x", s, dst)
		}
	})
}
