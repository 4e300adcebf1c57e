package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// jtiBytes is the entropy of a generated token ID: 128 bits.
const jtiBytes = 16

// Issue signs c with the signing key and returns the compact JWS. The
// header is {"alg":…,"kid":…,"typ":"at+jwt"}. c must have iss, sub, aud,
// sid, exp and iat (exp after iat); an empty ID gets a random jti. Times
// are truncated to whole seconds.
func (ks *KeySet) Issue(c Claims) (string, error) {
	e := ks.signing
	if e == nil {
		return "", errors.New("token: this key set has no signing key")
	}
	if c.ID == "" {
		var b [jtiBytes]byte
		rand.Read(b[:])
		c.ID = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if err := checkIssuable(&c); err != nil {
		return "", err
	}
	var payloadBuf [payloadStack]byte
	payload := appendClaims(payloadBuf[:0], &c)
	out := make([]byte, 0, len(e.header)+1+encodedLen(len(payload))+1+e.sigEnc)
	out = append(out, e.header...)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, payload)
	sig, err := e.sign(out)
	if err != nil {
		return "", fmt.Errorf("token: sign with key %s: %w", e.kid, err)
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	if len(out) > MaxTokenSize {
		return "", fmt.Errorf("%w: %d bytes; the verifier would refuse it", ErrTooLarge, len(out))
	}
	return string(out), nil
}
