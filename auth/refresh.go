package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
)

// Refresh tokens are "<session ID>.<generation>.<secret>": the session ID
// finds the one family the token belongs to, the generation says which
// rotation it is, and the 256-bit secret proves it. The store keeps only
// SHA-256 of the current secret.
//
// Each rotation derives the next secret as HMAC-SHA256(chainKey, secret),
// where chainKey comes from the server secret. That gives two things with
// nothing but a hash stored:
//   - a request that lost a rotation race (two tabs refreshing with the same
//     token) can be given the very token the winner got, by deriving it
//     again;
//   - any older token of the family can be recognised as genuine — by
//     walking the chain forward to the current hash — and its reuse treated
//     as theft, while a forged token (which cannot chain to the current
//     hash without the server secret) is merely refused.

// maxChainWalk bounds the work spent recognising an old token.
const maxChainWalk = 1000

// refreshToken is a parsed refresh token.
type refreshToken struct {
	sessionID string
	gen       int64
	secret    [32]byte
}

func (r refreshToken) String() string {
	return r.sessionID + "." + strconv.FormatInt(r.gen, 10) + "." + base64.RawURLEncoding.EncodeToString(r.secret[:])
}

// parseRefreshToken splits and checks a refresh token's shape; it proves
// nothing about its validity.
func parseRefreshToken(s string) (refreshToken, bool) {
	var r refreshToken
	if len(s) > 128 {
		return r, false
	}
	sid, rest, ok := strings.Cut(s, ".")
	if !ok || !strings.HasPrefix(sid, "ses_") || len(sid) > 40 {
		return r, false
	}
	genStr, sec, ok := strings.Cut(rest, ".")
	if !ok {
		return r, false
	}
	gen, err := strconv.ParseInt(genStr, 10, 64)
	if err != nil || gen < 1 || strconv.FormatInt(gen, 10) != genStr {
		return r, false
	}
	// Exact length first: the decoder would skip CR and LF, giving one
	// token several spellings.
	if len(sec) != base64.RawURLEncoding.EncodedLen(32) {
		return r, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(sec)
	if err != nil || len(b) != 32 {
		return r, false
	}
	r.sessionID, r.gen = sid, gen
	copy(r.secret[:], b)
	return r, true
}

// newRefreshToken starts a family: generation 1 with a random secret.
func newRefreshToken(sessionID string) refreshToken {
	r := refreshToken{sessionID: sessionID, gen: 1}
	rand.Read(r.secret[:])
	return r
}

// next is the token that follows r in its family.
func (r refreshToken) next(chainKey []byte) refreshToken {
	mac := hmac.New(sha256.New, chainKey)
	mac.Write(r.secret[:])
	n := refreshToken{sessionID: r.sessionID, gen: r.gen + 1}
	mac.Sum(n.secret[:0])
	return n
}

func (r refreshToken) hash() []byte {
	sum := sha256.Sum256(r.secret[:])
	return sum[:]
}

func (r refreshToken) matches(hash []byte) bool {
	return subtle.ConstantTimeCompare(r.hash(), hash) == 1
}

// chainsTo reports whether walking r forward reaches generation gen with
// the given hash, i.e. whether r is a genuine earlier token of the family.
func (r refreshToken) chainsTo(chainKey []byte, gen int64, hash []byte) bool {
	if r.gen > gen || gen-r.gen > maxChainWalk {
		return false
	}
	for r.gen < gen {
		r = r.next(chainKey)
	}
	return r.matches(hash)
}
