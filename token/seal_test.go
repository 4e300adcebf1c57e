package token

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, MinSecretSize)
	plain := []byte("-----private key material-----")
	sealed, err := Seal(secret, "kid1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed data contains the plaintext")
	}
	got, err := Open(secret, "kid1", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := Seal(secret, "kid1", plain)
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same key are identical: the nonce is not random")
	}
	if empty, err := Seal(secret, "kid1", nil); err != nil {
		t.Error(err)
	} else if got, err := Open(secret, "kid1", empty); err != nil || len(got) != 0 {
		t.Errorf("empty plaintext: %q, %v", got, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, MinSecretSize)
	sealed, err := Seal(secret, "kid1", []byte("private key"))
	if err != nil {
		t.Fatal(err)
	}
	otherSecret := bytes.Repeat([]byte{8}, MinSecretSize)
	cases := map[string]struct {
		secret []byte
		kid    string
		data   []byte
	}{
		"wrong secret":           {otherSecret, "kid1", sealed},
		"longer secret":          {append(bytes.Clone(secret), 0), "kid1", sealed},
		"wrong kid":              {secret, "kid2", sealed},
		"kid prefix":             {secret, "kid", sealed},
		"truncated":              {secret, "kid1", sealed[:len(sealed)-1]},
		"too short":              {secret, "kid1", sealed[:20]},
		"empty":                  {secret, "kid1", nil},
		"appended byte":          {secret, "kid1", append(bytes.Clone(sealed), 0)},
		"unknown format version": {secret, "kid1", append([]byte{2}, sealed[1:]...)},
	}
	// Every single-bit change anywhere is caught: version, nonce,
	// ciphertext and tag.
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			d := bytes.Clone(sealed)
			d[i] ^= bit
			if _, err := Open(secret, "kid1", d); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("flipping bit %#x of byte %d: err = %v", bit, i, err)
			}
		}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Open(tc.secret, tc.kid, tc.data)
			if !errors.Is(err, ErrDecrypt) || got != nil {
				t.Errorf("Open = %q, %v; want ErrDecrypt", got, err)
			}
		})
	}
}

func TestSealNeedsALongSecret(t *testing.T) {
	short := make([]byte, MinSecretSize-1)
	if _, err := Seal(short, "k", []byte("x")); err == nil {
		t.Error("Seal accepted a short secret")
	}
	if _, err := Open(short, "k", make([]byte, 64)); err == nil {
		t.Error("Open accepted a short secret")
	}
}

func TestSealedKeyRoundTrip(t *testing.T) {
	// The path the store takes: generate, marshal, seal; open, parse.
	secret := bytes.Repeat([]byte{42}, 48)
	for _, alg := range allAlgs {
		k := genKey(t, alg)
		der, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := Seal(secret, k.ID, der)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := Open(secret, k.ID, sealed)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePrivate(alg, k.ID, opened)
		if err != nil {
			t.Fatal(err)
		}
		tok := issue(t, mustKeySet(t, k), testClaims())
		if _, err := testVerifier().Verify(mustKeySet(t, back), tok, testNow()); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
}
