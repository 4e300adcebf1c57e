package token

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			ks := mustKeySet(t, genKey(t, alg))
			want := testClaims()
			tok := issue(t, ks, want)

			header, payload, _ := strings.Cut(tok, ".")
			wantHeader := fmt.Sprintf(`{"alg":"%s","kid":"%s","typ":"at+jwt"}`, alg, ks.SigningKeyID())
			if got := decodeB64(t, header); got != wantHeader {
				t.Errorf("header = %s, want %s", got, wantHeader)
			}
			payload, _, _ = strings.Cut(payload, ".")
			if n := len(decodeB64(t, payload)); n < 250 || n > 350 {
				t.Errorf("payload is %d bytes; the benchmarks assume about 300", n)
			}

			got, err := testVerifier().Verify(ks, tok, testNow())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("claims:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func decodeB64(tb testing.TB, s string) string {
	tb.Helper()
	b := make([]byte, max(decodedLen(len(s)), 0))
	if !decodeSegment(b, s) {
		tb.Fatalf("bad base64url %q", s)
	}
	return string(b)
}

func TestIssueFillsJTI(t *testing.T) {
	ks := mustKeySet(t, genKey(t, EdDSA))
	c := testClaims()
	c.ID = ""
	seen := map[string]bool{}
	for range 3 {
		got, err := testVerifier().Verify(ks, issue(t, ks, c), testNow())
		if err != nil {
			t.Fatal(err)
		}
		if len(got.ID) < 22 || seen[got.ID] {
			t.Fatalf("jti %q is short or repeated", got.ID)
		}
		seen[got.ID] = true
	}
	c.ID = "caller-chosen"
	if got, _ := testVerifier().Verify(ks, issue(t, ks, c), testNow()); got.ID != "caller-chosen" {
		t.Errorf("jti = %q, want the caller's", got.ID)
	}
}

func TestIssueRefusesIncompleteClaims(t *testing.T) {
	ks := mustKeySet(t, genKey(t, EdDSA))
	for name, edit := range map[string]func(*Claims){
		"no iss":       func(c *Claims) { c.Issuer = "" },
		"no sub":       func(c *Claims) { c.Subject = "" },
		"no aud":       func(c *Claims) { c.Audience = nil },
		"empty aud":    func(c *Claims) { c.Audience = []string{""} },
		"no sid":       func(c *Claims) { c.SessionID = "" },
		"no exp":       func(c *Claims) { c.ExpiresAt = time.Time{} },
		"no iat":       func(c *Claims) { c.IssuedAt = time.Time{} },
		"exp <= iat":   func(c *Claims) { c.ExpiresAt = c.IssuedAt },
		"before 1970":  func(c *Claims) { c.NotBefore = time.Unix(-1, 0) },
		"after 9999":   func(c *Claims) { c.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"bad UTF-8":    func(c *Claims) { c.Roles = []string{"ad\xffmin"} },
		"bad UTF-8 id": func(c *Claims) { c.Subject = "\xc3" },
	} {
		t.Run(name, func(t *testing.T) {
			c := testClaims()
			edit(&c)
			_, err := ks.Issue(c)
			wantErr(t, err, ErrClaims)
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			testVerifyRefuses(t, alg)
		})
	}
}

func testVerifyRefuses(t *testing.T, alg Alg) {
	key := fixedKey(t, alg)
	ks := mustKeySet(t, key)
	good := issue(t, ks, testClaims())
	parts := strings.Split(good, ".")
	hdr, pay, sig := parts[0], parts[1], parts[2]
	claimsWith := func(edit func(c *Claims)) string {
		c := testClaims()
		edit(&c)
		return issue(t, ks, c)
	}
	// payloadWithout signs the test claims minus one member.
	payloadWithout := func(name string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(mustPayload(t, testClaims())), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, name)
		b, _ := json.Marshal(m)
		return signPayload(t, key, string(b))
	}
	flip := func(s string, i int) string { // change one base64url character
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	// The same key and kid under another alg, and an HS256 header whose
	// MAC key is the public key: the classic algorithm confusion.
	otherAlg := ES256
	if alg == ES256 {
		otherAlg = EdDSA
	}
	confusion := ""
	if pub := key.Public(); pub != nil {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		hk := &Key{ID: key.ID, Alg: HS256, secret: der}
		confusion = signJSON(t, hk, fmt.Sprintf(`{"alg":"HS256","kid":"%s","typ":"at+jwt"}`, key.ID), mustPayload(t, testClaims()))
	}
	// A token from a different key that claims the same kid.
	impostor := genKey(t, alg)
	impostor.ID = key.ID
	sameKID := issue(t, mustKeySet(t, impostor), testClaims())
	// A last signature character whose unused low bits are set: it decodes
	// to the same bytes under a lax decoder.
	last := strings.IndexByte(b64chars, sig[len(sig)-1])
	sloppy := hdr + "." + pay + "." + sig[:len(sig)-1] + string(b64chars[last|1])

	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"valid", good, nil},
		{"empty", "", ErrMalformed},
		{"no dots", "abc", ErrMalformed},
		{"two segments", hdr + "." + pay, ErrMalformed},
		{"four segments", good + ".AAAA", ErrMalformed},
		{"trailing garbage", good + "x", ErrMalformed},
		{"trailing newline", good + "\n", ErrMalformed},
		{"trailing padding", good + "=", ErrMalformed},
		{"too large", good + strings.Repeat("A", MaxTokenSize), ErrTooLarge},
		{"bad base64 signature", hdr + "." + pay + "." + sig[:10] + "*" + sig[11:], ErrMalformed},
		{"padded signature", hdr + "." + pay + "." + sig[:len(sig)-2] + "==", ErrMalformed},
		{"non-canonical signature", sloppy, ErrMalformed},
		{"bad base64 payload", signSegments(t, key, hdr, pay[:20]+"*"+pay[21:]), ErrMalformed},
		{"payload length 4n+1", signSegments(t, key, hdr, pay[:len(pay)/4*4]+"A"), ErrMalformed},
		{"empty payload", signSegments(t, key, hdr, ""), ErrMalformed},
		{"payload not JSON", signPayload(t, key, "sub=alice"), ErrMalformed},
		{"payload is null", signPayload(t, key, "null"), ErrMalformed},
		{"payload is an array", signPayload(t, key, `["sub"]`), ErrMalformed},
		{"payload with trailing data", signPayload(t, key, mustPayload(t, testClaims())+"{}"), ErrMalformed},
		{"tampered payload", hdr + "." + flip(pay, len(pay)/2) + "." + sig, ErrSignature},
		{"tampered signature", hdr + "." + pay + "." + flip(sig, len(sig)/2), ErrSignature},
		{"signature of another token", hdr + "." + pay + "." + strings.Split(claimsWith(func(c *Claims) { c.Subject = "usr_other" }), ".")[2], ErrSignature},
		{"same kid, other key", sameKID, ErrSignature},
		{"alg none", b64([]byte(fmt.Sprintf(`{"alg":"none","kid":"%s","typ":"at+jwt"}`, key.ID))) + "." + pay + ".", ErrUnknownKey},
		{"alg none, no kid", b64([]byte(`{"alg":"none"}`)) + "." + pay + "." + sig, ErrUnknownKey},
		{"alg switched", b64([]byte(fmt.Sprintf(`{"alg":"%s","kid":"%s","typ":"at+jwt"}`, otherAlg, key.ID))) + "." + pay + "." + sig, ErrUnknownKey},
		{"unknown kid", signJSON(t, key, fmt.Sprintf(`{"alg":"%s","kid":"someone-else","typ":"at+jwt"}`, alg), mustPayload(t, testClaims())), ErrUnknownKey},
		{"members reordered", signJSON(t, key, fmt.Sprintf(`{"kid":"%s","alg":"%s","typ":"at+jwt"}`, key.ID, alg), mustPayload(t, testClaims())), ErrUnknownKey},
		{"typ JWT", signJSON(t, key, fmt.Sprintf(`{"alg":"%s","kid":"%s","typ":"JWT"}`, alg, key.ID), mustPayload(t, testClaims())), ErrUnknownKey},
		{"jku added", signJSON(t, key, fmt.Sprintf(`{"alg":"%s","kid":"%s","typ":"at+jwt","jku":"https://evil.example/jwks"}`, alg, key.ID), mustPayload(t, testClaims())), ErrUnknownKey},
		{"crit added", signJSON(t, key, fmt.Sprintf(`{"alg":"%s","kid":"%s","typ":"at+jwt","crit":["exp"]}`, alg, key.ID), mustPayload(t, testClaims())), ErrUnknownKey},
		{"expired", claimsWith(func(c *Claims) { c.ExpiresAt = testNow().Add(-time.Second) }), ErrExpired},
		{"expires now", claimsWith(func(c *Claims) { c.ExpiresAt = testNow() }), ErrExpired},
		{"expires in a second", claimsWith(func(c *Claims) { c.ExpiresAt = testNow().Add(time.Second) }), nil},
		{"not yet valid", claimsWith(func(c *Claims) { c.NotBefore = testNow().Add(time.Second) }), ErrNotYetValid},
		{"valid from now", claimsWith(func(c *Claims) { c.NotBefore = testNow() }), nil},
		{"no nbf", claimsWith(func(c *Claims) { c.NotBefore = time.Time{} }), nil},
		{"issued in the future", claimsWith(func(c *Claims) { c.IssuedAt, c.NotBefore = testNow().Add(time.Second), time.Time{} }), ErrNotYetValid},
		{"wrong issuer", claimsWith(func(c *Claims) { c.Issuer = "https://evil.example" }), ErrIssuer},
		{"issuer differs in case", claimsWith(func(c *Claims) { c.Issuer = strings.ToUpper(testIssuer) }), ErrIssuer},
		{"wrong audience", claimsWith(func(c *Claims) { c.Audience = []string{"https://other.example.com"} }), ErrAudience},
		{"audience among several", claimsWith(func(c *Claims) { c.Audience = []string{"x", testAudience} }), nil},
		{"missing exp", payloadWithout("exp"), ErrClaims},
		{"missing iat", payloadWithout("iat"), ErrClaims},
		{"missing sub", payloadWithout("sub"), ErrClaims},
		{"missing sid", payloadWithout("sid"), ErrClaims},
		{"missing jti", payloadWithout("jti"), ErrClaims},
		{"missing iss", payloadWithout("iss"), ErrIssuer},
		{"missing aud", payloadWithout("aud"), ErrAudience},
		{"exp as string", signPayload(t, key, strings.Replace(mustPayload(t, testClaims()), `"exp":1750000900`, `"exp":"1750000900"`, 1)), ErrClaims},
		{"exp as float", signPayload(t, key, strings.Replace(mustPayload(t, testClaims()), `"exp":1750000900`, `"exp":1750000900.5`, 1)), ErrClaims},
		{"exp null", signPayload(t, key, strings.Replace(mustPayload(t, testClaims()), `"exp":1750000900`, `"exp":null`, 1)), ErrClaims},
		{"negative exp", signPayload(t, key, strings.Replace(mustPayload(t, testClaims()), `"exp":1750000900`, `"exp":-1`, 1)), ErrClaims},
		{"huge exp", signPayload(t, key, strings.Replace(mustPayload(t, testClaims()), `"exp":1750000900`, `"exp":99999999999999999999`, 1)), ErrClaims},
		{"sub as number", signPayload(t, key, strings.Replace(mustPayload(t, testClaims()), `"sub":"usr_7k2mq4xw9p3n5r8t1v6y0zbcdf"`, `"sub":7`, 1)), ErrClaims},
		{"roles with null", signPayload(t, key, strings.Replace(mustPayload(t, testClaims()), `"roles":[`, `"roles":[null,`, 1)), ErrClaims},
		{"extra claim is fine", signPayload(t, key, strings.Replace(mustPayload(t, testClaims()), `{`, `{"client_id":"app",`, 1)), nil},
	}
	if confusion != "" {
		cases = append(cases, struct {
			name string
			tok  string
			want error
		}{"HS256 with the public key as secret", confusion, ErrUnknownKey})
	}
	v := testVerifier()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(ks, tc.tok, testNow())
			wantErr(t, err, tc.want)
		})
	}
}

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestLeeway(t *testing.T) {
	ks := mustKeySet(t, fixedKey(t, EdDSA))
	now := testNow()
	expired := issue(t, ks, func() Claims {
		c := testClaims()
		c.IssuedAt, c.ExpiresAt = now.Add(-time.Hour), now.Add(-10*time.Second)
		return c
	}())
	early := issue(t, ks, func() Claims {
		c := testClaims()
		c.IssuedAt, c.NotBefore = now.Add(10*time.Second), now.Add(10*time.Second)
		return c
	}())
	longAgo := issue(t, ks, func() Claims {
		c := testClaims()
		c.IssuedAt, c.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
		return c
	}())
	for _, tc := range []struct {
		leeway time.Duration
		tok    string
		want   error
	}{
		{0, expired, ErrExpired},
		{10 * time.Second, expired, ErrExpired}, // exp + leeway == now
		{11 * time.Second, expired, nil},
		{0, early, ErrNotYetValid},
		{9 * time.Second, early, ErrNotYetValid},
		{10 * time.Second, early, nil},
		{-time.Hour, expired, ErrExpired},
		{2 * time.Hour, longAgo, ErrExpired}, // capped at MaxLeeway
	} {
		v := testVerifier()
		v.Leeway = tc.leeway
		_, err := v.Verify(ks, tc.tok, now)
		wantErr(t, err, tc.want)
	}
}

func TestVerifierNeedsIssuerAndAudience(t *testing.T) {
	ks := mustKeySet(t, fixedKey(t, EdDSA))
	c := testClaims()
	c.Issuer, c.Audience = "x", []string{"y"}
	tok := issue(t, ks, c)
	_, err := (&Verifier{Audience: "y"}).Verify(ks, tok, testNow())
	wantErr(t, err, ErrIssuer)
	_, err = (&Verifier{Issuer: "x"}).Verify(ks, tok, testNow())
	wantErr(t, err, ErrAudience)
	_, err = (&Verifier{Issuer: "x", Audience: "y"}).Verify(ks, tok, testNow())
	wantErr(t, err, nil)
	_, err = (&Verifier{Issuer: "x", Audience: "y"}).Verify(nil, tok, testNow())
	wantErr(t, err, ErrUnknownKey)
}

func TestRotation(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			old, next := genKey(t, alg), genKey(t, DefaultAlg)
			before := mustKeySet(t, old)
			oldTok := issue(t, before, testClaims())

			// Rotated: next signs, old only verifies until its tokens expire.
			during := mustKeySet(t, next, old)
			if during.SigningKeyID() != next.ID {
				t.Fatalf("signing key = %s, want %s", during.SigningKeyID(), next.ID)
			}
			if ids := during.KeyIDs(); len(ids) != 2 || ids[0] != next.ID || ids[1] != old.ID {
				t.Fatalf("KeyIDs = %v, want [%s %s]", ids, next.ID, old.ID)
			}
			newTok := issue(t, during, testClaims())
			v := testVerifier()
			wantErr(t, func() error { _, err := v.Verify(during, oldTok, testNow()); return err }(), nil)
			wantErr(t, func() error { _, err := v.Verify(during, newTok, testNow()); return err }(), nil)
			// The old set does not know the new key.
			wantErr(t, func() error { _, err := v.Verify(before, newTok, testNow()); return err }(), ErrUnknownKey)

			// Retired: old is gone.
			after := mustKeySet(t, next)
			wantErr(t, func() error { _, err := v.Verify(after, oldTok, testNow()); return err }(), ErrUnknownKey)
			wantErr(t, func() error { _, err := v.Verify(after, newTok, testNow()); return err }(), nil)
		})
	}
}

func TestVerifyAllocations(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -cover and -race")
	}
	for _, alg := range []Alg{EdDSA, HS256} {
		ks := mustKeySet(t, fixedKey(t, alg))
		tok := issue(t, ks, testClaims())
		v := testVerifier()
		// One string for the payload, one slice for aud and roles.
		if n := testing.AllocsPerRun(100, func() {
			if _, err := v.Verify(ks, tok, testNow()); err != nil {
				t.Fatal(err)
			}
		}); n > 2 {
			t.Errorf("%s: Verify allocates %v times, want at most 2", alg, n)
		}
		unknown := "x" + tok[1:]
		if n := testing.AllocsPerRun(100, func() { v.Verify(ks, unknown, testNow()) }); n > 0 {
			t.Errorf("%s: refusing an unknown header allocates %v times, want 0", alg, n)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	// One key set shared by many goroutines, as in a server; run with
	// -race. HS256 exercises the pooled MAC state.
	ks := mustKeySet(t, fixedKey(t, HS256), fixedKey(t, EdDSA))
	other := issue(t, mustKeySet(t, fixedKey(t, EdDSA)), testClaims())
	v := testVerifier()
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for i := range 200 {
				c := testClaims()
				c.Subject = fmt.Sprintf("usr_%d_%d", g, i)
				var tok string
				if tok, err = ks.Issue(c); err != nil {
					break
				}
				var got Claims
				if got, err = v.Verify(ks, tok, testNow()); err != nil {
					break
				}
				if got.Subject != c.Subject {
					err = fmt.Errorf("sub = %q, want %q", got.Subject, c.Subject)
					break
				}
				if _, err = v.Verify(ks, other, testNow()); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
