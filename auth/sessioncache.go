package auth

import (
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// sessionCacheTTL bounds how long a cached session and user are used
// without rereading them. The revocation feed is what keeps the cache
// correct (a revoked session, or a changed session or user record, is
// reread at once); the TTL only bounds the damage of a change the feed
// never carried, such as a hand edit in the database. It must stay well
// under invalidationLifetime.
const sessionCacheTTL = 30 * time.Second

// invalidationLifetime is how long a "record changed" mark stays on the
// revocation list: longer than any cache entry loaded before the change
// can live, plus the feed's worst lag.
const invalidationLifetime = 5 * time.Minute

// sessionCache holds sessions recently resolved on this instance, with
// their users, so that a signed-in request costs map lookups rather than
// two store round trips. An entry is used only while the revocation list
// says that neither record changed since it was loaded (Set.CheckCached),
// its session is not past a deadline, and no touch is due; anything else
// goes to the store, which stays the authority.
type sessionCache struct {
	mu     sync.RWMutex
	byHash map[string]*cachedSession // string(token hash) -> entry
	byID   map[string]*cachedSession // session ID -> entry
	// users holds users looked up on their own (introspection), with
	// the same rules as session entries.
	users map[string]*cachedSession
	max   int
}

type cachedSession struct {
	sess store.Session
	user store.User
	// generation is the revocation list's invalidation generation read
	// before the records were loaded.
	generation uint64
	loadedAt   time.Time
}

func newSessionCache(max int) sessionCache {
	return sessionCache{byHash: map[string]*cachedSession{}, byID: map[string]*cachedSession{}, users: map[string]*cachedSession{}, max: max}
}

func (c *sessionCache) byTokenHash(hash []byte) *cachedSession {
	if c.max <= 0 {
		return nil
	}
	c.mu.RLock()
	e := c.byHash[string(hash)]
	c.mu.RUnlock()
	return e
}

func (c *sessionCache) bySessionID(id string) *cachedSession {
	if c.max <= 0 {
		return nil
	}
	c.mu.RLock()
	e := c.byID[id]
	c.mu.RUnlock()
	return e
}

func (c *sessionCache) user(id string) *cachedSession {
	if c.max <= 0 {
		return nil
	}
	c.mu.RLock()
	e := c.users[id]
	c.mu.RUnlock()
	return e
}

// putUser stores a user looked up without a session.
func (c *sessionCache) putUser(u store.User, generation uint64, now time.Time) {
	if c.max <= 0 {
		return
	}
	e := &cachedSession{user: u, generation: generation, loadedAt: now}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.users) >= c.max {
		for id := range c.users {
			delete(c.users, id)
			break
		}
	}
	c.users[u.ID] = e
}

// put stores a copy of the records. When the cache is full it drops an
// arbitrary entry: cheap, and fair enough for a cache whose entries all
// expire within sessionCacheTTL anyway.
func (c *sessionCache) put(sess store.Session, u store.User, generation uint64, now time.Time) {
	if c.max <= 0 {
		return
	}
	e := &cachedSession{sess: sess, user: u, generation: generation, loadedAt: now}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.byID[sess.ID]; old != nil {
		delete(c.byHash, string(old.sess.TokenHash))
	}
	for len(c.byID) >= c.max {
		for _, victim := range c.byID {
			c.removeLocked(victim)
			break
		}
	}
	c.byID[sess.ID] = e
	c.byHash[string(sess.TokenHash)] = e
}

// remove drops e if it is still the cached entry for its session.
func (c *sessionCache) remove(e *cachedSession) {
	c.mu.Lock()
	if c.byID[e.sess.ID] == e {
		c.removeLocked(e)
	}
	c.mu.Unlock()
}

func (c *sessionCache) removeLocked(e *cachedSession) {
	delete(c.byID, e.sess.ID)
	if c.byHash[string(e.sess.TokenHash)] == e {
		delete(c.byHash, string(e.sess.TokenHash))
	}
}

func (c *sessionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byID)
}
