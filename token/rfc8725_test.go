package token

import (
	"fmt"
	"strings"
	"testing"
)

// TestVerifyRefusesMore covers the RFC 8725 cases TestVerifyRefuses does
// not: other key-carrying headers, stripped and truncated signatures, an
// all-zero ECDSA signature, repeated or case-variant payload members, and
// audiences that are empty or do not name us.
func TestVerifyRefusesMore(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			key := fixedKey(t, alg)
			ks := mustKeySet(t, key)
			good := issue(t, ks, testClaims())
			parts := strings.Split(good, ".")
			hdr, pay, sig := parts[0], parts[1], parts[2]
			payload := mustPayload(t, testClaims())
			header := func(extra string) string {
				return fmt.Sprintf(`{"alg":"%s","kid":"%s","typ":"at+jwt",%s}`, alg, key.ID, extra)
			}
			cases := []struct {
				name string
				tok  string
				want error
			}{
				{"x5u added", signJSON(t, key, header(`"x5u":"https://evil.example/cert"`), payload), ErrUnknownKey},
				{"jwk added", signJSON(t, key, header(`"jwk":{"kty":"oct","k":"AAAA"}`), payload), ErrUnknownKey},
				{"x5c added", signJSON(t, key, header(`"x5c":["AAAA"]`), payload), ErrUnknownKey},
				{"stripped signature", hdr + "." + pay + ".", ErrMalformed},
				{"truncated signature", hdr + "." + pay + "." + sig[:len(sig)-4], ErrMalformed},
				{"character outside base64url", hdr + "." + pay + "." + sig[:5] + "+" + sig[6:], ErrMalformed},
				{"repeated member", signPayload(t, key, strings.Replace(payload, `{`, `{"sub":"usr_attacker",`, 1)), ErrClaims},
				{"case-variant member", signPayload(t, key, strings.Replace(payload, `{`, `{"Sub":"usr_attacker",`, 1)), ErrClaims},
				{"aud empty array", signPayload(t, key, replaceAud(t, payload, `[]`)), ErrAudience},
				{"aud empty string", signPayload(t, key, replaceAud(t, payload, `""`)), ErrAudience},
				{"aud array without us", signPayload(t, key, replaceAud(t, payload, `["https://a.example","https://b.example"]`)), ErrAudience},
			}
			if alg == ES256 {
				zero := b64(make([]byte, 64))
				cases = append(cases, struct {
					name string
					tok  string
					want error
				}{"ECDSA signature of zeros", hdr + "." + pay + "." + zero, ErrSignature})
			}
			v := testVerifier()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					_, err := v.Verify(ks, tc.tok, testNow())
					if err == nil {
						t.Fatal("accepted")
					}
					wantErr(t, err, tc.want)
				})
			}
		})
	}
}

// replaceAud swaps the payload's aud value.
func replaceAud(t *testing.T, payload, aud string) string {
	t.Helper()
	i := strings.Index(payload, `"aud":`)
	if i < 0 {
		t.Fatalf("no aud in %s", payload)
	}
	rest := payload[i+len(`"aud":`):]
	var end int
	if strings.HasPrefix(rest, "[") {
		end = strings.IndexByte(rest, ']') + 1
	} else {
		end = strings.IndexByte(rest[1:], '"') + 2
	}
	return payload[:i] + `"aud":` + aud + rest[end:]
}
