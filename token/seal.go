package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// Encryption of private keys at rest. The server secret is never used as
// a cipher key directly: HKDF-SHA256 derives a key with a label of its own,
// so the same secret can feed other derivations without the keys meeting.
// The cipher is AES-256-GCM with a random 96-bit nonce, which stays safe
// far beyond the number of keys a server ever seals (2^32). The kid is
// associated data, so a sealed key moved to another row does not open.
const (
	sealVersion   byte = 1
	sealInfo           = "gatehouse token signing-key encryption v1"
	sealKeySize        = 32 // AES-256
	sealNonceSize      = 12
	sealTagSize        = 16
)

// MinSecretSize is the shortest server secret Seal and Open accept, in
// bytes: HKDF gives out no more entropy than it is given.
const MinSecretSize = 32

// Seal encrypts a private key for storage: the output is a version byte,
// a random nonce and the AES-GCM ciphertext of plaintext, bound to kid.
// secret is the server secret, at least MinSecretSize bytes.
func Seal(secret []byte, kid string, plaintext []byte) ([]byte, error) {
	aead, err := sealAEAD(secret)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, 1+aead.Overhead()+len(plaintext))
	out[0] = sealVersion
	return aead.Seal(out, nil, plaintext, sealAD(kid)), nil
}

// Open decrypts what Seal returned for the same secret and kid. A wrong
// secret, a wrong kid or altered data all give ErrDecrypt.
func Open(secret []byte, kid string, sealed []byte) ([]byte, error) {
	aead, err := sealAEAD(secret)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+sealNonceSize+sealTagSize {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrDecrypt, len(sealed))
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrDecrypt, sealed[0])
	}
	plain, err := aead.Open(nil, nil, sealed[1:], sealAD(kid))
	if err != nil {
		return nil, fmt.Errorf("%w: key %s", ErrDecrypt, kid)
	}
	return plain, nil
}

// sealAEAD derives the key-encryption key from the server secret.
func sealAEAD(secret []byte) (cipher.AEAD, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("token: server secret must be at least %d bytes, got %d", MinSecretSize, len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, sealKeySize)
	if err != nil {
		return nil, fmt.Errorf("token: derive key-encryption key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("token: key-encryption cipher: %w", err)
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// sealAD is the associated data: the format version and the kid, so that
// neither can be changed without Open failing.
func sealAD(kid string) []byte {
	return append([]byte{sealVersion}, kid...)
}
