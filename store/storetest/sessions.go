package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func testCreateSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	sess := newSession(t, u.ID, baseTime())
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	checkSession(t, s, sess)
	got, err := s.SessionByTokenHash(ctx, sess.TokenHash)
	if err != nil {
		t.Fatalf("SessionByTokenHash: %v", err)
	}
	if d := sessionDiff(sess, got); d != "" {
		t.Errorf("SessionByTokenHash: %s", d)
	}
}

func testCreateSessionDuplicateID(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	a := createSession(t, s, u.ID, baseTime())
	b := newSession(t, u.ID, baseTime().Add(time.Minute))
	b.ID = a.ID
	if err := s.CreateSession(ctx, b); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateSession with a taken ID = %v, want ErrAlreadyExists", err)
	}
	checkSession(t, s, a)
	if _, err := s.SessionByTokenHash(ctx, b.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the rejected session's token hash was written: SessionByTokenHash = %v, want ErrNotFound", err)
	}
}

func testCreateSessionDuplicateTokenHash(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	a := createSession(t, s, u.ID, baseTime())
	b := newSession(t, u.ID, baseTime().Add(time.Minute))
	b.TokenHash = slices.Clone(a.TokenHash)
	if err := s.CreateSession(ctx, b); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateSession with a taken token hash = %v, want ErrAlreadyExists", err)
	}
	if _, err := s.SessionByID(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the rejected session was written: SessionByID = %v, want ErrNotFound", err)
	}
	got, err := s.SessionByTokenHash(ctx, a.TokenHash)
	if err != nil {
		t.Fatalf("SessionByTokenHash: %v", err)
	}
	if d := sessionDiff(a, got); d != "" {
		t.Errorf("SessionByTokenHash: %s", d)
	}
}

func testSessionNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.SessionByID(ctx, newID(t, "missing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByID(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.SessionByTokenHash(ctx, newTokenHash(t)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByTokenHash(missing) = %v, want ErrNotFound", err)
	}
}

func testSessionTimesRoundTrip(t *testing.T, s store.Store) {
	u := createUser(t, s)
	west := time.FixedZone("UTC-9:30", -(9*3600 + 1800))
	sess := newSession(t, u.ID, baseTime())
	sess.CreatedAt = time.Date(2030, time.January, 1, 0, 0, 0, 1, west)
	sess.AuthTime = time.Date(2030, time.January, 1, 0, 0, 0, 999999, west)
	sess.LastSeenAt = time.Date(2030, time.January, 1, 0, 0, 0, 1000000, west)
	sess.IdleExpiresAt = time.Date(2030, time.January, 1, 0, 30, 0, 123456789, time.Local)
	sess.ExpiresAt = time.Date(2030, time.January, 2, 0, 0, 0, 987654321, time.UTC)
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	checkSession(t, s, sess)
}

func testSessionCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	sess := newSession(t, u.ID, baseTime())
	want := sess
	want.TokenHash = slices.Clone(sess.TokenHash)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	sess.TokenHash[0] ^= 0xff
	checkSession(t, s, want)
	if _, err := s.SessionByTokenHash(ctx, want.TokenHash); err != nil {
		t.Errorf("SessionByTokenHash after mutating the input: %v", err)
	}

	got, err := s.SessionByID(ctx, want.ID)
	if err != nil {
		t.Fatalf("SessionByID: %v", err)
	}
	got.TokenHash[0] ^= 0xff
	checkSession(t, s, want)

	got, err = s.SessionByTokenHash(ctx, want.TokenHash)
	if err != nil {
		t.Fatalf("SessionByTokenHash: %v", err)
	}
	got.TokenHash[1] ^= 0xff
	checkSession(t, s, want)

	list, err := s.ListUserSessions(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListUserSessions: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListUserSessions returned %d sessions, want 1", len(list))
	}
	list[0].TokenHash[2] ^= 0xff
	checkSession(t, s, want)
}

func testListUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	other := createUser(t, s)
	b := baseTime()
	// Created out of order so that insertion order cannot pass for age.
	s1 := createSession(t, s, u.ID, b.Add(1*time.Second))
	s3 := createSession(t, s, u.ID, b.Add(3*time.Second))
	o := createSession(t, s, other.ID, b.Add(10*time.Second))
	s2 := createSession(t, s, u.ID, b.Add(2*time.Second))

	check := func(userID string, want ...store.Session) {
		t.Helper()
		got, err := s.ListUserSessions(ctx, userID)
		if err != nil {
			t.Fatalf("ListUserSessions(%q): %v", userID, err)
		}
		if g, w := ids(got, sessionID), ids(want, sessionID); !slices.Equal(g, w) {
			t.Fatalf("ListUserSessions(%q) = %q, want %q (newest first)", userID, g, w)
		}
		for i := range got {
			if d := sessionDiff(want[i], got[i]); d != "" {
				t.Errorf("ListUserSessions(%q)[%d]: %s", userID, i, d)
			}
		}
	}
	check(u.ID, s3, s2, s1)
	check(other.ID, o)
	check(newID(t, "nobody"))
}

func testTouchSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	sess := createSession(t, s, u.ID, baseTime())
	neighbour := createSession(t, s, u.ID, baseTime())

	want := sess
	want.LastSeenAt = baseTime().Add(5*time.Minute + 123*time.Microsecond)
	want.IdleExpiresAt = baseTime().Add(35 * time.Minute)
	want.IP = "2001:db8::7"
	if err := s.TouchSession(ctx, sess.ID, want.LastSeenAt, want.IdleExpiresAt, want.IP); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	checkSession(t, s, want)
	got, err := s.SessionByTokenHash(ctx, sess.TokenHash)
	if err != nil {
		t.Fatalf("SessionByTokenHash: %v", err)
	}
	if d := sessionDiff(want, got); d != "" {
		t.Errorf("SessionByTokenHash after TouchSession: %s", d)
	}
	checkSession(t, s, neighbour)

	err = s.TouchSession(ctx, newID(t, "missing"), want.LastSeenAt, want.IdleExpiresAt, want.IP)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession(missing) = %v, want ErrNotFound", err)
	}
}

func testDeleteSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	a := createSession(t, s, u.ID, baseTime())
	b := createSession(t, s, u.ID, baseTime().Add(time.Second))
	if err := s.DeleteSession(ctx, a.ID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := s.SessionByID(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByID(deleted) = %v, want ErrNotFound", err)
	}
	if _, err := s.SessionByTokenHash(ctx, a.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByTokenHash(deleted) = %v, want ErrNotFound", err)
	}
	checkSession(t, s, b)
	if list, err := s.ListUserSessions(ctx, u.ID); err != nil || len(list) != 1 {
		t.Errorf("ListUserSessions after DeleteSession = %d sessions, %v; want 1", len(list), err)
	}
	if err := s.DeleteSession(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSession(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, newID(t, "missing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSession(missing) = %v, want ErrNotFound", err)
	}
	// The deleted session's ID and token hash are free again.
	again := newSession(t, u.ID, baseTime())
	again.ID, again.TokenHash = a.ID, a.TokenHash
	if err := s.CreateSession(ctx, again); err != nil {
		t.Errorf("CreateSession reusing a deleted session's ID and hash: %v", err)
	}
}

// checkRemoved fails the test unless got holds exactly want, in any order,
// and none of them can still be found.
func checkRemoved(t *testing.T, s store.Store, got []store.Session, want ...store.Session) {
	t.Helper()
	byID := make(map[string]store.Session, len(got))
	for _, g := range got {
		byID[g.ID] = g
	}
	if len(byID) != len(got) || len(got) != len(want) {
		t.Fatalf("removed %q, want %q", ids(got, sessionID), ids(want, sessionID))
	}
	for _, w := range want {
		g, ok := byID[w.ID]
		if !ok {
			t.Fatalf("removed %q, want %q", ids(got, sessionID), ids(want, sessionID))
		}
		if d := sessionDiff(w, g); d != "" {
			t.Errorf("removed session %q: %s", w.ID, d)
		}
		if _, err := s.SessionByID(t.Context(), w.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionByID(removed %q) = %v, want ErrNotFound", w.ID, err)
		}
		if _, err := s.SessionByTokenHash(t.Context(), w.TokenHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionByTokenHash(removed %q) = %v, want ErrNotFound", w.ID, err)
		}
	}
}

func testDeleteUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	other := createUser(t, s)
	s1 := createSession(t, s, u.ID, baseTime())
	s2 := createSession(t, s, u.ID, baseTime().Add(time.Second))
	s3 := createSession(t, s, u.ID, baseTime().Add(2*time.Second))
	o := createSession(t, s, other.ID, baseTime())

	removed, err := s.DeleteUserSessions(ctx, u.ID, "")
	if err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	checkRemoved(t, s, removed, s1, s2, s3)
	if list, err := s.ListUserSessions(ctx, u.ID); err != nil || len(list) != 0 {
		t.Errorf("ListUserSessions after DeleteUserSessions = %q, %v; want none", ids(list, sessionID), err)
	}
	checkSession(t, s, o)

	removed, err = s.DeleteUserSessions(ctx, u.ID, "")
	if err != nil || len(removed) != 0 {
		t.Errorf("DeleteUserSessions again = %q, %v; want none and no error", ids(removed, sessionID), err)
	}
	removed, err = s.DeleteUserSessions(ctx, newID(t, "nobody"), "")
	if err != nil || len(removed) != 0 {
		t.Errorf("DeleteUserSessions(unknown user) = %q, %v; want none and no error", ids(removed, sessionID), err)
	}
}

func testDeleteUserSessionsExcept(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	other := createUser(t, s)
	s1 := createSession(t, s, u.ID, baseTime())
	s2 := createSession(t, s, u.ID, baseTime().Add(time.Second))
	s3 := createSession(t, s, u.ID, baseTime().Add(2*time.Second))
	o := createSession(t, s, other.ID, baseTime())

	removed, err := s.DeleteUserSessions(ctx, u.ID, s2.ID)
	if err != nil {
		t.Fatalf("DeleteUserSessions(except %q): %v", s2.ID, err)
	}
	checkRemoved(t, s, removed, s1, s3)
	checkSession(t, s, s2)
	checkSession(t, s, o)

	// An except that is not the user's session spares nothing of theirs,
	// and never removes the other user's session.
	removed, err = s.DeleteUserSessions(ctx, u.ID, o.ID)
	if err != nil {
		t.Fatalf("DeleteUserSessions(except another user's session): %v", err)
	}
	checkRemoved(t, s, removed, s2)
	checkSession(t, s, o)
}

func testDeleteExpiredSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A clock far in the past, so that sessions of other tests sharing the
	// database are all alive at it; sub-millisecond digits check that a
	// deadline equal to now after truncation counts as reached.
	now := time.Date(1990, time.June, 7, 8, 9, 10, 111222333, time.UTC)
	// Sweep leftovers of an earlier, interrupted run so the count is exact.
	if _, err := s.DeleteExpiredSessions(ctx, now.Add(time.Hour)); err != nil {
		t.Fatalf("DeleteExpiredSessions: %v", err)
	}

	u := createUser(t, s)
	mk := func(idle, abs time.Time) store.Session {
		sess := newSession(t, u.ID, now.Add(-2*time.Hour))
		sess.IdleExpiresAt, sess.ExpiresAt = idle, abs
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		return sess
	}
	ms := time.Millisecond
	dead := []store.Session{
		mk(now.Add(time.Hour), now),          // absolute deadline is now
		mk(now.Add(time.Hour), now.Add(-ms)), // absolute deadline passed
		mk(now, now.Add(time.Hour)),          // idle deadline is now
		mk(now.Add(-ms), now.Add(time.Hour)), // idle deadline passed
		mk(now.Add(-ms), now.Add(-ms)),       // both passed
	}
	edge := mk(now.Add(ms), now.Add(ms)) // alive for one more millisecond
	live := mk(now.Add(30*time.Minute), now.Add(24*time.Hour))
	for _, d := range dead {
		if !d.Expired(now) {
			t.Fatalf("test bug: session %+v is not expired at %v", d, now)
		}
	}

	n, err := s.DeleteExpiredSessions(ctx, now)
	if err != nil {
		t.Fatalf("DeleteExpiredSessions: %v", err)
	}
	if n != len(dead) {
		t.Errorf("DeleteExpiredSessions removed %d sessions, want %d", n, len(dead))
	}
	for _, d := range dead {
		if _, err := s.SessionByID(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionByID(expired) = %v, want ErrNotFound", err)
		}
	}
	checkSession(t, s, edge)
	checkSession(t, s, live)

	if n, err := s.DeleteExpiredSessions(ctx, now); err != nil || n != 0 {
		t.Errorf("DeleteExpiredSessions again = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, now.Add(ms)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions one millisecond later = %d, %v; want 1", n, err)
	}
	if _, err := s.SessionByID(ctx, edge.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByID(expired a millisecond later) = %v, want ErrNotFound", err)
	}
	checkSession(t, s, live)
}

// newTokenSession returns a session signed in in token mode, holding its
// first refresh token, that exists nowhere yet.
func newTokenSession(tb testing.TB, userID string, created time.Time) store.Session {
	tb.Helper()
	sess := newSession(tb, userID, created)
	sess.RefreshHash = newTokenHash(tb)
	sess.RefreshGen = 1
	sess.RefreshRotatedAt = created
	return sess
}

// cloneSession is sess with slices of its own, so that a test can keep
// what it wrote while the store or fn mutates what it was given.
func cloneSession(sess store.Session) store.Session {
	sess.TokenHash = slices.Clone(sess.TokenHash)
	sess.RefreshHash = slices.Clone(sess.RefreshHash)
	return sess
}

func testSessionRefreshRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	tok := newTokenSession(t, u.ID, baseTime())
	tok.RefreshGen = 3
	tok.RefreshRotatedAt = baseTime().Add(time.Minute + 123*time.Microsecond)
	want := cloneSession(tok)
	if err := s.CreateSession(ctx, tok); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	tok.RefreshHash[0] ^= 0xff // the store must have copied it
	checkSession(t, s, want)
	got, err := s.SessionByTokenHash(ctx, want.TokenHash)
	if err != nil {
		t.Fatalf("SessionByTokenHash: %v", err)
	}
	if d := sessionDiff(want, got); d != "" {
		t.Errorf("SessionByTokenHash: %s", d)
	}
	got.RefreshHash[0] ^= 0xff
	checkSession(t, s, want)
	list, err := s.ListUserSessions(ctx, u.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListUserSessions = %d sessions, %v; want 1", len(list), err)
	}
	if d := sessionDiff(want, list[0]); d != "" {
		t.Errorf("ListUserSessions: %s", d)
	}
	list[0].RefreshHash[1] ^= 0xff
	checkSession(t, s, want)

	// A cookie session has no refresh state; an empty refresh hash means
	// the same as nil and reads back as nil.
	for name, hash := range map[string][]byte{"nil": nil, "empty": {}} {
		cookie := newSession(t, u.ID, baseTime())
		cookie.RefreshHash = hash
		if err := s.CreateSession(ctx, cookie); err != nil {
			t.Fatalf("CreateSession(%s refresh hash): %v", name, err)
		}
		got, err := s.SessionByID(ctx, cookie.ID)
		if err != nil {
			t.Fatalf("SessionByID: %v", err)
		}
		if got.RefreshHash != nil || got.RefreshGen != 0 || !got.RefreshRotatedAt.IsZero() {
			t.Errorf("cookie session with a %s refresh hash reads back with RefreshHash %#v, RefreshGen %d, RefreshRotatedAt %v; want nil, 0, the zero time",
				name, got.RefreshHash, got.RefreshGen, got.RefreshRotatedAt)
		}
	}
}

func testUpdateSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	sess := createSession(t, s, u.ID, baseTime())
	neighbour := createSession(t, s, u.ID, baseTime())

	// Every field but ID and UserID changes, cookie session to token mode.
	want := sess
	want.TokenHash = newTokenHash(t)
	want.CreatedAt = baseTime().Add(-time.Hour)
	want.AuthTime = baseTime().Add(10*time.Minute + 1*time.Microsecond)
	want.LastSeenAt = baseTime().Add(11 * time.Minute)
	want.IdleExpiresAt = baseTime().Add(41 * time.Minute)
	want.ExpiresAt = baseTime().Add(48 * time.Hour)
	want.IP = "2001:db8::9"
	want.UserAgent = "storetest/2.0"
	want.RefreshHash = newTokenHash(t)
	want.RefreshGen = 7
	want.RefreshRotatedAt = baseTime().Add(11*time.Minute + 456*time.Microsecond)
	calls := 0
	got, err := s.UpdateSession(ctx, sess.ID, func(cur *store.Session) error {
		calls++
		if d := sessionDiff(sess, *cur); d != "" {
			t.Errorf("fn got %s", d)
		}
		*cur = cloneSession(want)
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	if d := sessionDiff(want, got); d != "" {
		t.Errorf("UpdateSession returned %s", d)
	}
	checkSession(t, s, want)
	checkSession(t, s, neighbour)
	if got, err := s.SessionByTokenHash(ctx, want.TokenHash); err != nil || got.ID != sess.ID {
		t.Errorf("SessionByTokenHash(new hash) = %q, %v; want %q", got.ID, err, sess.ID)
	}
	if _, err := s.SessionByTokenHash(ctx, sess.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByTokenHash(old hash) = %v, want ErrNotFound", err)
	}
	list, err := s.ListUserSessions(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListUserSessions: %v", err)
	}
	for _, l := range list {
		if l.ID == want.ID {
			if d := sessionDiff(want, l); d != "" {
				t.Errorf("ListUserSessions after UpdateSession: %s", d)
			}
		}
	}
	// The old token hash is free again.
	again := newSession(t, u.ID, baseTime())
	again.TokenHash = sess.TokenHash
	if err := s.CreateSession(ctx, again); err != nil {
		t.Errorf("CreateSession reusing the replaced token hash: %v", err)
	}

	// Back to no refresh state, an empty hash standing for none.
	want.RefreshHash, want.RefreshGen, want.RefreshRotatedAt = nil, 0, time.Time{}
	got, err = s.UpdateSession(ctx, sess.ID, func(cur *store.Session) error {
		cur.RefreshHash, cur.RefreshGen, cur.RefreshRotatedAt = []byte{}, 0, time.Time{}
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateSession(clear refresh): %v", err)
	}
	if d := sessionDiff(want, got); d != "" {
		t.Errorf("UpdateSession(clear refresh) returned %s", d)
	}
	checkSession(t, s, want)
	if got, err := s.SessionByID(ctx, sess.ID); err == nil && !got.RefreshRotatedAt.IsZero() {
		t.Errorf("RefreshRotatedAt = %v, want the zero time back", got.RefreshRotatedAt)
	}

	// An fn that changes nothing writes nothing new.
	got, err = s.UpdateSession(ctx, sess.ID, func(*store.Session) error { return nil })
	if err != nil {
		t.Fatalf("UpdateSession(no change): %v", err)
	}
	if d := sessionDiff(want, got); d != "" {
		t.Errorf("UpdateSession(no change) returned %s", d)
	}
	checkSession(t, s, want)
}

func testUpdateSessionNotFound(t *testing.T, s store.Store) {
	called := false
	_, err := s.UpdateSession(t.Context(), newID(t, "missing"), func(*store.Session) error {
		called = true
		return nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSession(missing) = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("fn was called for a missing session")
	}
}

func testUpdateSessionFnError(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	sess := newTokenSession(t, u.ID, baseTime())
	want := cloneSession(sess)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	errBoom := errors.New("boom")
	_, err := s.UpdateSession(ctx, sess.ID, func(cur *store.Session) error {
		// Mutate in place too: fn must have been given a copy.
		cur.TokenHash[0] ^= 0xff
		cur.RefreshHash[0] ^= 0xff
		cur.RefreshGen++
		cur.IP = "198.51.100.7"
		cur.ExpiresAt = cur.ExpiresAt.Add(time.Hour)
		return errBoom
	})
	if err != errBoom {
		t.Errorf("UpdateSession returned %v, want fn's error as is", err)
	}
	checkSession(t, s, want)
	if got, err := s.SessionByTokenHash(ctx, want.TokenHash); err != nil || got.ID != want.ID {
		t.Errorf("SessionByTokenHash(unchanged hash) = %q, %v; want %q", got.ID, err, want.ID)
	}
}

func testUpdateSessionIDCannotChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	other := createUser(t, s)
	a := createSession(t, s, u.ID, baseTime())
	b := createSession(t, s, u.ID, baseTime().Add(time.Second))
	fresh := newID(t, "sess")
	tests := []struct {
		name string
		fn   func(cur *store.Session)
	}{
		{"ID to a fresh one", func(cur *store.Session) { cur.ID = fresh }},
		{"ID to another session's", func(cur *store.Session) { cur.ID = b.ID }},
		{"UserID to another user", func(cur *store.Session) { cur.UserID = other.ID }},
		{"UserID to none", func(cur *store.Session) { cur.UserID = "" }},
	}
	for _, tc := range tests {
		_, err := s.UpdateSession(ctx, a.ID, func(cur *store.Session) error {
			tc.fn(cur)
			cur.IP = "198.51.100.7"
			cur.RefreshGen = 9
			cur.TokenHash = newTokenHash(t)
			return nil
		})
		if err == nil {
			t.Errorf("UpdateSession changing the %s succeeded, want an error", tc.name)
		}
		checkSession(t, s, a)
		checkSession(t, s, b)
	}
	if _, err := s.SessionByID(ctx, fresh); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByID(new ID) = %v, want ErrNotFound", err)
	}
	if list, err := s.ListUserSessions(ctx, other.ID); err != nil || len(list) != 0 {
		t.Errorf("ListUserSessions(other user) = %q, %v; want none", ids(list, sessionID), err)
	}
}

func testUpdateSessionTokenHash(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	a := createSession(t, s, u.ID, baseTime())
	b := createSession(t, s, u.ID, baseTime().Add(time.Second))

	// Taking another session's token hash is refused like creating a
	// session with it.
	_, err := s.UpdateSession(ctx, b.ID, func(cur *store.Session) error {
		cur.TokenHash = slices.Clone(a.TokenHash)
		cur.IP = "198.51.100.7"
		return nil
	})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("UpdateSession to a taken token hash = %v, want ErrAlreadyExists", err)
	}
	checkSession(t, s, a)
	checkSession(t, s, b)
	if got, err := s.SessionByTokenHash(ctx, a.TokenHash); err != nil || got.ID != a.ID {
		t.Errorf("SessionByTokenHash(a's hash) = %q, %v; want %q", got.ID, err, a.ID)
	}

	// A session without a token hash could never be found again.
	for name, hash := range map[string][]byte{"nil": nil, "empty": {}} {
		if _, err := s.UpdateSession(ctx, b.ID, func(cur *store.Session) error {
			cur.TokenHash = hash
			return nil
		}); err == nil {
			t.Errorf("UpdateSession to a %s token hash succeeded, want an error", name)
		}
		checkSession(t, s, b)
	}
}

func testUpdateSessionCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	sess := createSession(t, s, u.ID, baseTime())
	want := sess
	want.RefreshHash = newTokenHash(t)
	want.RefreshGen = 1
	var kept *store.Session
	got, err := s.UpdateSession(ctx, sess.ID, func(cur *store.Session) error {
		kept = cur
		cur.RefreshHash = slices.Clone(want.RefreshHash)
		cur.RefreshGen = 1
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	kept.TokenHash[0] ^= 0xff
	kept.RefreshHash[0] ^= 0xff
	kept.IP = "mutated-after-fn"
	checkSession(t, s, want)
	got.TokenHash[1] ^= 0xff
	got.RefreshHash[1] ^= 0xff
	checkSession(t, s, want)
}
