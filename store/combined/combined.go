// Package combined joins a durable store and a hot one into one
// store.Store: users, keys and the audit log go to the durable store (SQL),
// sessions and revocations to the hot one (Redis, package store/redis).
// This is the "--store postgres://… --cache redis://…" deployment.
package combined

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

var (
	_ store.Store             = (*Store)(nil)
	_ store.RevocationWatcher = (*watchingStore)(nil)
)

// Hot is what the hot store must offer: sessions and revocations, and a
// lifetime. A Hot that also implements store.RevocationWatcher makes the
// combined store one. *redis.Hot is the production implementation.
type Hot interface {
	store.Sessions
	store.Revocations
	Ping(ctx context.Context) error
	Close() error
}

// Store routes each concern to the store that keeps it. The durable
// store's own sessions and revocations, if it has any, are not used.
type Store struct {
	// From the durable store.
	store.Users
	store.Keys
	store.Audit
	// From the hot store.
	store.Sessions
	store.Revocations

	durable store.Store
	hot     Hot
}

// watchingStore is a Store whose hot store pushes revocations.
type watchingStore struct {
	*Store
	watcher store.RevocationWatcher
}

// New returns a store.Store that keeps users, keys and audit in durable
// and sessions and revocations in hot. It implements
// store.RevocationWatcher exactly when hot does. A nil hot returns durable
// itself, so that the cache stays optional in configuration.
//
// The combined store owns both: Close closes both.
func New(durable store.Store, hot Hot) store.Store {
	if hot == nil {
		return durable
	}
	s := &Store{
		Users:       durable,
		Keys:        durable,
		Audit:       durable,
		Sessions:    hot,
		Revocations: hot,
		durable:     durable,
		hot:         hot,
	}
	if w, ok := hot.(store.RevocationWatcher); ok {
		return &watchingStore{Store: s, watcher: w}
	}
	return s
}

// Durable returns the durable store, for what only it offers (migrations,
// say).
func (s *Store) Durable() store.Store { return s.durable }

// Hot returns the hot store.
func (s *Store) Hot() Hot { return s.hot }

// Ping checks both stores, reporting every one that fails.
func (s *Store) Ping(ctx context.Context) error {
	return errors.Join(s.durable.Ping(ctx), s.hot.Ping(ctx))
}

// Close closes both stores, the hot one first, and reports every failure.
func (s *Store) Close() error {
	return errors.Join(s.hot.Close(), s.durable.Close())
}

// WatchRevocations implements store.RevocationWatcher with the hot
// store's feed.
func (s *watchingStore) WatchRevocations(ctx context.Context, notify func()) error {
	return s.watcher.WatchRevocations(ctx, notify)
}

// errNoRoles is returned when the durable store cannot keep roles.
var errNoRoles = errors.New("combined: the durable store does not keep role definitions")

// PutRole implements store.RoleStore on the durable store.
func (s *Store) PutRole(ctx context.Context, r store.Role) error {
	if rs, ok := s.durable.(store.RoleStore); ok {
		return rs.PutRole(ctx, r)
	}
	return errNoRoles
}

// DeleteRole implements store.RoleStore on the durable store.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	if rs, ok := s.durable.(store.RoleStore); ok {
		return rs.DeleteRole(ctx, name)
	}
	return errNoRoles
}

// ListRoles implements store.RoleStore on the durable store.
func (s *Store) ListRoles(ctx context.Context) ([]store.Role, error) {
	if rs, ok := s.durable.(store.RoleStore); ok {
		return rs.ListRoles(ctx)
	}
	return nil, nil
}

// Checks pings each store on its own, for /readyz.
func (s *Store) Checks(ctx context.Context) map[string]error {
	return map[string]error{"durable": s.durable.Ping(ctx), "cache": s.hot.Ping(ctx)}
}

var errNoResets = errors.New("combined: the durable store does not keep reset tokens")

// CreateResetToken implements store.ResetTokenStore on the durable store.
func (s *Store) CreateResetToken(ctx context.Context, t store.ResetToken) error {
	if rs, ok := s.durable.(store.ResetTokenStore); ok {
		return rs.CreateResetToken(ctx, t)
	}
	return errNoResets
}

// ConsumeResetToken implements store.ResetTokenStore on the durable store.
func (s *Store) ConsumeResetToken(ctx context.Context, hash []byte) (store.ResetToken, error) {
	if rs, ok := s.durable.(store.ResetTokenStore); ok {
		return rs.ConsumeResetToken(ctx, hash)
	}
	return store.ResetToken{}, errNoResets
}

// DeleteUserResetTokens implements store.ResetTokenStore on the durable store.
func (s *Store) DeleteUserResetTokens(ctx context.Context, userID string) error {
	if rs, ok := s.durable.(store.ResetTokenStore); ok {
		return rs.DeleteUserResetTokens(ctx, userID)
	}
	return errNoResets
}

// CountSessions implements store.SessionCounter on the hot store.
func (s *Store) CountSessions(ctx context.Context, now time.Time) (int, error) {
	if c, ok := s.hot.(store.SessionCounter); ok {
		return c.CountSessions(ctx, now)
	}
	return 0, errors.New("combined: the cache cannot count sessions")
}
