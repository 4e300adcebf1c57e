// Package keys manages gatehouse's token-signing keys: it creates the first
// key on first start, seals private keys with the server secret before they
// reach the store, builds the token.KeySet every verification uses, rotates
// keys on demand or on a schedule, and keeps retired keys verifying until
// the last token they signed has expired.
package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/token"
)

// Config says which keys to make and how long they live.
type Config struct {
	// Alg is the algorithm of new keys; "" means token.DefaultAlg (EdDSA).
	// When the newest key has another algorithm, Load rotates to this one.
	Alg token.Alg
	// RotateEvery rotates the signing key once it is this old; 0 never
	// rotates automatically.
	RotateEvery time.Duration
	// VerifyFor is how long a retired key keeps verifying: the longest
	// access-token lifetime plus clock leeway.
	VerifyFor time.Duration
	// ReloadEvery is how often Run re-reads the store, to pick up keys
	// rotated by another instance or by `gatehouse keys rotate`.
	ReloadEvery time.Duration
	Now         func() time.Time
}

// Manager holds the current key set. KeySet is safe for concurrent use and
// costs one atomic load.
type Manager struct {
	cfg    Config
	store  store.Keys
	secret []byte
	log    *slog.Logger
	mu     sync.Mutex // serialises Load and Rotate
	set    atomic.Pointer[token.KeySet]
	// signingSince is when the current signing key was made (under mu).
	signingSince time.Time
}

// New returns a Manager; call Load before use.
func New(cfg Config, st store.Keys, secret []byte, log *slog.Logger) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = 30 * time.Second
	}
	if cfg.Alg == "" {
		cfg.Alg = token.DefaultAlg
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, store: st, secret: secret, log: log}
}

// KeySet is the key set to sign and verify with (nil before Load).
func (m *Manager) KeySet() *token.KeySet { return m.set.Load() }

// Info describes a key for `gatehouse keys list` and the admin API.
type Info struct {
	ID        string    `json:"id"`
	Alg       string    `json:"alg"`
	CreatedAt time.Time `json:"created_at"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	// State is "signing", "verifying" (retired, still in the JWKS) or
	// "expired" (retired long enough that no token it signed is valid).
	State string `json:"state"`
}

// ErrUnseal means a stored key cannot be decrypted: almost always a server
// secret that is not the one the store was made with.
var ErrUnseal = errors.New("keys: cannot decrypt a signing key; is the secret file the one this store was created with?")

// Load reads the keys from the store and builds the key set. It makes the
// first key when there is none and rotates when the newest key's algorithm
// is not the configured one. It also deletes keys that can verify nothing.
func (m *Manager) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.load(ctx)
}

func (m *Manager) load(ctx context.Context) error {
	now := m.cfg.Now()
	recs, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	signing := newestActive(recs)
	if signing == nil || signing.Alg != string(m.cfg.Alg) {
		if _, err := m.create(ctx, now); err != nil {
			return err
		}
		if recs, err = m.store.ListKeys(ctx); err != nil {
			return fmt.Errorf("list signing keys: %w", err)
		}
		signing = newestActive(recs)
	}
	var sk *token.Key
	var verify []*token.Key
	for _, r := range recs {
		if r.ID != signing.ID && !r.RetiredAt.IsZero() && !now.Before(r.RetiredAt.Add(m.cfg.VerifyFor)) {
			// Retired long enough ago that every token it signed has
			// expired: it leaves the JWKS and the store.
			if err := m.store.DeleteKey(ctx, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				m.log.WarnContext(ctx, "deleting expired signing key failed", "kid", r.ID, "err", err)
			}
			continue
		}
		k, err := m.unseal(r)
		if err != nil {
			return err
		}
		if r.ID == signing.ID {
			sk = k
		} else {
			verify = append(verify, k)
		}
	}
	ks, err := token.NewKeySet(sk, verify...)
	if err != nil {
		return fmt.Errorf("build key set: %w", err)
	}
	m.set.Store(ks)
	m.signingSince = signing.CreatedAt
	return nil
}

// newestActive is the key that signs: the newest one not retired. Every
// instance picks the same one, even when two made a key at once.
func newestActive(recs []store.SigningKey) *store.SigningKey {
	var best *store.SigningKey
	for i := range recs {
		r := &recs[i]
		if !r.RetiredAt.IsZero() {
			continue
		}
		if best == nil || r.CreatedAt.After(best.CreatedAt) || (r.CreatedAt.Equal(best.CreatedAt) && r.ID > best.ID) {
			best = r
		}
	}
	return best
}

func (m *Manager) unseal(r store.SigningKey) (*token.Key, error) {
	der, err := token.Open(m.secret, r.ID, r.Sealed)
	if err != nil {
		return nil, fmt.Errorf("%w (key %s: %v)", ErrUnseal, r.ID, err)
	}
	alg, err := token.ParseAlg(r.Alg)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.ID, err)
	}
	k, err := token.ParsePrivate(alg, r.ID, der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.ID, err)
	}
	k.CreatedAt = r.CreatedAt
	return k, nil
}

// create makes, seals and stores a new key, and retires every other key.
func (m *Manager) create(ctx context.Context, now time.Time) (store.SigningKey, error) {
	k, err := token.GenerateKey(m.cfg.Alg, now)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := k.MarshalPrivate()
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, err := token.Seal(m.secret, k.ID, der)
	if err != nil {
		return store.SigningKey{}, err
	}
	// The new key must be the newest, even if the clock is coarse or a key
	// was made in this same millisecond: newestActive decides by CreatedAt.
	created := now.UTC().Truncate(time.Millisecond)
	existing, err := m.store.ListKeys(ctx)
	if err != nil {
		return store.SigningKey{}, err
	}
	for _, r := range existing {
		if !created.After(r.CreatedAt) {
			created = r.CreatedAt.Add(time.Millisecond)
		}
	}
	rec := store.SigningKey{ID: k.ID, Alg: string(k.Alg), Sealed: sealed, CreatedAt: created}
	if err := m.store.CreateKey(ctx, rec); err != nil {
		return store.SigningKey{}, fmt.Errorf("store signing key: %w", err)
	}
	// Retire all but the newest active key, which is rec unless another
	// instance made one at the same moment; then both agree on the winner.
	recs, err := m.store.ListKeys(ctx)
	if err != nil {
		return rec, err
	}
	if err := m.store.RetireKeys(ctx, newestActive(recs).ID, now); err != nil {
		return rec, fmt.Errorf("retire old signing keys: %w", err)
	}
	m.log.InfoContext(ctx, "new signing key", "kid", rec.ID, "alg", rec.Alg)
	return rec, nil
}

// Rotate makes a new signing key now. Tokens signed by the previous key
// keep verifying until they expire.
func (m *Manager) Rotate(ctx context.Context) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, err := m.create(ctx, m.cfg.Now())
	if err != nil {
		return Info{}, err
	}
	if err := m.load(ctx); err != nil {
		return Info{}, err
	}
	return Info{ID: rec.ID, Alg: rec.Alg, CreatedAt: rec.CreatedAt, State: "signing"}, nil
}

// List describes every stored key, newest first.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	recs, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	signing := newestActive(recs)
	out := make([]Info, 0, len(recs))
	for _, r := range recs {
		state := "verifying"
		switch {
		case signing != nil && r.ID == signing.ID:
			state = "signing"
		case !r.RetiredAt.IsZero() && !now.Before(r.RetiredAt.Add(m.cfg.VerifyFor)):
			state = "expired"
		}
		out = append(out, Info{ID: r.ID, Alg: r.Alg, CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, State: state})
	}
	slices.SortFunc(out, func(a, b Info) int { return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID)) })
	return out, nil
}

// Run reloads the keys every ReloadEvery and rotates the signing key when
// it is older than RotateEvery, until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "signing key reload failed", "err", err)
		}
	}
}

// Tick is one round of Run: reload, then rotate if the signing key is due.
func (m *Manager) Tick(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.load(ctx); err != nil {
		return err
	}
	now := m.cfg.Now()
	if m.cfg.RotateEvery <= 0 || now.Before(m.signingSince.Add(m.cfg.RotateEvery)) {
		return nil
	}
	if _, err := m.create(ctx, now); err != nil {
		return err
	}
	return m.load(ctx)
}
