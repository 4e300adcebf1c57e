// Package password hashes and verifies user passwords with argon2id, checks
// new passwords against a NIST SP 800-63B policy, and bounds how much
// hashing runs at once so a login flood cannot exhaust memory or CPU.
//
// Hashes are stored as standard PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>). Bcrypt hashes imported
// from other systems verify too and are reported as needing a rehash.
// Passwords are NFKC-normalised before hashing and verifying, so the same
// password typed with different Unicode compositions matches.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// ErrBusy is returned, without any hashing done, when the hasher is
// saturated: the wait queue was full, the queue ahead of the caller would
// take longer than QueueTimeout to drain, no slot freed up within
// QueueTimeout after all, or the caller's context ended while waiting.
// HTTP handlers answer 429 Too Many Requests with a Retry-After header.
var ErrBusy = errors.New("password: hasher busy, try again later")

// maxBcryptCost bounds the bcrypt work factor accepted from a stored hash.
// Cost 31 would take days; 14 is about a second and above what real
// deployments use.
const maxBcryptCost = 14

// DefaultQueuePerSlot is the default MaxQueue per MaxConcurrent slot. At
// about 25–30 ms per hash with DefaultParams, 48 waiters take 1.2–1.5 s to
// get through a slot: a burst of sign-ins waits its turn within the default
// 2 s QueueTimeout rather than being refused, with headroom for hashes that
// slow down under load. This cap is the only bound before the first hash
// has been timed, i.e. for the first burst after start; afterwards the
// expected wait usually binds first (see MaxQueue).
const DefaultQueuePerSlot = 48

// Config configures a Hasher. Zero values select the defaults.
type Config struct {
	// Params are the argon2id parameters for new hashes. Zero fields are
	// filled from DefaultParams.
	Params Params
	// MaxConcurrent is how many hashes may run at once. Default
	// runtime.GOMAXPROCS(0).
	MaxConcurrent int
	// MaxQueue is how many callers may wait for a slot beyond the running
	// ones; more are refused with ErrBusy at once. A waiting caller holds
	// a goroutine and its request, not hashing memory. Default
	// DefaultQueuePerSlot*MaxConcurrent; a negative value means no waiting
	// at all.
	//
	// Within that bound, a caller is also refused at once when the callers
	// ahead of it would keep it waiting longer than 3/4 of QueueTimeout
	// (the rest is headroom for hashes that slow down meanwhile), judged
	// from a moving average of recent hash times: it would likely time out
	// later, having held its connection for nothing. So under a flood the
	// queue is at most about 3/4*MaxConcurrent*QueueTimeout/(time per hash)
	// long, whatever the parameters and the machine.
	MaxQueue int
	// QueueTimeout is the longest a caller waits for a slot before
	// ErrBusy. Default 2s.
	QueueTimeout time.Duration
}

// Stats is a snapshot of a Hasher's pool, for metrics.
type Stats struct {
	// Running is the number of hashes in progress.
	Running int
	// Waiting is the number of callers queued for a slot.
	Waiting int
	// Admitted is the cumulative number of callers given a slot.
	Admitted uint64
	// Rejected is the cumulative number of callers refused with ErrBusy.
	Rejected uint64
	// WaitTime is the cumulative time callers spent queued, whether they
	// were then admitted or rejected.
	WaitTime time.Duration
	// HoldTime is the moving average of how long a caller holds a slot,
	// i.e. the time per hash under the current load; zero until the first
	// hash ends.
	HoldTime time.Duration
}

// Hasher hashes and verifies passwords through a bounded pool. It is safe
// for concurrent use; create it with NewHasher. It starts no goroutines.
type Hasher struct {
	params       Params
	maxQueue     int
	queueTimeout time.Duration
	// slots is a counting semaphore: a send takes a slot, a receive frees it.
	slots chan struct{}

	running, waiting   atomic.Int64
	admitted, rejected atomic.Uint64
	waitNanos          atomic.Int64
	// holdNanos is an exponentially weighted moving average of slot hold
	// times, which acquire uses to refuse at once a caller that could not
	// get a slot within queueTimeout.
	holdNanos atomic.Int64

	// dummySalt feeds VerifyDummy; random per Hasher so the dummy result
	// cannot be precomputed, though nothing depends on that.
	dummySalt []byte

	// beforeWork, if set, runs while a slot is held, before hashing. Tests
	// use it to hold a slot deterministically.
	beforeWork func()
}

// NewHasher returns a Hasher with cfg's zero fields set to their defaults.
// Invalid Params are not reported here but by every Hash call; check them
// at startup with Params.Validate.
func NewHasher(cfg Config) *Hasher {
	def := DefaultParams()
	p := cfg.Params
	if p.Memory == 0 {
		p.Memory = def.Memory
	}
	if p.Iterations == 0 {
		p.Iterations = def.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = def.Parallelism
	}
	if p.SaltLength == 0 {
		p.SaltLength = def.SaltLength
	}
	if p.KeyLength == 0 {
		p.KeyLength = def.KeyLength
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	switch {
	case cfg.MaxQueue == 0:
		cfg.MaxQueue = DefaultQueuePerSlot * cfg.MaxConcurrent
	case cfg.MaxQueue < 0:
		cfg.MaxQueue = 0
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = 2 * time.Second
	}
	salt := make([]byte, maxSaltLength)
	rand.Read(salt) // never fails since Go 1.24; it crashes the program instead
	return &Hasher{
		params:       p,
		maxQueue:     cfg.MaxQueue,
		queueTimeout: cfg.QueueTimeout,
		slots:        make(chan struct{}, cfg.MaxConcurrent),
		dummySalt:    salt,
	}
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of the NFKC-normalised password under a fresh
// random salt. It returns ErrBusy if no slot is free in time.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.params.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, h.params.SaltLength)
	rand.Read(salt)
	start, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer h.release(start)
	key := argonKey(normalize(password), salt, h.params)
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches the encoded hash, which may be an
// argon2id PHC string or a bcrypt hash ($2a$, $2b$, $2y$). needsRehash is
// true only when ok is true and the hash is bcrypt or argon2id with
// parameters other than the Hasher's: the caller should then Hash the
// password again and store the result.
//
// A malformed hash, or one whose cost exceeds the accepted limits, returns
// an error wrapping ErrInvalidHash without any hashing. A saturated pool
// returns ErrBusy.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	if isBcrypt(encoded) {
		return h.verifyBcrypt(ctx, password, encoded)
	}
	stored, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	start, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer h.release(start)
	key := argonKey(normalize(password), stored.salt, stored.params)
	if subtle.ConstantTimeCompare(key, stored.key) != 1 {
		return false, false, nil
	}
	return true, stored.params != h.params, nil
}

// VerifyDummy does the work of a Verify against a hash made with the
// Hasher's parameters and discards the result. Call it when the user does
// not exist so that unknown and known users take the same time to refuse.
// Its only error is ErrBusy (possibly wrapping the context's error), which
// the caller should answer the same way as for a real Verify.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if err := h.params.Validate(); err != nil {
		return err
	}
	start, err := h.acquire(ctx)
	if err != nil {
		return err
	}
	defer h.release(start)
	key := argonKey(normalize(password), h.dummySalt[:h.params.SaltLength], h.params)
	// Compare against a key that cannot match, as Verify would compare
	// against the stored one.
	subtle.ConstantTimeCompare(key, make([]byte, len(key)+1))
	return nil
}

// Stats returns a snapshot of the pool counters.
func (h *Hasher) Stats() Stats {
	return Stats{
		Running:  int(h.running.Load()),
		Waiting:  int(h.waiting.Load()),
		Admitted: h.admitted.Load(),
		Rejected: h.rejected.Load(),
		WaitTime: time.Duration(h.waitNanos.Load()),
		HoldTime: time.Duration(h.holdNanos.Load()),
	}
}

// verifyBcrypt checks a legacy bcrypt hash. Imported hashes were made by
// systems that did not normalise, so if the NFKC form does not match, the
// password as typed is tried too.
func (h *Hasher) verifyBcrypt(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	// Checking the cost first keeps a hostile $2b$31$ out of the pool.
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil {
		return false, false, fmt.Errorf("%w: bcrypt: %v", ErrInvalidHash, err)
	}
	if cost > maxBcryptCost {
		return false, false, fmt.Errorf("%w: bcrypt cost %d above %d", ErrInvalidHash, cost, maxBcryptCost)
	}
	start, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer h.release(start)
	candidates := []string{normalize(password)}
	if candidates[0] != password {
		candidates = append(candidates, password)
	}
	for _, c := range candidates {
		// bcrypt reads at most 72 bytes of the password, as every
		// implementation does; the rehash to argon2id lifts that limit.
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(c))
		switch {
		case err == nil:
			return true, true, nil
		case !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, fmt.Errorf("%w: bcrypt: %v", ErrInvalidHash, err)
		}
	}
	return false, false, nil
}

// isBcrypt reports whether s looks like a modular-crypt bcrypt hash. The
// length is fixed at 60; x/crypto/bcrypt would accept trailing bytes and
// then never match.
func isBcrypt(s string) bool {
	return len(s) == 60 &&
		(strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"))
}

// acquire takes a pool slot, waiting at most queueTimeout and only if the
// queue has room and is short enough to be served in that time. It returns
// when the slot was taken, for release. Every failure is ErrBusy so callers
// need one check.
func (h *Hasher) acquire(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		h.rejected.Add(1)
		return time.Time{}, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	select {
	case h.slots <- struct{}{}:
		return h.admit(), nil
	default:
	}
	pos := h.waiting.Add(1)
	if pos > int64(h.maxQueue) || h.expectedWait(pos) > h.queueTimeout/4*3 {
		h.waiting.Add(-1)
		h.rejected.Add(1)
		return time.Time{}, ErrBusy
	}
	start := time.Now()
	timer := time.NewTimer(h.queueTimeout)
	defer timer.Stop()
	var err error
	select {
	case h.slots <- struct{}{}:
	case <-timer.C:
		err = ErrBusy
	case <-ctx.Done():
		err = fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
	h.waiting.Add(-1)
	h.waitNanos.Add(int64(time.Since(start)))
	if err != nil {
		h.rejected.Add(1)
		return time.Time{}, err
	}
	return h.admit(), nil
}

// Saturated reports whether a hash asked for now would be refused at
// once (every slot taken and the queue as long as can be served in time),
// counting it as a refusal when so. A caller checks it before the work
// that only leads up to a hash (a user lookup, say), so that a flood is
// turned away for the price of this check.
func (h *Hasher) Saturated() bool {
	if len(h.slots) < cap(h.slots) {
		return false
	}
	pos := h.waiting.Load() + 1
	if pos > int64(h.maxQueue) || h.expectedWait(pos) > h.queueTimeout/4*3 {
		h.rejected.Add(1)
		return true
	}
	return false
}

// expectedWait estimates how long the caller at queue position pos (from
// 1) waits for a slot: pos slots must free up, cap(slots) at a time, each
// after about one average hold. Waiters are served in order, as a channel
// wakes blocked senders first in, first out. Before any hash has ended
// there is no estimate and only MaxQueue bounds the queue.
func (h *Hasher) expectedWait(pos int64) time.Duration {
	return time.Duration(pos * h.holdNanos.Load() / int64(cap(h.slots)))
}

func (h *Hasher) admit() time.Time {
	h.running.Add(1)
	h.admitted.Add(1)
	start := time.Now()
	if h.beforeWork != nil {
		h.beforeWork()
	}
	return start
}

// release frees the slot taken at start and folds the hold time into the
// moving average (weight 1/8: a few dozen hashes to follow a change of
// load or parameters, without jumping at one slow hash).
func (h *Hasher) release(start time.Time) {
	d := int64(time.Since(start))
	for {
		old := h.holdNanos.Load()
		next := d
		if old != 0 {
			next = old + (d-old)/8
		}
		if h.holdNanos.CompareAndSwap(old, next) {
			break
		}
	}
	h.running.Add(-1)
	<-h.slots
}

// normalize applies NFKC, as NIST SP 800-63B 5.1.1.2 suggests, so that
// e.g. the ligature "ﬁ" and the letters "fi" are the same password.
func normalize(password string) string {
	return norm.NFKC.String(password)
}

func argonKey(password string, salt []byte, p Params) []byte {
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
}
