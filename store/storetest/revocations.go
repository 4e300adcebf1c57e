package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// newRevocation returns an entry revoking a fresh session ID until
// expires.
func newRevocation(tb testing.TB, expires time.Time) store.Revocation {
	tb.Helper()
	return store.Revocation{
		Kind:      store.RevokeSession,
		Key:       newID(tb, "sess"),
		ExpiresAt: expires,
		CreatedAt: baseTime(),
	}
}

// addRevocations stores rs in one call, failing the test if it cannot.
func addRevocations(t *testing.T, s store.Store, rs ...store.Revocation) []store.Revocation {
	t.Helper()
	out, err := s.AddRevocations(t.Context(), rs)
	if err != nil {
		t.Fatalf("AddRevocations: %v", err)
	}
	if len(out) != len(rs) {
		t.Fatalf("AddRevocations(%d entries) returned %d", len(rs), len(out))
	}
	return out
}

// revocationMark returns a Seq below that of every entry added from now
// on: the highest Seq in the store. Entries with a higher Seq that were
// deleted do not matter, since Seq is never reused.
func revocationMark(t *testing.T, s store.Store) int64 {
	t.Helper()
	all, err := s.RevocationsSince(t.Context(), 0, time.Time{})
	if err != nil {
		t.Fatalf("RevocationsSince(0): %v", err)
	}
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Seq
}

// revocationDiff describes how got differs from want, or returns "". It
// compares Seq only if want has one.
func revocationDiff(want, got store.Revocation) string {
	var d []string
	if want.Seq != 0 && got.Seq != want.Seq {
		d = append(d, fmt.Sprintf("Seq: got %d, want %d", got.Seq, want.Seq))
	}
	if got.Kind != want.Kind {
		d = append(d, fmt.Sprintf("Kind: got %q, want %q", got.Kind, want.Kind))
	}
	if got.Key != want.Key {
		d = append(d, fmt.Sprintf("Key: got %q, want %q", got.Key, want.Key))
	}
	if want.NotBefore.IsZero() && !got.NotBefore.IsZero() {
		d = append(d, fmt.Sprintf("NotBefore: got %v, want the zero time", got.NotBefore))
	}
	d = appendNonEmpty(d,
		timeDiff("NotBefore", want.NotBefore, got.NotBefore),
		timeDiff("ExpiresAt", want.ExpiresAt, got.ExpiresAt),
		timeDiff("CreatedAt", want.CreatedAt, got.CreatedAt))
	return strings.Join(d, "; ")
}

// checkRevocationsSince fails the test unless RevocationsSince(after,
// now) gives exactly want, Seqs included, in order.
func checkRevocationsSince(t *testing.T, s store.Store, after int64, now time.Time, want ...store.Revocation) {
	t.Helper()
	got, err := s.RevocationsSince(t.Context(), after, now)
	if err != nil {
		t.Fatalf("RevocationsSince(%d, %v): %v", after, now, err)
	}
	if g, w := ids(got, revocationKey), ids(want, revocationKey); !slices.Equal(g, w) {
		t.Fatalf("RevocationsSince(%d, %v) = %q, want %q", after, now, g, w)
	}
	for i := range got {
		if d := revocationDiff(want[i], got[i]); d != "" {
			t.Errorf("RevocationsSince(%d, %v)[%d]: %s", after, now, i, d)
		}
	}
}

func revocationKey(r store.Revocation) string { return r.Key }

// checkSeqsIncrease fails the test unless the Seqs of rs strictly
// increase, all above after.
func checkSeqsIncrease(t *testing.T, after int64, rs ...store.Revocation) {
	t.Helper()
	last := after
	for i, r := range rs {
		if r.Seq <= last {
			t.Fatalf("entry %d (%q) has Seq %d, want more than %d", i, r.Key, r.Seq, last)
		}
		last = r.Seq
	}
}

func testAddRevocations(t *testing.T, s store.Store) {
	now := baseTime()
	mark := revocationMark(t, s)
	in := []store.Revocation{
		{Seq: 1 << 40, Kind: store.RevokeSession, Key: newID(t, "sess"), ExpiresAt: now.Add(time.Hour), CreatedAt: now},
		{Seq: 1, Kind: store.RevokeToken, Key: newID(t, "jti"), ExpiresAt: now.Add(15 * time.Minute), CreatedAt: now.Add(time.Microsecond)},
		{Kind: store.RevokeUser, Key: newID(t, "user"), NotBefore: now.Add(-time.Minute + 123*time.Microsecond),
			ExpiresAt: now.Add(2 * time.Hour), CreatedAt: now.Add(time.Second)},
		// Cache invalidations travel on the same list.
		{Kind: store.UserChanged, Key: newID(t, "user"), ExpiresAt: now.Add(5 * time.Minute), CreatedAt: now},
		{Kind: store.SessionChanged, Key: newID(t, "sess"), ExpiresAt: now.Add(5 * time.Minute), CreatedAt: now},
	}
	out := addRevocations(t, s, in...)
	checkSeqsIncrease(t, mark, out...)
	for i := range in {
		want := in[i]
		want.Seq = 0 // assigned, not taken from the input
		if d := revocationDiff(want, out[i]); d != "" {
			t.Errorf("AddRevocations returned [%d]: %s", i, d)
		}
	}
	// What comes back reads back, Seq included.
	checkRevocationsSince(t, s, mark, now, out...)
	checkRevocationsSince(t, s, out[0].Seq, now, out[1:]...)
	checkRevocationsSince(t, s, out[2].Seq, now, out[3:]...)
	checkRevocationsSince(t, s, out[4].Seq, now)

	// An empty batch adds nothing and takes no error.
	if got, err := s.AddRevocations(t.Context(), nil); err != nil || len(got) != 0 {
		t.Errorf("AddRevocations(none) = %d entries, %v; want none and no error", len(got), err)
	}
	checkRevocationsSince(t, s, mark, now, out...)
}

func testRevocationsSeqIncreasing(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := baseTime()
	mark := revocationMark(t, s)
	a := addRevocations(t, s, newRevocation(t, now.Add(time.Hour)))
	b := addRevocations(t, s, newRevocation(t, now.Add(time.Hour)), newRevocation(t, now.Add(time.Hour)))
	// An entry that expires long ago, so it can be deleted without touching
	// entries of the other tests; it is the newest, and its Seq must not
	// come back once it is gone.
	gone := time.Date(1985, time.January, 1, 0, 0, 0, 0, time.UTC)
	c := addRevocations(t, s, newRevocation(t, gone))
	if _, err := s.DeleteExpiredRevocations(ctx, gone); err != nil {
		t.Fatalf("DeleteExpiredRevocations: %v", err)
	}
	d := addRevocations(t, s, newRevocation(t, now.Add(time.Hour)))
	checkSeqsIncrease(t, mark, slices.Concat(a, b, c, d)...)
	checkRevocationsSince(t, s, mark, now, slices.Concat(a, b, d)...)
	checkRevocationsSince(t, s, c[0].Seq, now, d...)
}

func testRevocationsSinceExpiry(t *testing.T, s store.Store) {
	// now has sub-millisecond digits: an entry that expires at now, once
	// truncated, has expired.
	now := baseTime()
	ms := time.Millisecond
	mark := revocationMark(t, s)
	rs := addRevocations(t, s,
		newRevocation(t, now.Add(-ms)),       // expired
		newRevocation(t, now),                // expires at now: expired
		newRevocation(t, now.Add(ms)),        // live for one more millisecond
		newRevocation(t, now.Add(time.Hour)), // live
	)
	checkRevocationsSince(t, s, mark, now, rs[2], rs[3])
	checkRevocationsSince(t, s, mark, now.Add(ms), rs[3])
	checkRevocationsSince(t, s, mark, now.Add(-time.Hour), rs...)
	checkRevocationsSince(t, s, rs[2].Seq, now, rs[3])
	checkRevocationsSince(t, s, mark, now.Add(2*time.Hour))
}

func testDeleteExpiredRevocations(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A clock far in the past, as in testDeleteExpiredSessions, so that the
	// entries of other tests are alive at it.
	now := time.Date(1990, time.June, 7, 8, 9, 10, 111222333, time.UTC)
	// Sweep leftovers of an earlier, interrupted run so the count is exact.
	if _, err := s.DeleteExpiredRevocations(ctx, now.Add(time.Hour)); err != nil {
		t.Fatalf("DeleteExpiredRevocations: %v", err)
	}
	ms := time.Millisecond
	mark := revocationMark(t, s)
	rs := addRevocations(t, s,
		newRevocation(t, now),                     // expires at now
		newRevocation(t, now.Add(-ms)),            // expired
		newRevocation(t, now.Add(30*time.Minute)), // live
		newRevocation(t, now.Add(-time.Hour)),     // long expired
		newRevocation(t, now.Add(ms)),             // live for one more millisecond
	)
	n, err := s.DeleteExpiredRevocations(ctx, now)
	if err != nil || n != 3 {
		t.Errorf("DeleteExpiredRevocations = %d, %v; want 3", n, err)
	}
	// At the zero time every entry is live: what is left is what was kept.
	checkRevocationsSince(t, s, mark, time.Time{}, rs[2], rs[4])
	if n, err := s.DeleteExpiredRevocations(ctx, now); err != nil || n != 0 {
		t.Errorf("DeleteExpiredRevocations again = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteExpiredRevocations(ctx, now.Add(ms)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredRevocations one millisecond later = %d, %v; want 1", n, err)
	}
	checkRevocationsSince(t, s, mark, time.Time{}, rs[2])
}
