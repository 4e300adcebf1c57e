package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
)

// Group commit. A commit costs an fsync (synchronous=FULL) and SQLite
// admits one writer at a time, so writes one transaction each are bounded
// by the fsync latency whatever the core count. The session writes of the
// refresh path (UpdateSession, TouchSession) therefore go through a queue:
// the first caller to find no batch in flight leads, taking the queued
// writes (up to maxBatch) into one transaction with one fsync, and hands
// the lead to the first caller still queued when it is done. Writes that
// arrive while a batch commits make up the next one; a lone caller finds
// the queue empty and leads a batch of one at once, so no one waits for a
// batch to fill. No goroutine of its own: leaders are callers.
//
// Each caller gets its result only after the COMMIT succeeded; if the
// transaction fails, every caller in it gets the error, including one whose
// callback refused (its decision rested on the uncommitted writes before
// it). A caller whose context ends while it is queued leaves the queue
// with the context's error; one already taken into a batch waits for it.

// maxBatch caps the writes in one transaction, and so the time the write
// lock is held and the wait of the last caller in a batch.
const maxBatch = 64

// A writeOp is one caller's work inside a batch's transaction. err is the
// caller's result, ready to return. abort says that the transaction itself
// failed (an I/O error, say, rather than "not found", a constraint or the
// callback's refusal), after which the batch is rolled back: SQLite may
// already have rolled it back, and statements run after that would each
// commit on their own.
//
// A writeOp writes at most one statement and only after every check that
// can refuse, so a refusal or a failed statement (SQLite undoes a failed
// statement's own changes) leaves nothing of it in the transaction; one
// that writes more than once must wrap its writes in a SAVEPOINT.
type writeOp func(ctx context.Context, tx *sql.Tx) (abort bool, err error)

// writeReq is one queued write. state is guarded by writeQueue.mu until
// wake is closed; the results are written by the leader before it closes
// wake and read by the caller after.
type writeReq struct {
	ctx   context.Context
	what  string // "update session \"ses_…\"", for errors
	op    writeOp
	state reqState
	wake  chan struct{} // closed when the caller is to lead, or is done

	err      error
	skipped  bool // its context ended before its turn
	panicked bool
	panicVal any // the op's panic, re-raised in the caller's goroutine
}

type reqState uint8

const (
	reqQueued reqState = iota // in pending
	reqLead                   // in pending, first, and to lead the next batch
	reqTaken                  // in a batch in flight
	reqDone                   // results set
)

// writeQueue is the group-commit queue. busy is true while some caller
// leads or has been told to; when it is false, pending is empty.
type writeQueue struct {
	mu      sync.Mutex
	pending []*writeReq
	busy    bool
}

// write runs op in a group-commit batch and returns its result once the
// batch has committed (or failed). what names the operation for errors.
func (s *Store) write(ctx context.Context, what string, op writeOp) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	r := &writeReq{ctx: ctx, what: what, op: op, wake: make(chan struct{})}
	q := &s.writes
	q.mu.Lock()
	q.pending = append(q.pending, r)
	lead := !q.busy
	if lead {
		q.busy = true
		r.state = reqLead
	}
	q.mu.Unlock()
	if !lead {
		select {
		case <-r.wake:
		case <-ctx.Done():
			q.mu.Lock()
			if r.state == reqQueued {
				q.pending = slices.DeleteFunc(q.pending, func(x *writeReq) bool { return x == r })
				q.mu.Unlock()
				return fmt.Errorf("sqlite: %s: %w", what, ctx.Err())
			}
			q.mu.Unlock()
			// Taken into a batch, whose outcome is the answer, or told to
			// lead, which must be done for the callers behind.
			<-r.wake
		}
	}
	if r.state == reqLead {
		s.lead(r)
	}
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

// lead runs one batch, led by r (the first pending request), then passes
// the lead to the next pending request or, if there is none, clears busy.
func (s *Store) lead(r *writeReq) {
	q := &s.writes
	q.mu.Lock()
	n := min(len(q.pending), maxBatch)
	batch := slices.Clone(q.pending[:n])
	rest := copy(q.pending, q.pending[n:])
	clear(q.pending[rest:])
	q.pending = q.pending[:rest]
	for _, x := range batch {
		x.state = reqTaken
	}
	q.mu.Unlock()

	s.runBatch(batch)

	q.mu.Lock()
	for _, x := range batch {
		x.state = reqDone
		if x != r { // r's wake is closed already if it was told to lead
			close(x.wake)
		}
	}
	if len(q.pending) > 0 {
		next := q.pending[0]
		next.state = reqLead
		close(next.wake)
	} else {
		q.busy = false
	}
	q.mu.Unlock()
}

// runBatch runs the batch's ops in order in one transaction and sets each
// request's result. The transaction does not end with the leader's
// context, which would fail everyone else's writes: a SQLite interrupt
// inside an explicit transaction can roll back all of it. Its length is
// bounded by busy_timeout and maxBatch instead.
func (s *Store) runBatch(batch []*writeReq) {
	ctx := context.WithoutCancel(batch[0].ctx)
	var aborted *writeReq
	err := func() (err error) {
		// A panic outside the ops (the driver's Begin or Commit) must not
		// leave the queue busy and every waiter blocked: it fails the batch.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic in the batch transaction: %v", p)
			}
		}()
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer rollback(tx)
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				// Its turn came after its caller gave up: skip it.
				r.err, r.skipped = fmt.Errorf("sqlite: %s: %w", r.what, err), true
				continue
			}
			if r.exec(ctx, tx) {
				aborted = r
				return fmt.Errorf("transaction rolled back: %w", r.err)
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		for _, r := range batch {
			if !r.skipped && r != aborted {
				r.err = fmt.Errorf("sqlite: %s: %w", r.what, err)
			}
		}
	}
}

// exec runs r's op, turning a panic (from UpdateSession's callback) into a
// refusal re-raised later in r's own goroutine, so that the batch still
// ends and its other callers are answered. It reports whether the op
// aborted the transaction.
func (r *writeReq) exec(ctx context.Context, tx *sql.Tx) (abort bool) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked, r.panicVal = true, p
			r.err, abort = nil, false
		}
	}()
	abort, r.err = r.op(ctx, tx)
	return abort
}
