package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
)

// sessionTokenBytes is the entropy of a session token: 256 bits.
const sessionTokenBytes = 32

// maxTokenLength bounds what we hash from a cookie; a real token is 43
// characters of unpadded base64url.
const maxTokenLength = 64

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random public identifier with the given prefix, e.g.
// "usr_…" or "ses_…": 120 bits, URL-safe, never a secret.
func NewID(prefix string) string {
	var b [15]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + idEncoding.EncodeToString(b[:])
}

// newSessionToken returns a fresh secret session token and its SHA-256.
func newSessionToken() (token string, hash []byte) {
	var b [sessionTokenBytes]byte
	rand.Read(b[:])
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the form in which a secret token is stored and looked up.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// wellFormedToken reports whether s could be a token we issued, so that
// junk is refused before it costs a store lookup.
func wellFormedToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(sessionTokenBytes) || len(s) > maxTokenLength {
		return false
	}
	// The decoder skips CR and LF, so the decoded length is what proves
	// all 43 characters are base64url.
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sessionTokenBytes
}

// CSRFToken derives the session's CSRF token from its secret session token.
// Deriving it (instead of storing one) ties it to the session, needs no
// storage, and reveals nothing about the session token (HMAC is one-way).
func CSRFToken(sessionToken string) string {
	mac := hmac.New(sha256.New, []byte(sessionToken))
	mac.Write([]byte("gatehouse csrf v1"))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// ValidCSRFToken reports, in constant time, whether given is the session's
// CSRF token.
func ValidCSRFToken(sessionToken, given string) bool {
	if given == "" {
		return false
	}
	return hmac.Equal([]byte(CSRFToken(sessionToken)), []byte(given))
}
