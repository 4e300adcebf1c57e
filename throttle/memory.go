package throttle

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// maxCount bounds the stored failure count. Past about 64 failures the
// delay is at its cap anyway; saturating keeps the counter from wrapping.
const maxCount = 1 << 20

// Memory is a Limiter that keeps failures in process memory. It suits a
// single server; replicas behind a load balancer each keep their own
// counts, so use a shared backend there.
//
// Memory stays bounded: keys without a failure for ForgetAfter are
// dropped, and beyond MaxKeys the key whose last failure is oldest is
// evicted. An attacker who can cause MaxKeys distinct failures can so
// flush a key early; every failure costs them a password check, and the
// default of 100000 makes that slow.
//
// It starts no goroutines: expired keys are pruned as failures arrive.
type Memory struct {
	cfg Config

	mu sync.Mutex
	// keys indexes order; order holds *entry values, least recently failed
	// at the front, so both expiry and eviction take from the front.
	keys  map[string]*list.Element
	order list.List
}

type entry struct {
	key      string
	failures int
	last     time.Time // time of the latest failure
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-memory Limiter with cfg's zero fields set
// to their defaults.
func NewMemory(cfg Config) *Memory {
	return &Memory{cfg: cfg.WithDefaults(), keys: make(map[string]*list.Element)}
}

// Wait implements Limiter.
func (m *Memory) Wait(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.keys[key]
	if !ok {
		return 0, nil
	}
	e := el.Value.(*entry)
	if m.expired(e, now) {
		m.remove(el)
		return 0, nil
	}
	return max(e.last.Add(m.cfg.Delay(e.failures)).Sub(now), 0), nil
}

// Fail implements Limiter.
func (m *Memory) Fail(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	if el, ok := m.keys[key]; ok {
		e := el.Value.(*entry)
		e.failures = min(e.failures+1, maxCount)
		e.last = now
		m.order.MoveToBack(el)
		return nil
	}
	for m.order.Len() >= m.cfg.MaxKeys {
		m.remove(m.order.Front())
	}
	m.keys[key] = m.order.PushBack(&entry{key: key, failures: 1, last: now})
	return nil
}

// Reset implements Limiter.
func (m *Memory) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.keys[key]; ok {
		m.remove(el)
	}
	return nil
}

// Len returns the number of keys held, including expired ones not yet
// pruned. It is never more than MaxKeys.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

func (m *Memory) expired(e *entry, now time.Time) bool {
	return now.Sub(e.last) >= m.cfg.ForgetAfter
}

// prune drops expired keys from the front. The list is in order of the
// latest failure, so it stops at the first live key; each key is pruned
// once, so the cost is amortised over the failures that created them.
// (If the clock steps back the order is only approximate, which delays
// pruning but never drops a live key.)
func (m *Memory) prune(now time.Time) {
	for el := m.order.Front(); el != nil && m.expired(el.Value.(*entry), now); el = m.order.Front() {
		m.remove(el)
	}
}

func (m *Memory) remove(el *list.Element) {
	delete(m.keys, el.Value.(*entry).key)
	m.order.Remove(el)
}
