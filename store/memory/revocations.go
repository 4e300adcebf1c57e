package memory

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// AddRevocations implements store.Revocations. The lock makes the batch
// visible at once, and in Seq order relative to every other batch.
func (s *Store) AddRevocations(ctx context.Context, rs []store.Revocation) ([]store.Revocation, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Revocation, len(rs))
	for i, r := range rs {
		s.lastSeq++
		r.Seq = s.lastSeq
		r.NotBefore, r.ExpiresAt, r.CreatedAt = normTime(r.NotBefore), normTime(r.ExpiresAt), normTime(r.CreatedAt)
		out[i] = r
	}
	s.revocations = append(s.revocations, out...)
	return out, nil
}

// RevocationsSince implements store.Revocations. An entry whose ExpiresAt
// equals now has expired, as a session's deadline has.
func (s *Store) RevocationsSince(ctx context.Context, after int64, now time.Time) ([]store.Revocation, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// s.revocations is sorted by Seq, so the new part is a suffix.
	i := sort.Search(len(s.revocations), func(i int) bool { return s.revocations[i].Seq > after })
	var out []store.Revocation
	for _, r := range s.revocations[i:] {
		if r.ExpiresAt.After(now) {
			out = append(out, r)
		}
	}
	return out, nil
}

// DeleteExpiredRevocations implements store.Revocations.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.revocations)
	s.revocations = slices.DeleteFunc(s.revocations, func(r store.Revocation) bool {
		return !r.ExpiresAt.After(now)
	})
	return before - len(s.revocations), nil
}
