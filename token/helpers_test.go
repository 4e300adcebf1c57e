package token

import (
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests run at a fixed time, so fixtures and golden tokens stay valid.
const testNowUnix = 1_750_000_000

func testNow() time.Time { return time.Unix(testNowUnix, 0).UTC() }

var allAlgs = []Alg{EdDSA, ES256, RS256, HS256}

// fixedKey loads the test key for alg from testdata. The keys are fixed so
// that fuzz workers (separate processes) and golden files agree on them.
// They are test fixtures and protect nothing.
func fixedKey(tb testing.TB, alg Alg) *Key {
	tb.Helper()
	kid := "test-" + strings.ToLower(string(alg))
	var der []byte
	if alg == HS256 {
		b, err := os.ReadFile(filepath.Join("testdata", "hs256.b64"))
		if err != nil {
			tb.Fatal(err)
		}
		if der, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil {
			tb.Fatal(err)
		}
	} else {
		b, err := os.ReadFile(filepath.Join("testdata", strings.ToLower(string(alg))+".pem"))
		if err != nil {
			tb.Fatal(err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			tb.Fatalf("%s: no PEM block", alg)
		}
		der = block.Bytes
	}
	k, err := ParsePrivate(alg, kid, der)
	if err != nil {
		tb.Fatal(err)
	}
	k.CreatedAt = testNow().Add(-24 * time.Hour)
	return k
}

// fixedKeySet signs with the fixed key for alg and verifies with all four.
func fixedKeySet(tb testing.TB, signing Alg) *KeySet {
	tb.Helper()
	var others []*Key
	for _, a := range allAlgs {
		if a != signing {
			others = append(others, fixedKey(tb, a))
		}
	}
	ks, err := NewKeySet(fixedKey(tb, signing), others...)
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

func mustKeySet(tb testing.TB, signing *Key, verifyOnly ...*Key) *KeySet {
	tb.Helper()
	ks, err := NewKeySet(signing, verifyOnly...)
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

func genKey(tb testing.TB, alg Alg) *Key {
	tb.Helper()
	k, err := GenerateKey(alg, testNow())
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "https://api.example.com"
)

// testClaims are realistic claims: the payload is about 300 bytes.
func testClaims() Claims {
	now := testNow()
	return Claims{
		Issuer:    testIssuer,
		Subject:   "usr_7k2mq4xw9p3n5r8t1v6y0zbcdf",
		Audience:  []string{testAudience},
		ExpiresAt: now.Add(15 * time.Minute),
		IssuedAt:  now.Add(-time.Minute),
		NotBefore: now.Add(-time.Minute),
		ID:        "Jx8fQ2pLr5Tz0vWb3nYc7A",
		SessionID: "ses_h3j5k7m9p2r4t6v8x0z1b3d5f7",
		Roles:     []string{"admin", "billing-editor", "support-viewer"},
		Scope:     "openid profile email offline_access",
		AuthTime:  now.Add(-2 * time.Hour),
	}
}

func testVerifier() *Verifier {
	return &Verifier{Issuer: testIssuer, Audience: testAudience}
}

func issue(tb testing.TB, ks *KeySet, c Claims) string {
	tb.Helper()
	tok, err := ks.Issue(c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// signSegments signs header and payload segments, used as given, with k,
// whatever they contain: the way to build signed tokens that Issue would
// never make.
func signSegments(tb testing.TB, k *Key, headerSeg, payloadSeg string) string {
	tb.Helper()
	e, err := newEntry(k.ID, k.Alg, k.Public(), k.secret)
	if err != nil {
		tb.Fatal(err)
	}
	e.key = k
	msg := headerSeg + "." + payloadSeg
	sig, err := e.sign([]byte(msg))
	if err != nil {
		tb.Fatal(err)
	}
	return msg + "." + b64(sig)
}

// signJSON signs a raw JSON header and payload with k.
func signJSON(tb testing.TB, k *Key, header, payload string) string {
	tb.Helper()
	return signSegments(tb, k, b64([]byte(header)), b64([]byte(payload)))
}

// signPayload signs a raw JSON payload under the header gatehouse writes
// for k.
func signPayload(tb testing.TB, k *Key, payload string) string {
	tb.Helper()
	return signSegments(tb, k, headerFor(k.Alg, k.ID), b64([]byte(payload)))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustPayload(tb testing.TB, c Claims) string {
	tb.Helper()
	b, err := c.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// wantErr fails unless err wraps want (or is nil when want is nil).
func wantErr(tb testing.TB, err, want error) {
	tb.Helper()
	if want == nil {
		if err != nil {
			tb.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		tb.Fatalf("error = %v, want %v", err, want)
	}
}
