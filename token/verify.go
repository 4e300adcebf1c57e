package token

import (
	"fmt"
	"strings"
	"time"
)

// MaxTokenSize is the longest token Verify looks at, in bytes. gatehouse's
// tokens are well under 1 KiB; the cap bounds the work junk can cause.
const MaxTokenSize = 8 << 10

// MaxLeeway is the largest clock skew a Verifier tolerates; a larger
// Leeway is treated as MaxLeeway, so a typo cannot extend every token's
// life by an hour (and with it how long a revocation must be kept).
const MaxLeeway = 30 * time.Second

// DefaultLeeway is a sensible Leeway for servers with synchronised clocks.
const DefaultLeeway = 5 * time.Second

// Verifier checks access tokens for one issuer and audience. The zero
// Leeway means none. A Verifier is read-only and safe for concurrent use.
type Verifier struct {
	// Issuer must equal the token's iss; required.
	Issuer string
	// Audience must be among the token's aud values; required.
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat, in whole
	// seconds, at most MaxLeeway.
	Leeway time.Duration
}

// payloadStack is the decoded payload size verify keeps on the stack.
const payloadStack = 1024

// Verify checks token against the keys and the verifier's rules at time
// now, and returns its claims. It refuses, with an error wrapping one of
// the Err* sentinels: a token over MaxTokenSize; a header segment that is
// not exactly one keys produced; a signature that does not verify; a
// payload that is not a JSON object; missing exp, iat, sub, sid or jti;
// exp at or before now, nbf or iat after now (each with the leeway); iss
// other than Issuer; aud without Audience.
//
// The key and algorithm come only from keys: the header is looked up as a
// whole, never parsed.
func (v *Verifier) Verify(keys *KeySet, token string, now time.Time) (Claims, error) {
	if len(token) > MaxTokenSize {
		return Claims{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(token))
	}
	if keys == nil {
		return Claims{}, fmt.Errorf("%w: no key set", ErrUnknownKey)
	}
	dot := strings.IndexByte(token, '.')
	if dot < 0 {
		return Claims{}, fmt.Errorf("%w: not a JWS", ErrMalformed)
	}
	e := keys.byHeader[token[:dot]]
	if e == nil {
		return Claims{}, ErrUnknownKey
	}
	rest := token[dot+1:]
	dot2 := strings.IndexByte(rest, '.')
	if dot2 < 0 {
		return Claims{}, fmt.Errorf("%w: two segments", ErrMalformed)
	}
	payloadSeg, sigSeg := rest[:dot2], rest[dot2+1:]
	if len(sigSeg) != e.sigEnc {
		// Also catches a fourth segment and trailing garbage.
		return Claims{}, fmt.Errorf("%w: signature segment is %d characters, want %d", ErrMalformed, len(sigSeg), e.sigEnc)
	}
	var sigBuf [rsaMaxBits / 8]byte
	sig := sigBuf[:e.sigLen]
	if !decodeSegment(sig, sigSeg) {
		return Claims{}, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	if !e.verify(token[:dot+1+dot2], sig) {
		return Claims{}, ErrSignature
	}

	// Signed by us: from here on the input is our own encoding, and
	// errors mean a bug or a stolen key rather than an attack.
	n := decodedLen(len(payloadSeg))
	if n < 0 {
		return Claims{}, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	var payloadBuf [payloadStack]byte
	var payload []byte
	if n <= len(payloadBuf) {
		payload = payloadBuf[:n]
	} else {
		payload = make([]byte, n)
	}
	if !decodeSegment(payload, payloadSeg) {
		return Claims{}, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	// One string for the whole payload; the claims' strings point into it.
	c, err := parseClaims(string(payload))
	if err != nil {
		return Claims{}, err
	}
	if err := v.check(&c, now); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// check applies the claim rules to signed claims.
func (v *Verifier) check(c *Claims, now time.Time) error {
	switch {
	case c.ExpiresAt.IsZero():
		return fmt.Errorf("%w: missing exp", ErrClaims)
	case c.IssuedAt.IsZero():
		return fmt.Errorf("%w: missing iat", ErrClaims)
	case c.Subject == "":
		return fmt.Errorf("%w: missing sub", ErrClaims)
	case c.SessionID == "":
		return fmt.Errorf("%w: missing sid", ErrClaims)
	case c.ID == "":
		return fmt.Errorf("%w: missing jti", ErrClaims)
	}
	// Whole seconds, so a token is valid up to the second before exp.
	// Dates are at most maxNumericDate, so nothing here overflows.
	leeway := int64(min(max(v.Leeway, 0), MaxLeeway) / time.Second)
	t := now.Unix()
	if t >= c.ExpiresAt.Unix()+leeway {
		return fmt.Errorf("%w: at %v", ErrExpired, c.ExpiresAt)
	}
	if !c.NotBefore.IsZero() && c.NotBefore.Unix() > t+leeway {
		return fmt.Errorf("%w: nbf is %v", ErrNotYetValid, c.NotBefore)
	}
	if c.IssuedAt.Unix() > t+leeway {
		return fmt.Errorf("%w: iat is %v, in the future", ErrNotYetValid, c.IssuedAt)
	}
	if v.Issuer == "" {
		return fmt.Errorf("%w: the verifier has no issuer configured", ErrIssuer)
	}
	if c.Issuer != v.Issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	}
	if v.Audience == "" {
		return fmt.Errorf("%w: the verifier has no audience configured", ErrAudience)
	}
	for _, a := range c.Audience {
		if a == v.Audience {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrAudience, c.Audience)
}
