package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Alg is a JWS signing algorithm, named as in RFC 7518 and RFC 8037.
type Alg string

// The algorithms gatehouse signs with. Each key has exactly one.
const (
	EdDSA Alg = "EdDSA" // Ed25519; the default
	ES256 Alg = "ES256" // ECDSA on P-256 with SHA-256
	RS256 Alg = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, 2048 to 4096 bit keys
	HS256 Alg = "HS256" // HMAC-SHA-256 with a 32-byte secret; never published
)

// DefaultAlg is the algorithm of keys made when none is configured.
const DefaultAlg = EdDSA

// Key sizes. RSA keys above 4096 bits are refused so that a signature
// always fits the verifier's stack buffer.
const (
	rsaDefaultBits = 2048
	rsaMinBits     = 2048
	rsaMaxBits     = 4096
	hmacKeySize    = 32 // generated secrets; also the minimum accepted
	kidBytes       = 16
	maxKIDLen      = 64
)

// ParseAlg returns the algorithm named s, or DefaultAlg for "". Names are
// case-sensitive, as in RFC 7518.
func ParseAlg(s string) (Alg, error) {
	switch a := Alg(s); a {
	case "":
		return DefaultAlg, nil
	case EdDSA, ES256, RS256, HS256:
		return a, nil
	}
	return "", fmt.Errorf("token: unsupported algorithm %q (want EdDSA, ES256, RS256 or HS256)", s)
}

// Key is one signing key: its public identity (kid, algorithm, creation
// time) and its private material, which only MarshalPrivate exposes.
//
// A Key prints as its ID and algorithm only, so that logging one never
// leaks the secret.
type Key struct {
	// ID is the JWS "kid": random, URL-safe, unique among the server's keys.
	ID string
	// Alg is the only algorithm this key signs and verifies with.
	Alg Alg
	// CreatedAt is when the key was made; ParsePrivate leaves it zero for
	// the caller to fill from its records.
	CreatedAt time.Time

	signer crypto.Signer // EdDSA, ES256, RS256
	secret []byte        // HS256
}

// GenerateKey makes a new random key for alg ("" means DefaultAlg) with a
// fresh random ID. RSA keys are 2048 bits.
func GenerateKey(alg Alg, now time.Time) (*Key, error) {
	alg, err := ParseAlg(string(alg))
	if err != nil {
		return nil, err
	}
	k := &Key{ID: newKID(), Alg: alg, CreatedAt: now}
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("token: generate Ed25519 key: %w", err)
		}
		k.signer = priv
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("token: generate P-256 key: %w", err)
		}
		k.signer = priv
	case RS256:
		priv, err := rsa.GenerateKey(rand.Reader, rsaDefaultBits)
		if err != nil {
			return nil, fmt.Errorf("token: generate RSA key: %w", err)
		}
		k.signer = priv
	case HS256:
		k.secret = make([]byte, hmacKeySize)
		rand.Read(k.secret) // never fails (Go 1.24+)
	}
	return k, nil
}

// newKID returns a random key ID: 128 bits, unpadded base64url, so it needs
// no escaping in a JOSE header or a URL.
func newKID() string {
	var b [kidBytes]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// MarshalPrivate returns the private key material for storage: PKCS#8 DER
// for asymmetric keys, the raw secret for HS256. The result is a secret;
// Seal it before it leaves the process.
func (k *Key) MarshalPrivate() ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	if k.Alg == HS256 {
		return append([]byte(nil), k.secret...), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, fmt.Errorf("token: marshal key %s: %w", k.ID, err)
	}
	return der, nil
}

// ParsePrivate rebuilds a key from what MarshalPrivate returned. The key
// material must match alg: an Ed25519, P-256 or 2048..4096-bit RSA PKCS#8
// key, or an HS256 secret of at least 32 bytes. CreatedAt is left zero.
func ParsePrivate(alg Alg, kid string, data []byte) (*Key, error) {
	switch alg {
	case EdDSA, ES256, RS256, HS256:
	default:
		return nil, fmt.Errorf("token: unsupported algorithm %q", alg)
	}
	k := &Key{ID: kid, Alg: alg}
	if alg == HS256 {
		k.secret = append([]byte(nil), data...)
	} else {
		priv, err := x509.ParsePKCS8PrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("token: parse key %s: %w", kid, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("token: parse key %s: %T is not a signing key", kid, priv)
		}
		k.signer = signer
	}
	if err := k.check(); err != nil {
		return nil, err
	}
	return k, nil
}

// Public returns the public half of an asymmetric key (ed25519.PublicKey,
// *ecdsa.PublicKey or *rsa.PublicKey), or nil for HS256.
func (k *Key) Public() crypto.PublicKey {
	if k.signer == nil {
		return nil
	}
	return k.signer.Public()
}

// String describes the key without its secret.
func (k *Key) String() string {
	if k == nil {
		return "token.Key(nil)"
	}
	return fmt.Sprintf("token.Key{ID:%q Alg:%s}", k.ID, k.Alg)
}

// GoString is String, so that %#v does not print the private material.
func (k *Key) GoString() string { return k.String() }

// check reports whether the key's ID is well formed and its material fits
// its algorithm. Fields are exported, so keys are checked where they are
// used, not only where they are made.
func (k *Key) check() error {
	if k == nil {
		return errors.New("token: nil key")
	}
	if !validKID(k.ID) {
		return fmt.Errorf("token: key ID %q must be 1 to %d characters of [A-Za-z0-9_-]", k.ID, maxKIDLen)
	}
	if err := checkMaterial(k.Alg, k.signer, k.secret); err != nil {
		return fmt.Errorf("token: key %s: %w", k.ID, err)
	}
	return nil
}

// checkMaterial reports whether the private key or secret is of the kind
// and size that alg needs.
func checkMaterial(alg Alg, signer crypto.Signer, secret []byte) error {
	if alg == HS256 {
		if signer != nil || len(secret) < hmacKeySize {
			return fmt.Errorf("HS256 needs a secret of at least %d bytes", hmacKeySize)
		}
		return nil
	}
	if signer == nil {
		return fmt.Errorf("%s needs a private key", alg)
	}
	return checkPublic(alg, signer.Public())
}

// checkPublic reports whether pub is a public key of the kind alg needs.
func checkPublic(alg Alg, pub crypto.PublicKey) error {
	switch alg {
	case EdDSA:
		if p, ok := pub.(ed25519.PublicKey); ok && len(p) == ed25519.PublicKeySize {
			return nil
		}
		return fmt.Errorf("EdDSA needs an Ed25519 key, not %T", pub)
	case ES256:
		if p, ok := pub.(*ecdsa.PublicKey); ok && p.Curve == elliptic.P256() {
			return nil
		}
		return fmt.Errorf("ES256 needs a P-256 ECDSA key")
	case RS256:
		p, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("RS256 needs an RSA key, not %T", pub)
		}
		if bits := p.N.BitLen(); bits < rsaMinBits || bits > rsaMaxBits {
			return fmt.Errorf("RS256 needs a %d to %d bit RSA key, not %d bits", rsaMinBits, rsaMaxBits, bits)
		}
		return nil
	}
	return fmt.Errorf("unsupported algorithm %q", alg)
}

// validKID reports whether s can be a key ID: short and base64url-only, so
// it goes into a JOSE header and a URL without escaping.
func validKID(s string) bool {
	if len(s) == 0 || len(s) > maxKIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b64dec[s[i]] == invalidB64 {
			return false
		}
	}
	return true
}
