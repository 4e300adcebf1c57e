package storetest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// newKey returns a signing key created at created that exists nowhere
// yet. Its sealed bytes are random: the store never looks inside them.
func newKey(tb testing.TB, created time.Time) store.SigningKey {
	tb.Helper()
	sealed := make([]byte, 60)
	if _, err := rand.Read(sealed); err != nil {
		tb.Fatal(err)
	}
	return store.SigningKey{ID: newID(tb, "key"), Alg: "EdDSA", Sealed: sealed, CreatedAt: created}
}

// createKey stores k, failing the test if it cannot.
func createKey(t *testing.T, s store.Store, k store.SigningKey) store.SigningKey {
	t.Helper()
	if err := s.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey(%q): %v", k.ID, err)
	}
	return k
}

// keyDiff describes how got differs from want, or returns "".
func keyDiff(want, got store.SigningKey) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID: got %q, want %q", got.ID, want.ID))
	}
	if got.Alg != want.Alg {
		d = append(d, fmt.Sprintf("Alg: got %q, want %q", got.Alg, want.Alg))
	}
	if string(got.Sealed) != string(want.Sealed) {
		d = append(d, fmt.Sprintf("Sealed: got %x, want %x", got.Sealed, want.Sealed))
	}
	if want.RetiredAt.IsZero() && !got.RetiredAt.IsZero() {
		d = append(d, fmt.Sprintf("RetiredAt: got %v, want the zero time", got.RetiredAt))
	}
	d = appendNonEmpty(d,
		timeDiff("CreatedAt", want.CreatedAt, got.CreatedAt),
		timeDiff("RetiredAt", want.RetiredAt, got.RetiredAt))
	return strings.Join(d, "; ")
}

// checkKeys fails the test unless ListKeys, keeping only the IDs of want,
// gives want in that order. Other keys in the store are ignored.
func checkKeys(t *testing.T, s store.Store, want ...store.SigningKey) []store.SigningKey {
	t.Helper()
	all, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	mine := make(map[string]bool, len(want))
	for _, k := range want {
		mine[k.ID] = true
	}
	var got []store.SigningKey
	for _, k := range all {
		if mine[k.ID] {
			got = append(got, k)
		}
	}
	if g, w := ids(got, keyID), ids(want, keyID); !slices.Equal(g, w) {
		t.Fatalf("ListKeys = %q, want %q (oldest first, then by ID)", g, w)
	}
	for i := range got {
		if d := keyDiff(want[i], got[i]); d != "" {
			t.Errorf("ListKeys[%q]: %s", want[i].ID, d)
		}
	}
	return got
}

func keyID(k store.SigningKey) string { return k.ID }

func testCreateKey(t *testing.T, s store.Store) {
	p := newID(t, "key")
	mk := func(name string, created time.Time) store.SigningKey {
		k := newKey(t, created)
		k.ID = p + "-" + name
		return k
	}
	// Created out of order, two in the same millisecond, so that neither
	// insertion order nor ID alone can pass for the promised order.
	b := baseTime()
	k2 := mk("a", b.Add(2*time.Second))
	k0 := mk("z", b)
	k1b := mk("c", b.Add(time.Second+300*time.Microsecond))
	k1a := mk("b", b.Add(time.Second))
	k1b.Alg, k1a.Alg = "ES256", "HS256"
	k0.RetiredAt = b.Add(time.Hour + 123*time.Microsecond)
	in := []store.SigningKey{k2, k0, k1b, k1a}
	want := make([]store.SigningKey, len(in))
	for i, k := range in {
		want[i] = k
		want[i].Sealed = slices.Clone(k.Sealed)
		createKey(t, s, k)
		k.Sealed[0] ^= 0xff // the store must have copied it
	}
	got := checkKeys(t, s, want[1], want[3], want[2], want[0])
	got[0].Sealed[0] ^= 0xff // and must copy it out
	checkKeys(t, s, want[1], want[3], want[2], want[0])
}

func testCreateKeyDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createKey(t, s, newKey(t, baseTime()))
	b := newKey(t, baseTime().Add(-time.Hour))
	b.ID, b.Alg = a.ID, "RS256"
	if err := s.CreateKey(ctx, b); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateKey with a taken ID = %v, want ErrAlreadyExists", err)
	}
	checkKeys(t, s, a)
}

func testDeleteKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createKey(t, s, newKey(t, baseTime()))
	b := createKey(t, s, newKey(t, baseTime().Add(time.Second)))
	if err := s.DeleteKey(ctx, a.ID); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	all, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if slices.Contains(ids(all, keyID), a.ID) {
		t.Errorf("ListKeys still lists the deleted key %q", a.ID)
	}
	checkKeys(t, s, b)
	if err := s.DeleteKey(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteKey(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteKey(ctx, newID(t, "missing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteKey(missing) = %v, want ErrNotFound", err)
	}
	// The deleted key's ID is free again.
	if err := s.CreateKey(ctx, a); err != nil {
		t.Errorf("CreateKey reusing a deleted key's ID: %v", err)
	}
}

func testRetireKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := baseTime()
	p := newID(t, "key")
	mk := func(name string, created, retired time.Time) store.SigningKey {
		k := newKey(t, created)
		k.ID, k.RetiredAt = p+"-"+name, retired
		return createKey(t, s, k)
	}
	earlier := b.Add(time.Minute + 1*time.Microsecond)
	old := mk("0-old", b, earlier)
	cur := mk("1-cur", b.Add(time.Second), time.Time{})
	spare := mk("2-spare", b.Add(2*time.Second), time.Time{})
	next := mk("3-next", b.Add(3*time.Second), time.Time{})

	// next takes over: every other key still signing retires at `at`,
	// old keeps its earlier time.
	at := b.Add(time.Hour + 999*time.Microsecond)
	if err := s.RetireKeys(ctx, next.ID, at); err != nil {
		t.Fatalf("RetireKeys(except %q): %v", next.ID, err)
	}
	cur.RetiredAt, spare.RetiredAt = at, at
	checkKeys(t, s, old, cur, spare, next)

	// Again later, with no exception: only next was still signing.
	later := at.Add(time.Hour)
	if err := s.RetireKeys(ctx, "", later); err != nil {
		t.Fatalf("RetireKeys(no exception): %v", err)
	}
	next.RetiredAt = later
	checkKeys(t, s, old, cur, spare, next)

	// Sparing a retired key does not bring it back.
	if err := s.RetireKeys(ctx, cur.ID, later.Add(time.Hour)); err != nil {
		t.Fatalf("RetireKeys(except a retired key): %v", err)
	}
	checkKeys(t, s, old, cur, spare, next)
}
