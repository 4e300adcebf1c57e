package keys_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/store/memory"
	"github.com/gatehouse/gatehouse/token"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

var secret = []byte("0123456789abcdef0123456789abcdef")

func issue(t *testing.T, m *keys.Manager, now time.Time) string {
	t.Helper()
	tok, err := m.KeySet().Issue(token.Claims{Issuer: "https://gh.test", Subject: "usr_1", Audience: []string{"api"},
		IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute), SessionID: "ses_1"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func verify(m *keys.Manager, tok string, now time.Time) error {
	v := token.Verifier{Issuer: "https://gh.test", Audience: "api"}
	_, err := v.Verify(m.KeySet(), tok, now)
	return err
}

func TestFirstLoadMakesAKeyAndSealsIt(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	clk := &clock{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	m := keys.New(keys.Config{VerifyFor: 11 * time.Minute, Now: clk.Now}, st, secret, nil)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _ := st.ListKeys(ctx)
	if len(recs) != 1 || recs[0].Alg != "EdDSA" {
		t.Fatalf("keys: %+v", recs)
	}
	// Sealed: the stored bytes do not open without the secret, nor with another.
	if _, err := token.Open([]byte("another secret, 32 bytes long!!!"), recs[0].ID, recs[0].Sealed); err == nil {
		t.Fatal("sealed key opened with a wrong secret")
	}
	// A second manager on the same store with the same secret agrees.
	m2 := keys.New(keys.Config{VerifyFor: 11 * time.Minute, Now: clk.Now}, st, secret, nil)
	if err := m2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if m2.KeySet().SigningKeyID() != m.KeySet().SigningKeyID() {
		t.Fatal("two instances sign with different keys")
	}
	if err := verify(m2, issue(t, m, clk.t), clk.t); err != nil {
		t.Fatal(err)
	}
	// With the wrong secret, Load refuses clearly instead of making a key.
	bad := keys.New(keys.Config{VerifyFor: time.Minute, Now: clk.Now}, st, []byte("another secret, 32 bytes long!!!"), nil)
	if err := bad.Load(ctx); !errors.Is(err, keys.ErrUnseal) {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestAutomaticRotationAndRetirement(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	clk := &clock{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	m := keys.New(keys.Config{RotateEvery: 24 * time.Hour, VerifyFor: 11 * time.Minute, Now: clk.Now}, st, secret, nil)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	first := m.KeySet().SigningKeyID()
	old := issue(t, m, clk.t)
	clk.t = clk.t.Add(23 * time.Hour)
	if err := m.Tick(ctx); err != nil || m.KeySet().SigningKeyID() != first {
		t.Fatalf("rotated too early: %v", err)
	}
	clk.t = clk.t.Add(time.Hour)
	oldAt := clk.t.Add(-5 * time.Minute)
	old = issue(t, m, oldAt)
	if err := m.Tick(ctx); err != nil || m.KeySet().SigningKeyID() == first {
		t.Fatalf("not rotated when due: %v", err)
	}
	if err := verify(m, old, clk.t); err != nil {
		t.Fatalf("old key stopped verifying too early: %v", err)
	}
	list, _ := m.List(ctx)
	if len(list) != 2 || list[0].State != "signing" || list[1].State != "verifying" {
		t.Fatalf("list: %+v", list)
	}
	clk.t = clk.t.Add(12 * time.Minute)
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _ := st.ListKeys(ctx)
	if len(recs) != 1 {
		t.Fatalf("expired key not deleted: %+v", recs)
	}
	if err := verify(m, old, oldAt.Add(time.Minute)); !errors.Is(err, token.ErrUnknownKey) {
		t.Fatalf("token of a deleted key: %v", err)
	}
}

func TestAlgorithmChangeRotates(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	clk := &clock{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	m := keys.New(keys.Config{Alg: token.EdDSA, VerifyFor: time.Minute, Now: clk.Now}, st, secret, nil)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	m2 := keys.New(keys.Config{Alg: token.ES256, VerifyFor: time.Minute, Now: clk.Now}, st, secret, nil)
	if err := m2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ := m2.List(ctx)
	if len(list) != 2 || list[0].Alg != "ES256" || list[0].State != "signing" {
		t.Fatalf("list: %+v", list)
	}
}
