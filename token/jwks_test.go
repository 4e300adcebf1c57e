package token

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func jwksKeys(t *testing.T, ks *KeySet) []map[string]any {
	t.Helper()
	data, err := ks.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, data)
	}
	return set.Keys
}

func TestJWKSPublishesOnlyPublicKeys(t *testing.T) {
	ks := fixedKeySet(t, HS256) // HS256 signs; the others verify
	keys := jwksKeys(t, ks)
	want := map[string]string{"test-eddsa": "OKP", "test-es256": "EC", "test-rs256": "RSA"}
	if len(keys) != len(want) {
		t.Fatalf("JWKS has %d keys, want %d: %v", len(keys), len(want), keys)
	}
	allowed := map[string]bool{"kty": true, "crv": true, "x": true, "y": true, "n": true, "e": true, "kid": true, "alg": true, "use": true}
	for _, k := range keys {
		kid, _ := k["kid"].(string)
		if kty := want[kid]; kty == "" || k["kty"] != kty {
			t.Errorf("unexpected key %v", k)
		}
		if k["use"] != "sig" {
			t.Errorf("%s: use = %v", kid, k["use"])
		}
		for name := range k {
			if !allowed[name] {
				t.Errorf("%s: JWKS has member %q (private fields are d, p, q, dp, dq, qi, k)", kid, name)
			}
		}
	}

	only, err := NewKeySet(fixedKey(t, HS256))
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := only.JWKS(); string(data) != `{"keys":[]}` {
		t.Errorf("HS256-only JWKS = %s", data)
	}
}

func TestJWKSMembers(t *testing.T) {
	// The exact members per key type, against RFC 7517/7518/8037.
	for _, tc := range []struct {
		alg     Alg
		members string
	}{
		{EdDSA, "alg crv kid kty use x"},
		{ES256, "alg crv kid kty use x y"},
		{RS256, "alg e kid kty n use"},
	} {
		k := jwksKeys(t, mustKeySet(t, fixedKey(t, tc.alg)))[0]
		var names []string
		for _, n := range strings.Fields("alg crv e kid kty n use x y") {
			if _, ok := k[n]; ok {
				names = append(names, n)
			}
		}
		if got := strings.Join(names, " "); got != tc.members || len(k) != len(names) {
			t.Errorf("%s: members %v, want %s", tc.alg, k, tc.members)
		}
		if tc.alg == RS256 && k["e"] != "AQAB" {
			t.Errorf("RS256 e = %v, want AQAB", k["e"])
		}
	}
}

// TestJWKSWithJWX checks the JWKS and the tokens against an independent
// JOSE implementation: what an app in another language would do.
func TestJWKSWithJWX(t *testing.T) {
	for _, alg := range []Alg{EdDSA, ES256, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			ks := fixedKeySet(t, alg)
			data, err := ks.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			set, err := jwk.Parse(data)
			if err != nil {
				t.Fatalf("jwx cannot parse the JWKS: %v\n%s", err, data)
			}
			if set.Len() != 3 {
				t.Fatalf("jwx sees %d keys", set.Len())
			}
			tok := issue(t, ks, testClaims())
			parsed, err := jwt.ParseString(tok,
				jwt.WithKeySet(set),
				jwt.WithValidate(true),
				jwt.WithIssuer(testIssuer),
				jwt.WithAudience(testAudience),
				jwt.WithClock(jwt.ClockFunc(testNow)),
			)
			if err != nil {
				t.Fatalf("jwx refuses the token: %v", err)
			}
			if sub, _ := parsed.Subject(); sub != testClaims().Subject {
				t.Errorf("jwx reads sub %q", sub)
			}
			var sid string
			if err := parsed.Get("sid", &sid); err != nil || sid != testClaims().SessionID {
				t.Errorf("jwx reads sid %q, %v", sid, err)
			}

			// And jwx refuses what it should: a token from a key not in the set.
			stranger := issue(t, mustKeySet(t, genKey(t, alg)), testClaims())
			if _, err := jwt.ParseString(stranger, jwt.WithKeySet(set)); err == nil {
				t.Error("jwx accepted a token from a key outside the JWKS")
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	server := fixedKeySet(t, EdDSA)
	data, _ := server.JWKS()
	client, err := ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	if client.SigningKeyID() != "" {
		t.Error("a key set from a JWKS has a signing key")
	}
	if ids := strings.Join(client.KeyIDs(), " "); ids != "test-eddsa test-es256 test-rs256" {
		t.Errorf("KeyIDs = %s", ids)
	}
	if _, err := client.Issue(testClaims()); err == nil {
		t.Error("a key set from a JWKS issued a token")
	}
	if again, _ := client.JWKS(); string(again) != string(data) {
		t.Errorf("JWKS does not round-trip:\n%s\n%s", again, data)
	}
	for _, alg := range allAlgs {
		tok := issue(t, fixedKeySet(t, alg), testClaims())
		_, err := testVerifier().Verify(client, tok, testNow())
		if alg == HS256 {
			wantErr(t, err, ErrUnknownKey) // never published, so unknown
		} else {
			wantErr(t, err, nil)
		}
	}
}

func TestParseJWKSRefuses(t *testing.T) {
	good := func(alg Alg) map[string]any {
		return jwksKeys(t, mustKeySet(t, fixedKey(t, alg)))[0]
	}
	render := func(keys ...map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return b
	}
	with := func(k map[string]any, name string, v any) map[string]any {
		c := map[string]any{}
		for n, x := range k {
			c[n] = x
		}
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
		return c
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	small := with(good(RS256), "n", b64(rsa1024.N.Bytes()))
	for name, data := range map[string][]byte{
		"not JSON":             []byte("{"),
		"no keys":              []byte(`{"keys":[]}`),
		"only unknown keys":    render(with(good(EdDSA), "alg", "Ed448"), with(good(ES256), "use", "enc")),
		"short Ed25519 x":      render(with(good(EdDSA), "x", "AAAA")),
		"Ed25519 x not base64": render(with(good(EdDSA), "x", strings.Repeat("*", 43))),
		"point not on curve":   render(with(good(ES256), "y", good(ES256)["x"])),
		"missing y":            render(with(good(ES256), "y", nil)),
		"small RSA key":        render(small),
		"even RSA exponent":    render(with(good(RS256), "e", "AQAA")),
		"bad kid":              render(with(good(EdDSA), "kid", "a b")),
		"duplicate kid":        render(good(EdDSA), with(good(ES256), "kid", "test-eddsa")),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseJWKS(data); err == nil {
				t.Errorf("ParseJWKS accepted %s", data)
			}
		})
	}
	// Keys for other uses are skipped, not fatal.
	ks, err := ParseJWKS(render(good(EdDSA), with(good(ES256), "use", "enc")))
	if err != nil || len(ks.entries) != 1 {
		t.Errorf("mixed JWKS: %v, %v", ks, err)
	}
}

func ExampleKeySet_JWKS() {
	k, err := ParsePrivate(EdDSA, "example-kid", exampleEd25519)
	if err != nil {
		panic(err)
	}
	ks, err := NewKeySet(k)
	if err != nil {
		panic(err)
	}
	jwks, _ := ks.JWKS()
	fmt.Println(string(jwks))
	// Output: {"keys":[{"kty":"OKP","use":"sig","alg":"EdDSA","kid":"example-kid","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}
}

// exampleEd25519 is the PKCS#8 form of the RFC 8037 A.1 test key.
var exampleEd25519 = []byte{
	0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
}
