package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters used to derive a hash.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Iterations is the number of passes over the memory.
	Iterations uint32
	// Parallelism is the number of lanes (and goroutines) used.
	Parallelism uint8
	// SaltLength is the length in bytes of the random salt.
	SaltLength uint32
	// KeyLength is the length in bytes of the derived hash.
	KeyLength uint32
}

// DefaultParams returns the OWASP Password Storage Cheat Sheet
// recommendation for argon2id: 19 MiB, 2 iterations, 1 lane, with a 16-byte
// salt and a 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// TestParams returns deliberately weak parameters that make hashing take
// microseconds. They are for tests only and must never reach production.
func TestParams() Params {
	return Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Limits on what Validate and the PHC decoder accept. A stored hash is
// input like any other: a tampered row claiming m=4194304 must not make a
// login allocate 4 GiB, nor t=2^32 make it spin for hours.
const (
	maxMemory      = 256 * 1024 // KiB, i.e. 256 MiB
	maxIterations  = 32
	maxParallelism = 16
	minSaltLength  = 8 // the PHC string format minimum
	maxSaltLength  = 64
	minKeyLength   = 16
	maxKeyLength   = 64
	// maxEncodedLength bounds the whole string before any parsing work;
	// the largest valid encoding is well under 256 bytes.
	maxEncodedLength = 256
)

// ErrInvalidHash is returned, wrapped with detail, when a stored hash is
// malformed, uses an unsupported algorithm or version, or has parameters
// outside the accepted limits.
var ErrInvalidHash = errors.New("password: invalid or unsupported hash")

// Validate reports whether p can be used to hash, and whether a hash made
// with p would be accepted by Verify: every field must be non-zero and
// within the limits the decoder enforces (at most 256 MiB, 32 iterations
// and 16 lanes; salt 8 to 64 bytes; key 16 to 64 bytes; memory at least
// 8 KiB per lane).
func (p Params) Validate() error {
	if err := p.check(); err != nil {
		return fmt.Errorf("password: invalid params: %w", err)
	}
	return nil
}

// check is Validate without the package prefix, for wrapping.
func (p Params) check() error {
	switch {
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("iterations %d outside [1, %d]", p.Iterations, maxIterations)
	case p.Parallelism < 1 || p.Parallelism > maxParallelism:
		return fmt.Errorf("parallelism %d outside [1, %d]", p.Parallelism, maxParallelism)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemory:
		// argon2 silently raises memory below 8 KiB per lane; refusing
		// keeps the encoded m equal to the work actually done.
		return fmt.Errorf("memory %d KiB outside [%d, %d]", p.Memory, 8*uint32(p.Parallelism), maxMemory)
	case p.SaltLength < minSaltLength || p.SaltLength > maxSaltLength:
		return fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLength, minSaltLength, maxSaltLength)
	case p.KeyLength < minKeyLength || p.KeyLength > maxKeyLength:
		return fmt.Errorf("key length %d outside [%d, %d]", p.KeyLength, minKeyLength, maxKeyLength)
	}
	return nil
}

// argonHash is a decoded argon2id PHC string.
type argonHash struct {
	params Params
	salt   []byte
	key    []byte
}

// b64 returns the PHC encoding: standard alphabet, no padding. Strict
// rejects non-canonical encodings (non-zero trailing bits), so a hash has
// exactly one textual form. A function, not a package variable, so there is
// no mutable global.
func b64() *base64.Encoding { return base64.RawStdEncoding.Strict() }

// encodePHC formats the standard argon2id PHC string.
func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		b64().EncodeToString(salt), b64().EncodeToString(key))
}

// decodePHC parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash". It is strict:
// fields in that order, decimal numbers without sign, version 19 only,
// and every value within the limits of Validate. It checks lengths before
// decoding so a hostile string costs no more than its bounded size.
func decodePHC(s string) (argonHash, error) {
	var h argonHash
	if len(s) > maxEncodedLength {
		return h, fmt.Errorf("%w: encoded hash longer than %d bytes", ErrInvalidHash, maxEncodedLength)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return h, fmt.Errorf("%w: want 5 $-separated fields", ErrInvalidHash)
	}
	if parts[1] != "argon2id" {
		return h, fmt.Errorf("%w: algorithm %q", ErrInvalidHash, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("%w: version %q", ErrInvalidHash, parts[2])
	}

	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return h, fmt.Errorf("%w: want m, t and p parameters", ErrInvalidHash)
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok || v == "" || len(v) > 10 {
			return h, fmt.Errorf("%w: parameter %d is not %s=<number>", ErrInvalidHash, i+1, name)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return h, fmt.Errorf("%w: parameter %s: %v", ErrInvalidHash, name, err)
		}
		vals[i] = n
	}
	if vals[2] > maxParallelism {
		// Checked here because the uint8 conversion below would wrap.
		return h, fmt.Errorf("%w: parallelism %d", ErrInvalidHash, vals[2])
	}
	h.params = Params{Memory: uint32(vals[0]), Iterations: uint32(vals[1]), Parallelism: uint8(vals[2])}

	saltB64, keyB64 := parts[4], parts[5]
	if len(saltB64) > b64().EncodedLen(maxSaltLength) || len(keyB64) > b64().EncodedLen(maxKeyLength) {
		return h, fmt.Errorf("%w: salt or hash too long", ErrInvalidHash)
	}
	var err error
	if h.salt, err = b64().DecodeString(saltB64); err != nil {
		return h, fmt.Errorf("%w: salt: %v", ErrInvalidHash, err)
	}
	if h.key, err = b64().DecodeString(keyB64); err != nil {
		return h, fmt.Errorf("%w: hash: %v", ErrInvalidHash, err)
	}
	h.params.SaltLength = uint32(len(h.salt))
	h.params.KeyLength = uint32(len(h.key))
	if err := h.params.check(); err != nil {
		return h, fmt.Errorf("%w: %v", ErrInvalidHash, err)
	}
	return h, nil
}
