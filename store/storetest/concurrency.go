package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

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

// rotators is how many goroutines race on one session's refresh token:
// more than racers, as a leaked refresh token replayed in a burst is the
// case the store must get right.
const rotators = 32

// errStale is what a rotation's fn returns when the refresh generation it
// read has moved on: another rotation got there first.
var errStale = errors.New("storetest: refresh generation moved on")

// updateSession is UpdateSession retried while it reports ErrConflict.
func updateSession(t *testing.T, s store.Store, id string, fn func(*store.Session) error) (store.Session, error) {
	for range maxConflictRetries {
		sess, err := s.UpdateSession(t.Context(), id, fn)
		if !errors.Is(err, store.ErrConflict) {
			return sess, err
		}
	}
	return store.Session{}, fmt.Errorf("UpdateSession(%q): still ErrConflict after %d tries", id, maxConflictRetries)
}

// testRefreshRotationRace replays one refresh token from rotators
// goroutines at once, for a few generations. Each reads the session, and
// only once all have read does any rotate, with an fn that refuses unless
// the generation is still the one it read (compare-and-swap, as refresh
// rotation does). Exactly one must win each generation; were two fn calls
// to see the same old state, two refresh tokens would live on.
func testRefreshRotationRace(t *testing.T, s store.Store) {
	u := createUser(t, s)
	sess := newTokenSession(t, u.ID, baseTime())
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	want := cloneSession(sess)
	for round := range 3 {
		var (
			seen   [rotators]int64
			errs   [rotators]error
			hashes [rotators][]byte
			read   sync.WaitGroup
		)
		for i := range hashes {
			hashes[i] = newTokenHash(t)
		}
		rotated := baseTime().Add(time.Duration(round+1) * time.Minute)
		read.Add(rotators)
		race(rotators, func(i int) {
			cur, err := s.SessionByID(t.Context(), sess.ID)
			seen[i] = cur.RefreshGen
			read.Done()
			if err != nil {
				errs[i] = err
				return
			}
			read.Wait()
			_, errs[i] = updateSession(t, s, sess.ID, func(cur *store.Session) error {
				if cur.RefreshGen != seen[i] {
					return errStale
				}
				// Yield, to widen the window a broken backend leaves
				// between its read and its write.
				runtime.Gosched()
				cur.RefreshGen++
				cur.RefreshHash = hashes[i]
				cur.RefreshRotatedAt = rotated
				return nil
			})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case seen[i] != want.RefreshGen:
				t.Errorf("round %d: goroutine %d read generation %d, want %d", round, i, seen[i], want.RefreshGen)
			case err == nil && winner >= 0:
				t.Errorf("round %d: goroutines %d and %d both rotated generation %d", round, winner, i, seen[i])
			case err == nil:
				winner = i
			case !errors.Is(err, errStale):
				t.Errorf("round %d: goroutine %d: UpdateSession = %v, want nil or fn's error", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no rotation of %d succeeded", round, rotators)
		}
		want.RefreshGen++
		want.RefreshHash = hashes[winner]
		want.RefreshRotatedAt = rotated
		checkSession(t, s, want)
	}
}

// testConcurrentUpdateSession has rotators goroutines each add one to a
// session's RefreshGen: the total must be exact, as no update may be lost.
func testConcurrentUpdateSession(t *testing.T, s store.Store) {
	u := createUser(t, s)
	sess := createSession(t, s, u.ID, baseTime())
	race(rotators, func(i int) {
		if _, err := updateSession(t, s, sess.ID, func(cur *store.Session) error {
			runtime.Gosched() // as in testRefreshRotationRace
			cur.RefreshGen++
			return nil
		}); err != nil {
			t.Errorf("UpdateSession %d: %v", i, err)
		}
	})
	want := sess
	want.RefreshGen = rotators
	checkSession(t, s, want)
}

// testConcurrentAddRevocations adds batches from racers goroutines at
// once: every entry gets its own Seq, each batch's Seqs increase, and the
// list holds them all in Seq order.
func testConcurrentAddRevocations(t *testing.T, s store.Store) {
	now := baseTime()
	mark := revocationMark(t, s)
	const batch = 3
	var batches [racers][]store.Revocation
	race(racers, func(i int) {
		in := make([]store.Revocation, batch)
		for j := range in {
			in[j] = newRevocation(t, now.Add(time.Hour))
		}
		out, err := s.AddRevocations(t.Context(), in)
		if err != nil {
			t.Errorf("AddRevocations %d: %v", i, err)
			return
		}
		batches[i] = out
	})
	var all []store.Revocation
	for i, b := range batches {
		if len(b) != batch {
			t.Fatalf("batch %d: %d entries returned, want %d", i, len(b), batch)
		}
		checkSeqsIncrease(t, mark, b...)
		all = append(all, b...)
	}
	slices.SortFunc(all, func(a, b store.Revocation) int { return cmp.Compare(a.Seq, b.Seq) })
	checkSeqsIncrease(t, mark, all...) // strictly: no Seq given twice
	checkRevocationsSince(t, s, mark, now, all...)
}

// testConcurrentAppendAudit appends from racers goroutines at once: every
// event gets its own ID and all are listed.
func testConcurrentAppendAudit(t *testing.T, s store.Store) {
	user := newID(t, "user")
	var events [racers]store.AuditEvent
	race(racers, func(i int) {
		e := store.AuditEvent{Time: baseTime(), Type: "signin.ok", UserID: user, Detail: map[string]string{"n": fmt.Sprint(i)}}
		id, err := s.AppendAudit(t.Context(), e)
		if err != nil {
			t.Errorf("AppendAudit %d: %v", i, err)
		}
		e.ID = id
		events[i] = e
	})
	want := events[:]
	slices.SortFunc(want, func(a, b store.AuditEvent) int { return cmp.Compare(b.ID, a.ID) })
	checkAudit(t, s, store.AuditFilter{UserID: user}, want...)
}
