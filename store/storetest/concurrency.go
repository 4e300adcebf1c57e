package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

// racers is how many goroutines each concurrency test runs at once: enough
// to make SQLite writers queue on busy_timeout and Go maps race without a
// lock, few enough to stay quick under the race detector.
const racers = 16

// race runs fn(i) for i in [0, n) on n goroutines released together, and
// waits for all of them.
func race(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			start.Wait()
			fn(i)
		}()
	}
	start.Done()
	done.Wait()
}

func testConcurrentCreateSameEmail(t *testing.T, s store.Store) {
	ctx := t.Context()
	email := newID(t, "race") + "@example.test"
	users := make([]store.User, racers)
	for i := range users {
		users[i] = newUser(t)
		users[i].Email = email
	}
	errs := make([]error, racers)
	race(racers, func(i int) { errs[i] = s.CreateUser(ctx, users[i]) })

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("both %q and %q were created with email %q", users[winner].ID, users[i].ID, email)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("CreateUser(%q) = %v, want nil or ErrAlreadyExists", users[i].ID, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no CreateUser of %d succeeded", racers)
	}
	got, err := s.UserByEmail(ctx, email)
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if got.ID != users[winner].ID {
		t.Errorf("UserByEmail = %q, want the winner %q", got.ID, users[winner].ID)
	}
	for i, u := range users {
		if _, err := s.UserByID(ctx, u.ID); i != winner && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("loser %q: UserByID = %v, want ErrNotFound", u.ID, err)
		}
	}
}

func testConcurrentCreateSameSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	hash := newTokenHash(t)
	sessions := make([]store.Session, racers)
	for i := range sessions {
		sessions[i] = newSession(t, u.ID, baseTime())
		sessions[i].TokenHash = slices.Clone(hash)
	}
	errs := make([]error, racers)
	race(racers, func(i int) { errs[i] = s.CreateSession(ctx, sessions[i]) })

	wins := 0
	for i, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("CreateSession(%q) = %v, want nil or ErrAlreadyExists", sessions[i].ID, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d sessions were created with one token hash, want exactly 1", wins)
	}
	if list, err := s.ListUserSessions(ctx, u.ID); err != nil || len(list) != 1 {
		t.Errorf("ListUserSessions = %d sessions, %v; want 1", len(list), err)
	}
}

// maxConflictRetries bounds the retries of an UpdateUser that reports
// ErrConflict: a backend with optimistic locking may ask the caller to try
// again, but it must not starve one.
const maxConflictRetries = 100

func testConcurrentUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t)
	u.Roles = nil
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	want := make([]string, racers)
	for i := range want {
		want[i] = fmt.Sprintf("role-%02d", i)
	}
	race(racers, func(i int) {
		for range maxConflictRetries {
			_, err := s.UpdateUser(ctx, u.ID, func(cur *store.User) error {
				cur.Roles = append(cur.Roles, want[i])
				return nil
			})
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			if err != nil {
				t.Errorf("UpdateUser adding %q: %v", want[i], err)
			}
			return
		}
		t.Errorf("UpdateUser adding %q: still ErrConflict after %d tries", want[i], maxConflictRetries)
	})
	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	if !slices.Equal(got.Roles, want) {
		t.Errorf("Roles after %d concurrent appends = %q, want %q (an update was lost)", racers, got.Roles, want)
	}
}
