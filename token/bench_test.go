package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

// The benchmarks verify the same token bytes per algorithm: testClaims(),
// a payload of about 300 bytes with three roles, signed by the fixed test
// keys. Compare, within one run:
//
//	BenchmarkRawSignature  the standard library's signature check alone
//	BenchmarkVerify        Verify: header lookup, signature, claims, rules
//	BenchmarkGolangJWT     github.com/golang-jwt/jwt/v5, method pinned
//	BenchmarkJWX           github.com/lestrrat-go/jwx/v3, key pinned
//	BenchmarkIssue         Issue
//	BenchmarkRatio         Verify and the raw check in alternation
//
// go test -run xxx -bench . -benchmem -count 3 ./token/

type benchToken struct {
	alg Alg
	key *Key
	ks  *KeySet
	tok string
	msg []byte // header.payload, the signing input
	sig []byte
}

func benchTokens(b *testing.B) []benchToken {
	var out []benchToken
	for _, alg := range allAlgs {
		k := fixedKey(b, alg)
		ks := mustKeySet(b, k)
		tok := issue(b, ks, testClaims())
		i := strings.LastIndexByte(tok, '.')
		sig := make([]byte, decodedLen(len(tok)-i-1))
		if !decodeSegment(sig, tok[i+1:]) {
			b.Fatal("bad signature encoding")
		}
		out = append(out, benchToken{alg: alg, key: k, ks: ks, tok: tok, msg: []byte(tok[:i]), sig: sig})
	}
	return out
}

// rawCheck returns the standard library's check of bt's signature, with
// everything it needs prepared outside: the floor Verify is compared to.
func rawCheck(bt benchToken) func() bool {
	switch bt.alg {
	case EdDSA:
		pub := bt.key.Public().(ed25519.PublicKey)
		return func() bool { return ed25519.Verify(pub, bt.msg, bt.sig) }
	case ES256:
		// The ASN.1 form is made outside too: hash and verify, nothing else.
		pub := bt.key.Public().(*ecdsa.PublicKey)
		der := rsToDER(nil, bt.sig)
		return func() bool {
			h := sha256.Sum256(bt.msg)
			return ecdsa.VerifyASN1(pub, h[:], der)
		}
	case RS256:
		pub := bt.key.Public().(*rsa.PublicKey)
		return func() bool {
			h := sha256.Sum256(bt.msg)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], bt.sig) == nil
		}
	case HS256:
		// A reused HMAC, the fastest the standard library goes.
		mac := hmac.New(sha256.New, bt.key.secret)
		var sum [sha256.Size]byte
		return func() bool {
			mac.Reset()
			mac.Write(bt.msg)
			return hmac.Equal(mac.Sum(sum[:0]), bt.sig)
		}
	}
	panic("unknown alg")
}

func BenchmarkRawSignature(b *testing.B) {
	for _, bt := range benchTokens(b) {
		b.Run(string(bt.alg), func(b *testing.B) {
			check := rawCheck(bt)
			b.ReportAllocs()
			for b.Loop() {
				if !check() {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkRatio measures Verify against the raw signature check in
// alternation, so that both see the same load and caches, and reports the
// quotient as "verify/raw". On a shared machine it is steadier than
// dividing the results of BenchmarkVerify and BenchmarkRawSignature.
func BenchmarkRatio(b *testing.B) {
	v := testVerifier()
	now := testNow()
	for _, bt := range benchTokens(b) {
		b.Run(string(bt.alg), func(b *testing.B) {
			check := rawCheck(bt)
			chunk := 1
			if bt.alg == HS256 {
				chunk = 64 // amortise reading the clock
			}
			var raw, ours time.Duration
			for b.Loop() {
				t0 := time.Now()
				for range chunk {
					if !check() {
						b.Fatal("invalid")
					}
				}
				t1 := time.Now()
				for range chunk {
					if _, err := v.Verify(bt.ks, bt.tok, now); err != nil {
						b.Fatal(err)
					}
				}
				t2 := time.Now()
				raw += t1.Sub(t0)
				ours += t2.Sub(t1)
			}
			b.ReportMetric(float64(ours)/float64(raw), "verify/raw")
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	v := testVerifier()
	now := testNow()
	for _, bt := range benchTokens(b) {
		b.Run(string(bt.alg), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(bt.ks, bt.tok, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// gjClaims is the same claim set for golang-jwt.
type gjClaims struct {
	gjwt.RegisteredClaims
	SessionID string            `json:"sid"`
	Roles     []string          `json:"roles"`
	Scope     string            `json:"scope,omitempty"`
	AuthTime  *gjwt.NumericDate `json:"auth_time,omitempty"`
}

func BenchmarkGolangJWT(b *testing.B) {
	now := testNow()
	for _, bt := range benchTokens(b) {
		b.Run(string(bt.alg), func(b *testing.B) {
			var key any = bt.key.Public()
			if bt.alg == HS256 {
				key = bt.key.secret
			}
			p := gjwt.NewParser(
				gjwt.WithValidMethods([]string{string(bt.alg)}),
				gjwt.WithIssuer(testIssuer),
				gjwt.WithAudience(testAudience),
				gjwt.WithExpirationRequired(),
				gjwt.WithIssuedAt(),
				gjwt.WithTimeFunc(func() time.Time { return now }),
			)
			keyFunc := func(*gjwt.Token) (any, error) { return key, nil }
			b.ReportAllocs()
			for b.Loop() {
				var c gjClaims
				if _, err := p.ParseWithClaims(bt.tok, &c, keyFunc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkJWX(b *testing.B) {
	now := testNow()
	algs := map[Alg]jwa.SignatureAlgorithm{EdDSA: jwa.EdDSA(), ES256: jwa.ES256(), RS256: jwa.RS256(), HS256: jwa.HS256()}
	for _, bt := range benchTokens(b) {
		b.Run(string(bt.alg), func(b *testing.B) {
			var key any = bt.key.Public()
			if bt.alg == HS256 {
				key = bt.key.secret
			}
			tok := []byte(bt.tok)
			clock := jwxjwt.WithClock(jwxjwt.ClockFunc(func() time.Time { return now }))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jwxjwt.Parse(tok,
					jwxjwt.WithKey(algs[bt.alg], key),
					jwxjwt.WithValidate(true),
					jwxjwt.WithIssuer(testIssuer),
					jwxjwt.WithAudience(testAudience),
					clock,
				); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIssue(b *testing.B) {
	c := testClaims()
	c.ID = "" // a fresh jti each time, as in production
	for _, bt := range benchTokens(b) {
		b.Run(string(bt.alg), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bt.ks.Issue(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The parts of Verify that are not the signature, for profiling.
func BenchmarkVerifyParts(b *testing.B) {
	tok := benchTokens(b)[0].tok
	payloadSeg := strings.Split(tok, ".")[1]
	payload := make([]byte, decodedLen(len(payloadSeg)))
	if !decodeSegment(payload, payloadSeg) {
		b.Fatal("bad payload")
	}
	b.Run("decodePayload", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payloadSeg)))
		for b.Loop() {
			if !decodeSegment(payload, payloadSeg) {
				b.Fatal("bad")
			}
		}
	})
	s := string(payload)
	b.Run("parseClaims", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			if _, err := parseClaims(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parseClaimsSlow", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseClaimsSlow(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
