package token

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// referenceVerify verifies tok independently with golang-jwt, pinned to
// key k and its algorithm, with the rules Verifier applies. It is the
// oracle for the fuzz targets: Verify must never accept what it refuses.
func referenceVerify(k *Key, tok string, now time.Time) (jwt.MapClaims, error) {
	var key any = k.Public()
	if k.Alg == HS256 {
		key = k.secret
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{string(k.Alg)}),
		jwt.WithIssuer(testIssuer),
		jwt.WithAudience(testAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	claims := jwt.MapClaims{}
	_, err := p.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != k.ID {
			return nil, errors.New("kid is not the pinned key's")
		}
		return key, nil
	})
	if err != nil {
		return nil, err
	}
	// What golang-jwt does not check by itself.
	for _, name := range []string{"sub", "sid", "jti"} {
		if s, _ := claims[name].(string); s == "" {
			return nil, fmt.Errorf("missing %s", name)
		}
	}
	if _, ok := claims["iat"]; !ok {
		return nil, errors.New("missing iat")
	}
	return claims, nil
}

// agree fails t unless claims Verify accepted match the reference's.
func agree(t *testing.T, tok string, got Claims, ref jwt.MapClaims) {
	t.Helper()
	for name, v := range map[string]string{"iss": got.Issuer, "sub": got.Subject, "sid": got.SessionID, "jti": got.ID} {
		if ref[name] != v {
			t.Fatalf("%q: %s = %q, reference reads %v", tok, name, v, ref[name])
		}
	}
	for name, v := range map[string]time.Time{"exp": got.ExpiresAt, "iat": got.IssuedAt} {
		if f, ok := ref[name].(float64); !ok || int64(f) != v.Unix() {
			t.Fatalf("%q: %s = %v, reference reads %v", tok, name, v.Unix(), ref[name])
		}
	}
}

func fuzzSeeds(f *testing.F, keys map[Alg]*Key) {
	for _, alg := range allAlgs {
		k := keys[alg]
		ksAlg := mustKeySet(f, k)
		good := issue(f, ksAlg, testClaims())
		parts := strings.Split(good, ".")
		f.Add(good)
		f.Add(parts[0] + "." + parts[1])
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(good + ".")
		f.Add(good + "A")
		f.Add(parts[0] + "." + parts[1][1:] + "." + parts[2])
		f.Add(b64([]byte(`{"alg":"none","kid":"`+k.ID+`","typ":"at+jwt"}`)) + "." + parts[1] + ".")
		f.Add(signPayload(f, k, `{"sub":"x","sid":"s","jti":"j","iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":1750000001,"iat":1749999999}`))
		f.Add(signPayload(f, k, `{"sub":"x","exp":1.75e9}`))
	}
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
}

func fuzzKeys(f *testing.F) (*KeySet, map[Alg]*Key) {
	keys := map[Alg]*Key{}
	for _, alg := range allAlgs {
		keys[alg] = fixedKey(f, alg)
	}
	ks := mustKeySet(f, keys[EdDSA], keys[ES256], keys[RS256], keys[HS256])
	return ks, keys
}

// FuzzVerify feeds arbitrary strings to Verify: it must not panic, and
// whatever it accepts, golang-jwt with the key pinned must accept too,
// with the same claims.
func FuzzVerify(f *testing.F) {
	ks, keys := fuzzKeys(f)
	fuzzSeeds(f, keys)
	v := testVerifier()
	now := testNow()
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := v.Verify(ks, tok, now)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("%q: error %v wraps no sentinel", tok, err)
			}
			return
		}
		header, _, _ := strings.Cut(tok, ".")
		e := ks.byHeader[header]
		if e == nil {
			t.Fatalf("accepted %q with a header that is not ours", tok)
		}
		ref, err := referenceVerify(e.key, tok, now)
		if err != nil {
			t.Fatalf("accepted %q, which golang-jwt refuses: %v", tok, err)
		}
		agree(t, tok, got, ref)
	})
}

// FuzzVerifyPayload signs arbitrary payloads with our own header, so the
// claim rules and the claims decoder are exercised behind a valid
// signature, which FuzzVerify can almost never produce.
func FuzzVerifyPayload(f *testing.F) {
	k := fixedKey(f, HS256)
	ks := mustKeySet(f, k)
	f.Add(mustPayload(f, testClaims()))
	f.Add(`{"sub":"x","sid":"s","jti":"j","iss":"` + testIssuer + `","aud":["a","` + testAudience + `"],"exp":1750000001,"iat":1750000000}`)
	f.Add(`{"sub":"x","sid":"s","jti":"j","iss":"` + testIssuer + `","aud":"` + testAudience + `","exp":1750000000,"iat":1749999999}`)
	f.Add(`{"sub":"x","Sub":"y","sid":"s","jti":"j","iss":"` + testIssuer + `","aud":"` + testAudience + `","exp":1.75e10,"iat":0}`)
	v := testVerifier()
	now := testNow()
	f.Fuzz(func(t *testing.T, payload string) {
		tok := headerFor(k.Alg, k.ID) + "." + b64([]byte(payload))
		sig, err := ks.signing.sign([]byte(tok))
		if err != nil {
			t.Fatal(err)
		}
		tok += "." + b64(sig)
		got, err := v.Verify(ks, tok, now)
		if err != nil {
			if errors.Is(err, ErrSignature) || errors.Is(err, ErrUnknownKey) || !isSentinel(err) {
				t.Fatalf("payload %q: %v", payload, err)
			}
			return
		}
		ref, err := referenceVerify(k, tok, now)
		if err != nil {
			t.Fatalf("accepted payload %q, which golang-jwt refuses: %v", payload, err)
		}
		agree(t, tok, got, ref)
	})
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrTooLarge, ErrMalformed, ErrUnknownKey, ErrSignature, ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience, ErrClaims} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
