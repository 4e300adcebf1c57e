package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// testCountSessions counts at a time far in the future, where only this
// test's sessions can be alive, so suites may share a database.
func testCountSessions(t *testing.T, s store.Store) {
	c, ok := s.(store.SessionCounter)
	if !ok {
		t.Skip("backend does not count sessions")
	}
	at := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	before, err := c.CountSessions(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	u := createUser(t, s)
	alive := newSession(t, u.ID, at.Add(-time.Minute)) // idle until +29 min
	idleDead := newSession(t, u.ID, at.Add(-31*time.Minute))
	absDead := newSession(t, u.ID, at.Add(-time.Minute))
	absDead.ExpiresAt = at
	for _, x := range []store.Session{alive, idleDead, absDead} {
		if err := s.CreateSession(t.Context(), x); err != nil {
			t.Fatal(err)
		}
	}
	n, err := c.CountSessions(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	if n-before != 1 {
		t.Fatalf("CountSessions counted %d new live sessions, want 1", n-before)
	}
}
