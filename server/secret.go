package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// secretBytes is the size of the server secret: 256 bits.
const secretBytes = 32

// LoadOrCreateSecret reads the hex-encoded server secret from path, or
// makes a new one there (mode 0600) when the file does not exist. The
// secret keys what gatehouse encrypts at rest; instances that share a store
// must share it.
func LoadOrCreateSecret(path string) (secret []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret = make([]byte, secretBytes)
		rand.Read(secret)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("create secret file: %w", err)
		}
		if _, err := f.WriteString(hex.EncodeToString(secret) + "\n"); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("write secret file: %w", err)
		}
		return secret, true, f.Close()
	}
	if err != nil {
		return nil, false, fmt.Errorf("read secret file: %w", err)
	}
	secret, err = hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < secretBytes {
		return nil, false, fmt.Errorf("secret file %s: want at least %d hex-encoded bytes", path, secretBytes)
	}
	return secret, false, nil
}
