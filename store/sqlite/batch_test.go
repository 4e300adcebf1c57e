package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// batchStore opens a migrated store with one user and n sessions, each with
// RefreshGen 1.
func batchStore(t *testing.T, n int) (*Store, []string) {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.CreateUser(ctx, store.User{ID: "usr_batch", Email: "batch@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ses_%03d", i)
		hash := make([]byte, 32)
		hash[0], hash[1] = byte(i), byte(i>>8)
		err := s.CreateSession(ctx, store.Session{ID: ids[i], TokenHash: hash, UserID: "usr_batch",
			CreatedAt: now, AuthTime: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour),
			RefreshHash: hash, RefreshGen: 1, RefreshRotatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s, ids
}

// holdLead starts an UpdateSession of id whose fn blocks until release is
// called, and returns once fn is running: the batch in flight holds the
// lead, so the writes that queue meanwhile make up the next batch, in
// order. done gets its result.
func holdLead(t *testing.T, s *Store, id string) (release func(), done <-chan error) {
	t.Helper()
	entered, gate, out := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := s.UpdateSession(context.Background(), id, func(*store.Session) error {
			close(entered)
			<-gate
			return nil
		})
		out <- err
	}()
	<-entered
	return sync.OnceFunc(func() { close(gate) }), out
}

// waitPending waits until n writes are queued.
func waitPending(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.writes.mu.Lock()
		got := len(s.writes.pending)
		s.writes.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", got, n)
		}
	}
}

func sessionGen(t *testing.T, s *Store, id string) int64 {
	t.Helper()
	sess, err := s.SessionByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return sess.RefreshGen
}

// TestGroupCommit queues many UpdateSession calls on different sessions
// behind a batch in flight, so that they run as one transaction: the
// callers whose fn refuses get fn's error and leave their session as it
// was, as does one whose write hits the unique token hash, the others are
// all written; none is answered before the commit; a
// caller whose context ends while queued leaves at once, and one whose
// context ends after its batch started is skipped at its turn.
func TestGroupCommit(t *testing.T) {
	const n = 40 // writers in the batch under test, below maxBatch
	s, ids := batchStore(t, n+4)
	ctx := t.Context()
	leadID, probeID, queuedID, takenID := ids[n], ids[n+1], ids[n+2], ids[n+3]
	release, leadDone := holdLead(t, s, leadID)
	defer release()

	// A caller that gives up while queued returns with its context's
	// error, while the batch ahead of it is still running.
	qctx, qcancel := context.WithCancel(ctx)
	queuedDone := make(chan error, 1)
	go func() {
		_, err := s.UpdateSession(qctx, queuedID, func(x *store.Session) error {
			x.RefreshGen = 99
			return nil
		})
		queuedDone <- err
	}()
	waitPending(t, s, 1)
	qcancel()
	if err := <-queuedDone; !errors.Is(err, context.Canceled) {
		t.Errorf("UpdateSession cancelled while queued = %v, want context.Canceled", err)
	}
	waitPending(t, s, 0)

	type result struct {
		sess store.Session
		err  error
	}
	var (
		results [n]result
		refuse  [n]error
		wg      sync.WaitGroup
		mu      sync.Mutex
		order   []int // the fns that ran, in order
		early   atomic.Int32
	)
	for i := range n {
		if i%3 == 0 {
			refuse[i] = fmt.Errorf("refused %d", i)
		}
		wg.Go(func() {
			results[i].sess, results[i].err = s.UpdateSession(ctx, ids[i], func(x *store.Session) error {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				if refuse[i] != nil {
					x.RefreshGen = -1 // must not be written
					return refuse[i]
				}
				x.RefreshGen = int64(100 + i)
				if i == 1 {
					// Session 2's hash: the UPDATE fails on the unique index.
					x.TokenHash = make([]byte, 32)
					x.TokenHash[0] = 2
				}
				return nil
			})
			early.Add(1)
		})
	}
	waitPending(t, s, n)

	// Last in the batch: a probe whose fn blocks, so that the test can look
	// at the database while the batch's transaction is open.
	probeIn, probeGate := make(chan struct{}), make(chan struct{})
	probeDone := make(chan error, 1)
	go func() {
		_, err := s.UpdateSession(ctx, probeID, func(x *store.Session) error {
			close(probeIn)
			<-probeGate
			x.RefreshGen = 7
			return nil
		})
		probeDone <- err
	}()
	waitPending(t, s, n+1)
	// And after it, a caller whose context ends while the batch runs.
	tctx, tcancel := context.WithCancel(ctx)
	takenRan := false
	takenDone := make(chan error, 1)
	go func() {
		_, err := s.UpdateSession(tctx, takenID, func(x *store.Session) error {
			takenRan = true
			x.RefreshGen = 99
			return nil
		})
		takenDone <- err
	}()
	waitPending(t, s, n+2)

	release()
	if err := <-leadDone; err != nil {
		t.Fatalf("leading UpdateSession: %v", err)
	}
	<-probeIn
	tcancel()
	// Every other write of the batch has run, none has committed.
	mu.Lock()
	ran := len(order)
	mu.Unlock()
	if ran != n {
		t.Fatalf("%d fns ran before the probe's, want %d: not one batch", ran, n)
	}
	for i := range n {
		if g := sessionGen(t, s, ids[i]); g != 1 {
			t.Errorf("session %d: RefreshGen = %d visible before the commit", i, g)
		}
	}
	if k := early.Load(); k != 0 {
		t.Errorf("%d callers answered before their batch committed", k)
	}
	close(probeGate)
	wg.Wait()
	if err := <-probeDone; err != nil {
		t.Errorf("probe UpdateSession: %v", err)
	}
	if err := <-takenDone; !errors.Is(err, context.Canceled) {
		t.Errorf("UpdateSession cancelled in its batch = %v, want context.Canceled", err)
	}
	if takenRan {
		t.Error("fn of a caller whose context had ended ran")
	}

	for i := range n {
		r := results[i]
		got := sessionGen(t, s, ids[i])
		if i == 1 {
			if !errors.Is(r.err, store.ErrAlreadyExists) || got != 1 {
				t.Errorf("session 1, taken token hash: UpdateSession = %v, RefreshGen %d; want ErrAlreadyExists, 1", r.err, got)
			}
			continue
		}
		if refuse[i] != nil {
			if r.err != refuse[i] {
				t.Errorf("session %d: UpdateSession = %v, want fn's error as is", i, r.err)
			}
			if got != 1 {
				t.Errorf("session %d: refused update wrote RefreshGen %d", i, got)
			}
			continue
		}
		if r.err != nil || r.sess.RefreshGen != int64(100+i) {
			t.Errorf("session %d: UpdateSession = %d, %v; want %d, nil", i, r.sess.RefreshGen, r.err, 100+i)
		}
		if got != int64(100+i) {
			t.Errorf("session %d: RefreshGen = %d, want %d", i, got, 100+i)
		}
	}
	for _, id := range []string{queuedID, takenID} {
		if g := sessionGen(t, s, id); g != 1 {
			t.Errorf("%s: cancelled update wrote RefreshGen %d", id, g)
		}
	}
	if g := sessionGen(t, s, probeID); g != 7 {
		t.Errorf("probe: RefreshGen = %d, want 7", g)
	}
}

// TestGroupCommitSameSession checks that the updates of one session in one
// batch see each other's writes, in queue order.
func TestGroupCommitSameSession(t *testing.T) {
	const n = 20
	s, ids := batchStore(t, 2)
	release, leadDone := holdLead(t, s, ids[1])
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.UpdateSession(t.Context(), ids[0], func(x *store.Session) error {
				x.RefreshGen++
				x.UserAgent += fmt.Sprintf("%d,", x.RefreshGen)
				return nil
			}); err != nil {
				t.Errorf("UpdateSession: %v", err)
			}
		})
		waitPending(t, s, i+1) // queue them one by one
	}
	release()
	wg.Wait()
	<-leadDone
	sess, err := s.SessionByID(t.Context(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for g := 2; g <= n+1; g++ {
		want += fmt.Sprintf("%d,", g)
	}
	if sess.RefreshGen != n+1 || sess.UserAgent != want {
		t.Errorf("after %d updates: RefreshGen %d, UserAgent %q; want %d, %q", n, sess.RefreshGen, sess.UserAgent, n+1, want)
	}
}

// TestGroupCommitAbort checks that a write that fails the transaction
// fails everyone in its batch, the callers whose fn refused included, and
// that nothing of the batch is written.
func TestGroupCommitAbort(t *testing.T) {
	const n = 10
	s, ids := batchStore(t, n+1)
	ctx := t.Context()
	release, leadDone := holdLead(t, s, ids[n])
	errDisk := errors.New("disk on fire")
	errRefused := errors.New("refused")
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.UpdateSession(ctx, ids[i], func(x *store.Session) error {
				if i == 0 {
					return errRefused
				}
				x.RefreshGen = 50
				return nil
			})
		})
		waitPending(t, s, i+1)
	}
	wg.Go(func() {
		errs[n] = s.write(ctx, "test abort", func(context.Context, *sql.Tx) (bool, error) { return true, errDisk })
	})
	waitPending(t, s, n+1)
	release()
	wg.Wait()
	if err := <-leadDone; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if !errors.Is(err, errDisk) {
			t.Errorf("caller %d: %v, want the batch's error", i, err)
		}
	}
	for i := range n {
		if g := sessionGen(t, s, ids[i]); g != 1 {
			t.Errorf("session %d: RefreshGen %d written by a failed batch", i, g)
		}
	}
	// The queue is free again.
	if _, err := s.UpdateSession(ctx, ids[0], func(x *store.Session) error { x.RefreshGen = 3; return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitPanic checks that a panic in fn reaches its own caller,
// not the leader, and leaves the others' writes and the queue working.
func TestGroupCommitPanic(t *testing.T) {
	s, ids := batchStore(t, 3)
	ctx := t.Context()
	release, leadDone := holdLead(t, s, ids[2])
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		s.UpdateSession(ctx, ids[0], func(*store.Session) error { panic("boom") })
	}()
	waitPending(t, s, 1)
	okDone := make(chan error, 1)
	go func() {
		_, err := s.UpdateSession(ctx, ids[1], func(x *store.Session) error { x.RefreshGen = 5; return nil })
		okDone <- err
	}()
	waitPending(t, s, 2)
	release()
	if err := <-leadDone; err != nil {
		t.Fatal(err)
	}
	if p := <-panicked; p != "boom" {
		t.Errorf("recovered %v, want boom", p)
	}
	if err := <-okDone; err != nil {
		t.Errorf("UpdateSession batched with a panic: %v", err)
	}
	if g := sessionGen(t, s, ids[1]); g != 5 {
		t.Errorf("RefreshGen = %d, want 5", g)
	}
	// A lone caller's panic.
	func() {
		defer func() {
			if p := recover(); p != "alone" {
				t.Errorf("recovered %v, want alone", p)
			}
		}()
		s.UpdateSession(ctx, ids[0], func(*store.Session) error { panic("alone") })
	}()
	if err := s.TouchSession(ctx, ids[0], time.Now(), time.Now().Add(time.Hour), "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
}

// crashChildEnv names the database the child of TestGroupCommitKill writes.
const crashChildEnv = "GATEHOUSE_SQLITE_CRASH_CHILD"

// TestGroupCommitKill checks that an answered write was committed: a child
// process rotates sessions from many goroutines and prints each rotation
// UpdateSession has answered; it is killed with SIGKILL mid-stream, and
// every printed generation must be in the database. (A process kill leaves
// the page cache, so this checks the order of commit and answer, not the
// fsync.)
func TestGroupCommitKill(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	const sessions = 16
	s, ids := batchStore(t, sessions)
	path := s.path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupCommitKill$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int64{}
	sc := bufio.NewScanner(out)
	for n := 0; n < 2000 && sc.Scan(); n++ {
		var id string
		var gen int64
		if _, err := fmt.Sscan(sc.Text(), &id, &gen); err != nil {
			t.Fatalf("child said %q: %v", sc.Text(), err)
		}
		acked[id] = max(acked[id], gen)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) == 0 {
		t.Fatal("the child answered no write")
	}
	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range ids {
		if g := sessionGen(t, s, id); g < acked[id] {
			t.Errorf("%s: RefreshGen %d after the kill, but generation %d was answered", id, g, acked[id])
		}
	}
}

// crashChild rotates every session of the database at path from its own
// goroutine, printing "id generation" after each answered rotation, until
// it is killed.
func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for i := range 16 {
		id := fmt.Sprintf("ses_%03d", i)
		wg.Go(func() {
			for {
				sess, err := s.UpdateSession(ctx, id, func(x *store.Session) error {
					x.RefreshGen++
					return nil
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(w, "%s %d\n", id, sess.RefreshGen)
				w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
