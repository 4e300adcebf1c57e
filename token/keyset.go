package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"sync"
)

// KeySet is the keys a server signs and verifies with: one signing key and
// any number of verify-only keys (rotated out, still honoured until the
// tokens they signed expire). It is immutable and safe for concurrent use;
// on rotation, build a new one and swap it in (an atomic.Pointer works).
type KeySet struct {
	signing  *keyEntry            // nil for a set built from a JWKS
	entries  []*keyEntry          // signing key first, for JWKS order
	byHeader map[string]*keyEntry // header segment -> its only key
	jwks     []byte
}

// keyEntry is one key prepared for use: the exact header segment it
// accepts, its signature size, and the public key or MAC.
type keyEntry struct {
	kid    string
	alg    Alg
	header string // base64url JOSE header: the only one this key accepts
	sigLen int    // signature size in bytes
	sigEnc int    // and its base64url length

	key *Key // private material, nil if verify-only from a JWKS
	ed  ed25519.PublicKey
	ec  *ecdsa.PublicKey
	rsa *rsa.PublicKey
	mac *sync.Pool // of *macState
}

// macState is a reusable HMAC: crypto/hmac keeps the keyed state after
// the first Reset, so a pooled one skips rehashing the padded key and
// allocates nothing.
type macState struct {
	h   hash.Hash
	msg []byte // signing input, copied so Write gets a []byte
	sum [sha256.Size]byte
}

// headerFor returns the JOSE header segment gatehouse writes for a key.
// The kid is base64url (validKID), so plain concatenation is valid JSON.
func headerFor(alg Alg, kid string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + string(alg) + `","kid":"` + kid + `","typ":"at+jwt"}`))
}

// NewKeySet builds a key set that signs with signing and verifies with it
// and every verifyOnly key. Key IDs must be distinct.
func NewKeySet(signing *Key, verifyOnly ...*Key) (*KeySet, error) {
	if signing == nil {
		return nil, errors.New("token: a key set needs a signing key")
	}
	entries := make([]*keyEntry, 0, 1+len(verifyOnly))
	for _, k := range append([]*Key{signing}, verifyOnly...) {
		if err := k.check(); err != nil {
			return nil, err
		}
		e, err := newEntry(k.ID, k.Alg, k.Public(), k.secret)
		if err != nil {
			return nil, err
		}
		e.key = k
		entries = append(entries, e)
	}
	ks, err := newKeySet(entries)
	if err != nil {
		return nil, err
	}
	ks.signing = entries[0]
	// A key that cannot sign what it verifies (a corrupt row, a mismatched
	// public half) is found now, not on the first login.
	const probe = "gatehouse key self-test"
	sig, err := ks.signing.sign([]byte(probe))
	if err == nil && !ks.signing.verify(probe, sig) {
		err = errors.New("its signature does not verify")
	}
	if err != nil {
		return nil, fmt.Errorf("token: signing key %s fails its self-test: %w", signing.ID, err)
	}
	return ks, nil
}

// newEntry prepares a key for verification, and for signing if the caller
// then sets key.
func newEntry(kid string, alg Alg, pub crypto.PublicKey, secret []byte) (*keyEntry, error) {
	if !validKID(kid) {
		return nil, fmt.Errorf("token: invalid key ID %q", kid)
	}
	e := &keyEntry{kid: kid, alg: alg, header: headerFor(alg, kid)}
	switch alg {
	case EdDSA:
		e.ed = pub.(ed25519.PublicKey)
		e.sigLen = ed25519.SignatureSize
	case ES256:
		e.ec = pub.(*ecdsa.PublicKey)
		e.sigLen = 64
	case RS256:
		e.rsa = pub.(*rsa.PublicKey)
		e.sigLen = e.rsa.Size()
	case HS256:
		secret := bytes.Clone(secret)
		e.mac = &sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, secret)} }}
		e.sigLen = sha256.Size
	default:
		return nil, fmt.Errorf("token: unsupported algorithm %q", alg)
	}
	e.sigEnc = encodedLen(e.sigLen)
	return e, nil
}

// newKeySet indexes entries and renders the JWKS once.
func newKeySet(entries []*keyEntry) (*KeySet, error) {
	ks := &KeySet{entries: entries, byHeader: make(map[string]*keyEntry, len(entries))}
	kids := make(map[string]bool, len(entries))
	for _, e := range entries {
		if kids[e.kid] {
			return nil, fmt.Errorf("token: duplicate key ID %q", e.kid)
		}
		kids[e.kid] = true
		ks.byHeader[e.header] = e
	}
	jwks, err := renderJWKS(entries)
	if err != nil {
		return nil, err
	}
	ks.jwks = jwks
	return ks, nil
}

// SigningKeyID returns the kid new tokens are signed with, or "" for a
// verify-only set from ParseJWKS.
func (ks *KeySet) SigningKeyID() string {
	if ks.signing == nil {
		return ""
	}
	return ks.signing.kid
}

// KeyIDs returns the kids of all keys in the set, the signing key first.
// A verifier fed by a JWKS can use it to tell a token from a key it has
// not fetched yet from one it will never know.
func (ks *KeySet) KeyIDs() []string {
	ids := make([]string, len(ks.entries))
	for i, e := range ks.entries {
		ids[i] = e.kid
	}
	return ids
}

// sign returns the JWS signature of the signing input msg.
func (e *keyEntry) sign(msg []byte) ([]byte, error) {
	if e.key == nil {
		return nil, errors.New("token: key has no private material")
	}
	switch e.alg {
	case EdDSA:
		return ed25519.Sign(e.key.signer.(ed25519.PrivateKey), msg), nil
	case ES256:
		h := sha256.Sum256(msg)
		r, s, err := ecdsa.Sign(rand.Reader, e.key.signer.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			return nil, err
		}
		// JWS wants r and s as fixed-size big-endian halves (RFC 7518 3.4).
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case RS256:
		h := sha256.Sum256(msg)
		return rsa.SignPKCS1v15(nil, e.key.signer.(*rsa.PrivateKey), crypto.SHA256, h[:])
	case HS256:
		m := e.mac.Get().(*macState)
		defer e.mac.Put(m)
		m.h.Reset()
		m.h.Write(msg)
		return m.h.Sum(nil), nil
	}
	return nil, fmt.Errorf("token: unsupported algorithm %q", e.alg)
}

// msgStack is the signing input that verify copies to the stack: the
// standard library wants a []byte, and a conversion from the token string
// would allocate. Longer tokens still work, via the heap.
const msgStack = 1536

// verify reports whether sig (already sigLen bytes) signs msg, the token's
// "header.payload".
func (e *keyEntry) verify(msg string, sig []byte) bool {
	switch e.alg {
	case EdDSA:
		var buf [msgStack]byte
		return ed25519.Verify(e.ed, append(buf[:0], msg...), sig)
	case ES256:
		var buf [msgStack]byte
		h := sha256.Sum256(append(buf[:0], msg...))
		var der [72]byte
		return ecdsa.VerifyASN1(e.ec, h[:], rsToDER(der[:0], sig))
	case RS256:
		var buf [msgStack]byte
		h := sha256.Sum256(append(buf[:0], msg...))
		return rsa.VerifyPKCS1v15(e.rsa, crypto.SHA256, h[:], sig) == nil
	case HS256:
		m := e.mac.Get().(*macState)
		m.msg = append(m.msg[:0], msg...)
		m.h.Reset()
		m.h.Write(m.msg)
		ok := hmac.Equal(m.h.Sum(m.sum[:0]), sig)
		if cap(m.msg) > MaxTokenSize {
			m.msg = nil // do not pin a big buffer in the pool
		}
		e.mac.Put(m)
		return ok
	}
	return false
}

// rsToDER appends the ASN.1 DER form crypto/ecdsa verifies of a JWS
// ECDSA signature, the two 32-byte big-endian halves r||s.
func rsToDER(b, sig []byte) []byte {
	start := len(b)
	b = append(b, 0x30, 0) // SEQUENCE; its length, at most 70, is set below
	b = appendDERInt(b, derInt(sig[:32]))
	b = appendDERInt(b, derInt(sig[32:]))
	b[start+1] = byte(len(b) - start - 2)
	return b
}

// derInt strips the leading zeros of a big-endian unsigned integer.
func derInt(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	return v
}

// appendDERInt appends v as a DER INTEGER, with the zero byte that keeps
// a value with its top bit set positive. The length then counts it.
func appendDERInt(b, v []byte) []byte {
	if v[0]&0x80 != 0 {
		b = append(b, 0x02, byte(len(v)+1), 0)
	} else {
		b = append(b, 0x02, byte(len(v)))
	}
	return append(b, v...)
}

// jwkJSON is a public key in RFC 7517 form; field order is the order printed.
type jwkJSON struct {
	Kty string `json:"kty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Kid string `json:"kid,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// renderJWKS renders the public keys; HS256 secrets are never published.
func renderJWKS(entries []*keyEntry) ([]byte, error) {
	keys := []jwkJSON{} // "keys": [] rather than null when only HS256 keys exist
	b64 := base64.RawURLEncoding.EncodeToString
	for _, e := range entries {
		k := jwkJSON{Use: "sig", Alg: string(e.alg), Kid: e.kid}
		switch e.alg {
		case EdDSA:
			k.Kty, k.Crv, k.X = "OKP", "Ed25519", b64(e.ed)
		case ES256:
			p, err := e.ec.Bytes() // 0x04 || X || Y, each 32 bytes
			if err != nil {
				return nil, fmt.Errorf("token: key %s: %w", e.kid, err)
			}
			k.Kty, k.Crv, k.X, k.Y = "EC", "P-256", b64(p[1:33]), b64(p[33:])
		case RS256:
			k.Kty, k.N, k.E = "RSA", b64(e.rsa.N.Bytes()), b64(big.NewInt(int64(e.rsa.E)).Bytes())
		default:
			continue
		}
		keys = append(keys, k)
	}
	return json.Marshal(struct {
		Keys []jwkJSON `json:"keys"`
	}{keys})
}

// JWKS returns the public keys as an RFC 7517 JSON Web Key Set, for
// /.well-known/jwks.json. HS256 keys are left out: their secret is the key.
func (ks *KeySet) JWKS() ([]byte, error) {
	return bytes.Clone(ks.jwks), nil
}

// ParseJWKS builds a verify-only key set from a JWKS that a gatehouse
// server published, for apps that verify its tokens locally. Keys that
// cannot be gatehouse signing keys (other types or curves, "use" other
// than "sig", no "alg") are skipped; a key that claims a supported
// algorithm but is malformed or too weak is an error. Issue on the result
// fails. Only tokens with the exact header gatehouse writes verify. A JWKS
// without any usable key is an error: a server that signs with HS256
// publishes nothing to verify with.
func ParseJWKS(data []byte) (*KeySet, error) {
	var set struct {
		Keys []jwkJSON `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("token: parse JWKS: %w", err)
	}
	var entries []*keyEntry
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := parseJWK(k)
		if err != nil {
			return nil, fmt.Errorf("token: JWKS key %q: %w", k.Kid, err)
		}
		if pub == nil {
			continue
		}
		e, err := newEntry(k.Kid, Alg(k.Alg), pub, nil)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, errors.New("token: JWKS has no EdDSA, ES256 or RS256 signing keys")
	}
	return newKeySet(entries)
}

// parseJWK returns the public key of a JWK, or nil if gatehouse does not
// sign with its kind of key.
func parseJWK(k jwkJSON) (crypto.PublicKey, error) {
	dec := func(s string) ([]byte, error) {
		b := make([]byte, max(decodedLen(len(s)), 0))
		if len(s) == 0 || !decodeSegment(b, s) {
			return nil, errors.New("bad base64url")
		}
		return b, nil
	}
	var pub crypto.PublicKey
	switch {
	case Alg(k.Alg) == EdDSA && k.Kty == "OKP" && k.Crv == "Ed25519":
		x, err := dec(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 x")
		}
		pub = ed25519.PublicKey(x)
	case Alg(k.Alg) == ES256 && k.Kty == "EC" && k.Crv == "P-256":
		x, errX := dec(k.X)
		y, errY := dec(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad P-256 coordinates")
		}
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, err
		}
		pub = p
	case Alg(k.Alg) == RS256 && k.Kty == "RSA":
		n, errN := dec(k.N)
		e, errE := dec(k.E)
		if errN != nil || errE != nil || len(e) > 4 || n[0] == 0 || e[0] == 0 {
			return nil, errors.New("bad RSA modulus or exponent")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
			return nil, errors.New("bad RSA exponent")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	default:
		return nil, nil
	}
	if err := checkPublic(Alg(k.Alg), pub); err != nil {
		return nil, err
	}
	return pub, nil
}
