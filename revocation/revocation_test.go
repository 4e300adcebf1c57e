package revocation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/revocation"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/memory"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestCheck(t *testing.T) {
	s := revocation.NewSet(0)
	s.Apply(t0, []store.Revocation{
		{Seq: 1, Kind: store.RevokeSession, Key: "ses_a", ExpiresAt: t0.Add(10 * time.Minute)},
		{Seq: 2, Kind: store.RevokeToken, Key: "jti_b", ExpiresAt: t0.Add(10 * time.Minute)},
		{Seq: 3, Kind: store.RevokeUser, Key: "usr_c", NotBefore: t0, ExpiresAt: t0.Add(10 * time.Minute)},
		{Seq: 4, Kind: store.RevokeSession, Key: "ses_old", ExpiresAt: t0.Add(-time.Second)},
	})
	cases := []struct {
		name           string
		sid, jti, user string
		iat            time.Time
		at             time.Time
		revoked        bool
	}{
		{"revoked session", "ses_a", "j1", "usr_x", t0, t0, true},
		{"revoked token", "ses_x", "jti_b", "usr_x", t0, t0, true},
		{"user token issued before not-before", "ses_x", "j2", "usr_c", t0.Add(-time.Second), t0, true},
		{"user token issued at not-before", "ses_x", "j3", "usr_c", t0, t0, false},
		{"user token issued after", "ses_x", "j4", "usr_c", t0.Add(time.Minute), t0, false},
		{"other session", "ses_z", "j5", "usr_x", t0, t0, false},
		{"already-expired entry never applied", "ses_old", "j6", "usr_x", t0, t0, false},
		{"entry past its expiry", "ses_a", "j7", "usr_x", t0, t0.Add(11 * time.Minute), false},
	}
	for _, c := range cases {
		err := s.Check(c.at, c.sid, c.jti, c.user, c.iat)
		if c.revoked != errors.Is(err, revocation.ErrRevoked) {
			t.Errorf("%s: got %v, revoked=%v", c.name, err, c.revoked)
		}
	}
	if s.Len() != 3 {
		t.Fatalf("Len %d, want 3", s.Len())
	}
	s.Prune(t0.Add(11 * time.Minute))
	if s.Len() != 0 {
		t.Fatalf("Len after prune %d, want 0", s.Len())
	}
}

func TestStaleListFailsClosed(t *testing.T) {
	s := revocation.NewSet(5 * time.Second)
	// Never synced: stale.
	if err := s.Check(t0, "ses_a", "j", "u", t0); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("unsynced list: %v", err)
	}
}

func TestFeedSyncsIncrementallyAndRecovers(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	now := t0
	set := revocation.NewSet(30 * time.Second)
	feed := &revocation.Feed{Store: st, Set: set, Now: func() time.Time { return now }}
	if _, err := st.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeSession, Key: "ses_1", ExpiresAt: now.Add(time.Hour), CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	if err := feed.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := set.Check(now, "ses_1", "", "", now); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("first sync: %v", err)
	}
	if _, err := st.AddRevocations(ctx, []store.Revocation{{Kind: store.RevokeSession, Key: "ses_2", ExpiresAt: now.Add(time.Hour), CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	if err := set.Check(now, "ses_2", "", "", now); err != nil {
		t.Fatalf("not yet synced, yet: %v", err)
	}
	if err := feed.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := set.Check(now, "ses_2", "", "", now); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("second sync: %v", err)
	}
	// The feed goes quiet past the bound: fail closed; a sync restores it.
	now = now.Add(31 * time.Second)
	if err := set.Check(now, "ses_other", "", "", now); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("stale: %v", err)
	}
	if err := feed.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := set.Check(now, "ses_other", "", "", now); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// Invalidation marks make cached records loaded before them stale, leave
// those loaded after alone, revoke no token, and are pruned at expiry.
func TestCheckCached(t *testing.T) {
	s := revocation.NewSet(0)
	loaded := s.Generation()
	s.Apply(t0, []store.Revocation{
		{Seq: 1, Kind: store.UserChanged, Key: "usr_a", ExpiresAt: t0.Add(5 * time.Minute)},
		{Seq: 2, Kind: store.SessionChanged, Key: "ses_b", ExpiresAt: t0.Add(5 * time.Minute)},
		{Seq: 3, Kind: store.RevokeSession, Key: "ses_c", ExpiresAt: t0.Add(10 * time.Minute)},
	})
	after := s.Generation()
	if after == loaded {
		t.Fatal("generation did not move on invalidations")
	}
	cases := []struct {
		sid, user string
		gen       uint64
		want      error
	}{
		{"ses_x", "usr_a", loaded, revocation.ErrChanged},
		{"ses_x", "usr_a", after, nil},
		{"ses_b", "usr_x", loaded, revocation.ErrChanged},
		{"ses_b", "usr_x", after, nil},
		{"ses_c", "usr_x", after, revocation.ErrRevoked},
		{"ses_x", "usr_x", loaded, nil},
	}
	for _, c := range cases {
		if err := s.CheckCached(t0, c.sid, c.user, c.gen); !errors.Is(err, c.want) {
			t.Errorf("CheckCached(%s, %s, gen %d) = %v, want %v", c.sid, c.user, c.gen, err, c.want)
		}
	}
	// Invalidations revoke nothing.
	if err := s.Check(t0, "ses_b", "j", "usr_a", t0.Add(-time.Hour)); err != nil {
		t.Errorf("an invalidation revoked a token: %v", err)
	}
	s.Prune(t0.Add(6 * time.Minute))
	if err := s.CheckCached(t0.Add(6*time.Minute), "ses_x", "usr_a", loaded); err != nil {
		t.Errorf("mark not pruned after its expiry: %v", err)
	}
	// A stale list answers ErrStale: the cache must ask the store.
	stale := revocation.NewSet(time.Second)
	if err := stale.CheckCached(t0, "ses_x", "usr_x", 0); !errors.Is(err, revocation.ErrStale) {
		t.Errorf("stale list: %v, want ErrStale", err)
	}
}
