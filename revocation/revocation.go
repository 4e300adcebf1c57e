// Package revocation is the in-memory revocation list every instance
// consults on each token verification, and the feed that keeps it in step
// with the store. A check is a few map lookups under a read lock: no
// network round trip on the verify path.
package revocation

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// ErrStale means the feed has been down longer than the configured bound:
// the list may be missing revocations, so verification must fail closed.
var ErrStale = errors.New("revocation: list is stale (feed down); refusing tokens until it recovers")

// Set is the revocation list held in memory. The zero value is not usable;
// call NewSet.
type Set struct {
	mu       sync.RWMutex
	sessions map[string]time.Time // sid -> entry expiry
	tokens   map[string]time.Time // jti -> entry expiry
	users    map[string]userEntry // user ID -> not-before
	// Invalidation marks: the generation at which a user or session
	// record last changed, for in-memory caches of those records.
	userMarks    map[string]mark
	sessionMarks map[string]mark
	generation   uint64 // bumped whenever a mark is set
	lastSeq      int64
	syncedAt     time.Time // last successful sync with the store
	maxStale     time.Duration
	changed      chan struct{} // closed and replaced on every Apply with entries
}

type userEntry struct {
	notBefore, expires time.Time
}

type mark struct {
	generation uint64
	expires    time.Time
}

// NewSet returns an empty list that refuses every token (ErrStale) when it
// has not synced for longer than maxStale; maxStale <= 0 never goes stale
// (single-process use without a feed).
func NewSet(maxStale time.Duration) *Set {
	return &Set{
		sessions:     map[string]time.Time{},
		tokens:       map[string]time.Time{},
		users:        map[string]userEntry{},
		userMarks:    map[string]mark{},
		sessionMarks: map[string]mark{},
		maxStale:     maxStale,
		changed:      make(chan struct{}),
	}
}

// Changed returns a channel that is closed the next time entries are
// applied, for long-polling clients of the HTTP feed.
func (s *Set) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// Apply adds entries this instance made itself. Entries already expired
// are skipped. It does not move the feed's position: entries other
// instances wrote before these may not have been read yet.
func (s *Set) Apply(now time.Time, rs []store.Revocation) {
	s.apply(now, rs, false)
}

// applySynced adds entries read from the store, in Seq order, and moves
// the feed's position past them.
func (s *Set) applySynced(now time.Time, rs []store.Revocation) {
	s.apply(now, rs, true)
}

func (s *Set) apply(now time.Time, rs []store.Revocation, advance bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rs) > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	for _, r := range rs {
		if advance && r.Seq > s.lastSeq {
			s.lastSeq = r.Seq
		}
		if !r.ExpiresAt.After(now) {
			continue
		}
		switch r.Kind {
		case store.RevokeSession:
			s.sessions[r.Key] = later(s.sessions[r.Key], r.ExpiresAt)
		case store.RevokeToken:
			s.tokens[r.Key] = later(s.tokens[r.Key], r.ExpiresAt)
		case store.RevokeUser:
			e := s.users[r.Key]
			s.users[r.Key] = userEntry{notBefore: later(e.notBefore, r.NotBefore), expires: later(e.expires, r.ExpiresAt)}
			s.setMark(s.userMarks, r.Key, r.ExpiresAt)
		case store.UserChanged:
			s.setMark(s.userMarks, r.Key, r.ExpiresAt)
		case store.SessionChanged:
			s.setMark(s.sessionMarks, r.Key, r.ExpiresAt)
		}
	}
}

func (s *Set) setMark(m map[string]mark, key string, expires time.Time) {
	s.generation++
	m[key] = mark{generation: s.generation, expires: later(m[key].expires, expires)}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Check reports whether a token with these claims is still allowed: nil,
// ErrRevoked, or ErrStale when the list cannot be trusted.
func (s *Set) Check(now time.Time, sid, jti, userID string, issuedAt time.Time) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.sessionCheckLocked(now, sid); err != nil {
		return err
	}
	if jti != "" {
		if exp, ok := s.tokens[jti]; ok && now.Before(exp) {
			return ErrRevoked
		}
	}
	if e, ok := s.users[userID]; ok && now.Before(e.expires) && issuedAt.Before(e.notBefore) {
		return ErrRevoked
	}
	return nil
}

// sessionCheckLocked is what every check starts with: the list must be
// fresh, and the session not revoked. The caller holds mu.
func (s *Set) sessionCheckLocked(now time.Time, sid string) error {
	if s.maxStale > 0 && now.Sub(s.syncedAt) > s.maxStale {
		return ErrStale
	}
	if exp, ok := s.sessions[sid]; ok && now.Before(exp) {
		return ErrRevoked
	}
	return nil
}

// Generation is the current invalidation generation. A cache reads it
// before it loads a record from the store and hands it to CheckCached
// with every later use of that record: a change applied in between (or
// since) makes the record stale.
func (s *Set) Generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.generation
}

// ErrChanged means a cached record is older than a change the feed
// reported: reread it from the store.
var ErrChanged = errors.New("revocation: cached record changed since it was loaded")

// CheckCached reports whether an in-memory copy of session sid and its
// user userID, loaded when the generation was loadedAt, may still be
// used: nil; ErrRevoked when the session was revoked; ErrChanged when
// either record changed since; ErrStale when the list cannot be trusted
// (then only the store can answer).
func (s *Set) CheckCached(now time.Time, sid, userID string, loadedAt uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.sessionCheckLocked(now, sid); err != nil {
		return err
	}
	if m, ok := s.userMarks[userID]; ok && m.generation > loadedAt {
		return ErrChanged
	}
	if m, ok := s.sessionMarks[sid]; ok && m.generation > loadedAt {
		return ErrChanged
	}
	return nil
}

// ErrRevoked means the token's session, the token itself, or every token of
// its user issued before a time, was revoked.
var ErrRevoked = errors.New("revocation: token revoked")

// Prune drops entries that have expired.
func (s *Set) Prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.sessions {
		if !now.Before(exp) {
			delete(s.sessions, k)
		}
	}
	for k, exp := range s.tokens {
		if !now.Before(exp) {
			delete(s.tokens, k)
		}
	}
	for k, e := range s.users {
		if !now.Before(e.expires) {
			delete(s.users, k)
		}
	}
	for _, marks := range []map[string]mark{s.userMarks, s.sessionMarks} {
		for k, m := range marks {
			if !now.Before(m.expires) {
				delete(marks, k)
			}
		}
	}
}

// Len is the number of live entries, for metrics.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions) + len(s.tokens) + len(s.users)
}

func (s *Set) markSynced(now time.Time) {
	s.mu.Lock()
	s.syncedAt = now
	s.mu.Unlock()
}

func (s *Set) seq() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastSeq
}

// Feed keeps a Set in step with the store's revocation list by polling it:
// the embedded store's feed. (Pushed feeds for PostgreSQL and Redis use the
// same Set.)
type Feed struct {
	Store    store.Revocations
	Set      *Set
	Interval time.Duration // default 1s
	Now      func() time.Time
	Log      *slog.Logger
}

// Sync fetches what is new since the last sync and applies it.
func (f *Feed) Sync(ctx context.Context) error {
	now := f.now()
	rs, err := f.Store.RevocationsSince(ctx, f.Set.seq(), now)
	if err != nil {
		return err
	}
	f.Set.applySynced(now, rs)
	f.Set.markSynced(now)
	return nil
}

// Run syncs every Interval until ctx ends, pruning expired entries from
// memory and, now and then, from the store. When the store can push
// (store.RevocationWatcher), every push triggers a sync at once, so a
// revocation reaches this instance in milliseconds; the periodic sync stays
// as the safety net and the heartbeat that keeps the list fresh.
func (f *Feed) Run(ctx context.Context) {
	interval := f.Interval
	if interval <= 0 {
		interval = time.Second
	}
	kick := make(chan struct{}, 1)
	if w, ok := f.Store.(store.RevocationWatcher); ok {
		go f.watch(ctx, w, kick)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		if err := f.Sync(ctx); err != nil && ctx.Err() == nil && f.Log != nil {
			f.Log.WarnContext(ctx, "revocation feed sync failed", "err", err)
		}
		if n%600 == 0 {
			now := f.now()
			f.Set.Prune(now)
			if _, err := f.Store.DeleteExpiredRevocations(ctx, now); err != nil && ctx.Err() == nil && f.Log != nil {
				f.Log.WarnContext(ctx, "revocation cleanup failed", "err", err)
			}
		}
	}
}

// watch keeps a push subscription open, reconnecting with a bounded
// backoff; each notification (and each reconnection) kicks a sync.
func (f *Feed) watch(ctx context.Context, w store.RevocationWatcher, kick chan<- struct{}) {
	notify := func() {
		select {
		case kick <- struct{}{}:
		default: // a sync is already pending
		}
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := w.WatchRevocations(ctx, notify)
		if ctx.Err() != nil {
			return
		}
		if f.Log != nil {
			f.Log.WarnContext(ctx, "revocation push feed lost; resubscribing", "err", err)
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Lag is how long ago the list last synced with the store.
func (f *Feed) Lag() time.Duration {
	f.Set.mu.RLock()
	defer f.Set.mu.RUnlock()
	if f.Set.syncedAt.IsZero() {
		return 0
	}
	return f.now().Sub(f.Set.syncedAt)
}

func (f *Feed) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// UserNotBefore is the user's current not-before time (zero if none):
// tokens issued before it are refused, so a token minted now must carry an
// iat of at least this.
func (s *Set) UserNotBefore(now time.Time, userID string) time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.users[userID]; ok && now.Before(e.expires) {
		return e.notBefore
	}
	return time.Time{}
}
