package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// RunResetTokens runs the ResetTokenStore conformance tests. s must also
// hold users (reset tokens may reference them by foreign key).
func RunResetTokens(t *testing.T, s store.Store) {
	rs, ok := s.(store.ResetTokenStore)
	if !ok {
		t.Fatal("store does not implement store.ResetTokenStore")
	}
	ctx := context.Background()
	u := store.User{ID: newID(t, "usr"), Email: newID(t, "reset") + "@example.com", PasswordHash: "x", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	mk := func() []byte {
		var b [32]byte
		rand.Read(b[:])
		h := sha256.Sum256(b[:])
		return h[:]
	}
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	h := mk()
	if err := rs.CreateResetToken(ctx, store.ResetToken{TokenHash: h, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := rs.CreateResetToken(ctx, store.ResetToken{TokenHash: h, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	// Consumed once, concurrently: exactly one winner.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 16 {
		wg.Go(func() {
			got, err := rs.ConsumeResetToken(ctx, h)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
				if got.UserID != u.ID || !got.ExpiresAt.Equal(t0.Add(30*time.Minute)) || !got.CreatedAt.Equal(t0) {
					t.Errorf("consumed token: %+v", got)
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("consume: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d goroutines consumed one token", wins)
	}
	h2, h3 := mk(), mk()
	for _, x := range [][]byte{h2, h3} {
		if err := rs.CreateResetToken(ctx, store.ResetToken{TokenHash: x, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs.DeleteUserResetTokens(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.ConsumeResetToken(ctx, h2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token survived DeleteUserResetTokens: %v", err)
	}
}
