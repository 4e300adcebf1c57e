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
