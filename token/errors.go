package token

import "errors"

// Verification failures. Verify wraps one of them with %w and some detail;
// test with errors.Is. The detail is for logs; a client only needs to know
// that its token was refused.
var (
	// ErrTooLarge means the token is longer than MaxTokenSize; it was
	// refused before any other work.
	ErrTooLarge = errors.New("token: too large")
	// ErrMalformed means the token is not three base64url segments of the
	// expected sizes, or its payload is not a JSON object.
	ErrMalformed = errors.New("token: malformed")
	// ErrUnknownKey means the header segment is not one that the key set
	// produced: an unknown or retired kid, another algorithm, extra header
	// parameters, or garbage.
	ErrUnknownKey = errors.New("token: unknown key or header")
	// ErrSignature means the signature does not verify with the key the
	// header names.
	ErrSignature = errors.New("token: invalid signature")
	// ErrExpired means exp has passed (beyond the leeway).
	ErrExpired = errors.New("token: expired")
	// ErrNotYetValid means nbf or iat lies in the future (beyond the
	// leeway).
	ErrNotYetValid = errors.New("token: not valid yet")
	// ErrIssuer means iss is not the verifier's issuer.
	ErrIssuer = errors.New("token: wrong issuer")
	// ErrAudience means aud does not contain the verifier's audience.
	ErrAudience = errors.New("token: wrong audience")
	// ErrClaims means a required claim is missing or a claim has the wrong
	// type or range.
	ErrClaims = errors.New("token: invalid claims")
)

// ErrDecrypt means a sealed key could not be opened: the server secret or
// key ID is not the one it was sealed with, or the data was altered.
var ErrDecrypt = errors.New("token: cannot decrypt sealed key")
