package auth

import (
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

// verifiedCacheSize bounds the verified-token cache: about 1 KiB an entry,
// so at most a few MiB.
const verifiedCacheSize = 4096

// verifiedCache remembers access tokens whose signature and claims were
// verified, keyed by the whole token string, so that a token seen again
// skips the signature check. A hit still goes through the revocation list
// and the clock (see VerifyAccessToken): the cache only ever saves the
// signature work, never a decision that can change.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[string]token.Claims
	keys    *token.KeySet // the key set the entries were verified with
}

// get returns the cached claims if tok was verified with ks.
func (c *verifiedCache) get(ks *token.KeySet, tok string) (token.Claims, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.keys != ks {
		return token.Claims{}, false
	}
	cl, ok := c.entries[tok]
	return cl, ok
}

// put remembers verified claims. A new key set (rotation, reload) empties
// the cache, so a key that left the set can never be vouched for by it.
func (c *verifiedCache) put(ks *token.KeySet, tok string, cl token.Claims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys != ks || c.entries == nil {
		c.entries, c.keys = make(map[string]token.Claims, 64), ks
	}
	if len(c.entries) >= verifiedCacheSize {
		// Evict about an eighth, in map order (effectively random): cheap,
		// and a flood of distinct tokens cannot grow memory.
		n := 0
		for k := range c.entries {
			delete(c.entries, k)
			if n++; n >= verifiedCacheSize/8 {
				break
			}
		}
	}
	c.entries[tok] = cl
}

// expired reports whether claims are past exp (with leeway) at now: the
// clock check a cache hit must still pass.
func expired(cl token.Claims, now time.Time, leeway time.Duration) bool {
	return !now.Before(cl.ExpiresAt.Add(leeway))
}
