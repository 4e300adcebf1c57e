package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

func TestParseAlg(t *testing.T) {
	for in, want := range map[string]Alg{"": EdDSA, "EdDSA": EdDSA, "ES256": ES256, "RS256": RS256, "HS256": HS256} {
		if got, err := ParseAlg(in); err != nil || got != want {
			t.Errorf("ParseAlg(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"none", "eddsa", "hs256", "RS512", "PS256", "ES384"} {
		if _, err := ParseAlg(in); err == nil {
			t.Errorf("ParseAlg(%q) succeeded", in)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	for _, alg := range append(allAlgs, "") {
		k := genKey(t, alg)
		if want := alg; k.Alg != want && !(alg == "" && k.Alg == DefaultAlg) {
			t.Errorf("GenerateKey(%q).Alg = %q", alg, k.Alg)
		}
		if len(k.ID) != 22 || !validKID(k.ID) {
			t.Errorf("%s: kid %q is not 16 bytes of base64url", alg, k.ID)
		}
		if !k.CreatedAt.Equal(testNow()) {
			t.Errorf("%s: CreatedAt = %v", alg, k.CreatedAt)
		}
		if (k.Public() == nil) != (k.Alg == HS256) {
			t.Errorf("%s: Public() = %T", alg, k.Public())
		}
	}
	if k := genKey(t, RS256); k.Public().(*rsa.PublicKey).N.BitLen() != 2048 {
		t.Error("RSA keys should be 2048 bits")
	}
	if genKey(t, EdDSA).ID == genKey(t, EdDSA).ID {
		t.Error("two keys share a kid")
	}
	if _, err := GenerateKey("none", testNow()); err == nil {
		t.Error(`GenerateKey("none") succeeded`)
	}
}

func TestMarshalParsePrivate(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			k := genKey(t, alg)
			data, err := k.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParsePrivate(alg, k.ID, data)
			if err != nil {
				t.Fatal(err)
			}
			if back.ID != k.ID || back.Alg != alg || !back.CreatedAt.IsZero() {
				t.Errorf("parsed key = %v created %v", back, back.CreatedAt)
			}
			// A token signed by the original verifies with the parsed key.
			tok := issue(t, mustKeySet(t, k), testClaims())
			if _, err := testVerifier().Verify(mustKeySet(t, back), tok, testNow()); err != nil {
				t.Fatal(err)
			}
			// MarshalPrivate hands out a copy.
			data[0] ^= 0xff
			if again, _ := k.MarshalPrivate(); again[0] == data[0] {
				t.Error("MarshalPrivate returned the key's own buffer")
			}
		})
	}
}

func TestParsePrivateRefuses(t *testing.T) {
	pkcs8 := func(key any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		alg  Alg
		kid  string
		data []byte
	}{
		{"Ed25519 as ES256", ES256, "k", pkcs8(edPriv)},
		{"P-256 as EdDSA", EdDSA, "k", pkcs8(p256)},
		{"P-256 as RS256", RS256, "k", pkcs8(p256)},
		{"P-384 as ES256", ES256, "k", pkcs8(p384)},
		{"RSA-1024", RS256, "k", pkcs8(rsa1024)},
		{"short HMAC secret", HS256, "k", make([]byte, 31)},
		{"garbage DER", EdDSA, "k", []byte("not a key")},
		{"empty", ES256, "k", nil},
		{"unknown alg", "none", "k", pkcs8(edPriv)},
		{"empty kid", EdDSA, "", pkcs8(edPriv)},
		{"kid with a quote", EdDSA, `a"b`, pkcs8(edPriv)},
		{"kid with a dot", EdDSA, "a.b", pkcs8(edPriv)},
		{"kid too long", EdDSA, strings.Repeat("a", maxKIDLen+1), pkcs8(edPriv)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := ParsePrivate(tc.alg, tc.kid, tc.data); err == nil {
				t.Errorf("ParsePrivate accepted %v", k)
			}
		})
	}
}

func TestKeyDoesNotPrintSecrets(t *testing.T) {
	for _, alg := range allAlgs {
		k := genKey(t, alg)
		want := fmt.Sprintf("token.Key{ID:%q Alg:%s}", k.ID, alg)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if got := fmt.Sprintf(verb, k); got != want {
				t.Errorf("%s %s = %s, want %s", alg, verb, got, want)
			}
		}
	}
}

func TestNewKeySetRefuses(t *testing.T) {
	a, b := genKey(t, EdDSA), genKey(t, ES256)
	if _, err := NewKeySet(nil); err == nil {
		t.Error("nil signing key accepted")
	}
	if _, err := NewKeySet(a, nil); err == nil {
		t.Error("nil verify-only key accepted")
	}
	dup := genKey(t, HS256)
	dup.ID = a.ID
	if _, err := NewKeySet(a, dup); err == nil {
		t.Error("duplicate kid accepted")
	}
	if _, err := NewKeySet(a, a); err == nil {
		t.Error("the same key twice accepted")
	}
	mislabelled := *b
	mislabelled.Alg = EdDSA
	if _, err := NewKeySet(&mislabelled); err == nil {
		t.Error("a P-256 key labelled EdDSA accepted")
	}
	badID := *a
	badID.ID = "a/b"
	if _, err := NewKeySet(&badID); err == nil {
		t.Error("kid with a slash accepted")
	}
	if _, err := NewKeySet(&Key{ID: "empty", Alg: HS256}); err == nil {
		t.Error("HS256 key without a secret accepted")
	}
}

func TestNewKeySetSelfTest(t *testing.T) {
	// A key whose private half does not belong to its public half (a
	// corrupt row) must not become the signing key.
	k := genKey(t, ES256)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	broken := *k.signer.(*ecdsa.PrivateKey)
	broken.D = other.D
	k.signer = &broken
	_, err := NewKeySet(k)
	if err == nil || !strings.Contains(err.Error(), "self-test") {
		t.Errorf("a key that cannot verify its own signatures: %v", err)
	}
}

func TestRSToDER(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := sha256.Sum256([]byte("message"))
	for range 500 { // enough for r and s with the top bit set, and short ones
		der, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
		if err != nil {
			t.Fatal(err)
		}
		r, s, err := parseDERSig(der)
		if err != nil {
			t.Fatal(err)
		}
		var raw [64]byte
		r.FillBytes(raw[:32])
		s.FillBytes(raw[32:])
		if got := rsToDER(nil, raw[:]); string(got) != string(der) {
			t.Fatalf("rsToDER = %x, want %x", got, der)
		}
	}
}

func parseDERSig(der []byte) (r, s *big.Int, err error) {
	var sig struct{ R, S *big.Int }
	_, err = asn1.Unmarshal(der, &sig)
	return sig.R, sig.S, err
}
