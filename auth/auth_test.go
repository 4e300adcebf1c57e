package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/memory"
)

func TestNormalizeEmail(t *testing.T) {
	good := map[string]string{
		"ann@example.com":         "ann@example.com",
		"  Ann@Example.COM\t":     "ann@example.com",
		"a.b+tag@sub.example.org": "a.b+tag@sub.example.org",
	}
	for in, want := range good {
		got, err := auth.NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "   ", "ann", "@example.com", "ann@", "Ann <ann@example.com>", "ann@example.com (comment)",
		"a b@example.com", "ann@@example.com", "\"quoted\"@example.com", strings.Repeat("a", 250) + "@example.com"}
	for _, in := range bad {
		if got, err := auth.NormalizeEmail(in); err == nil {
			t.Errorf("NormalizeEmail(%q) = %q, want an error", in, got)
		} else if apperr.CodeOf(err) != apperr.Unprocessable {
			t.Errorf("NormalizeEmail(%q) error code %s, want unprocessable", in, apperr.CodeOf(err))
		}
	}
}

func TestCSRFTokenIsBoundToTheSession(t *testing.T) {
	a, b := strings.Repeat("a", 43), strings.Repeat("b", 43)
	ta := auth.CSRFToken(a)
	if ta == auth.CSRFToken(b) || strings.Contains(ta, a) {
		t.Fatal("CSRF tokens of two sessions collide or leak the session token")
	}
	if !auth.ValidCSRFToken(a, ta) {
		t.Fatal("own token refused")
	}
	for _, bad := range []string{"", auth.CSRFToken(b), ta[:len(ta)-1], ta + "x"} {
		if auth.ValidCSRFToken(a, bad) {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestValidateRoles(t *testing.T) {
	if err := auth.ValidateRoles([]string{"admin", "notes:read", "team-1", "a.b_c"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "Admin", "has space", "-lead", strings.Repeat("r", 65), "ünï"} {
		if auth.ValidateRoles([]string{bad}) == nil {
			t.Errorf("role %q accepted", bad)
		}
	}
}

func newService(t *testing.T, now func() time.Time) (*auth.Service, store.Store) {
	st := memory.New()
	return auth.NewService(auth.Config{Now: now}, auth.Deps{
		Store:  st,
		Hasher: password.NewHasher(password.Config{Params: password.TestParams()}),
		Policy: password.NewPolicy(),
	}), st
}

// An imported bcrypt hash signs in, and is replaced by argon2id on success.
func TestLoginUpgradesImportedBcryptHash(t *testing.T) {
	ctx := context.Background()
	svc, st := newService(t, time.Now)
	h, err := bcrypt.GenerateFromPassword([]byte("imported passphrase"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{ID: auth.NewID("usr_"), Email: "old@example.com", PasswordHash: string(h), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, "old@example.com", "wrong passphrase", auth.Client{IP: "192.0.2.1"}, false); apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := svc.Login(ctx, "old@example.com", "imported passphrase", auth.Client{IP: "192.0.2.1"}, false); err != nil {
		t.Fatal(err)
	}
	got, _ := st.UserByID(ctx, u.ID)
	if !strings.HasPrefix(got.PasswordHash, "$argon2id$") {
		t.Fatalf("hash not upgraded: %q", got.PasswordHash)
	}
	if _, err := svc.Login(ctx, "old@example.com", "imported passphrase", auth.Client{IP: "192.0.2.1"}, false); err != nil {
		t.Fatalf("login after upgrade: %v", err)
	}
}

// A corrupt stored hash must never sign anyone in.
func TestCorruptStoredHashRefuses(t *testing.T) {
	ctx := context.Background()
	svc, st := newService(t, time.Now)
	u := store.User{ID: auth.NewID("usr_"), Email: "bad@example.com", PasswordHash: "$argon2id$v=19$m=999999999,t=1,p=1$AAAA$AAAA", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Login(ctx, "bad@example.com", "anything at all", auth.Client{}, false)
	if apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Fatalf("got %v, want unauthenticated", err)
	}
}

func TestRevokeHookHearsEveryEarlyEnd(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	var heard []string
	svc := auth.NewService(auth.Config{}, auth.Deps{
		Store: st, Hasher: password.NewHasher(password.Config{Params: password.TestParams()}), Policy: password.NewPolicy(),
		OnRevoke: func(_ context.Context, ss []store.Session) {
			for _, s := range ss {
				heard = append(heard, s.ID)
			}
		},
	})
	in1, err := svc.Signup(ctx, "hook@example.com", "a fine passphrase", auth.Client{}, false)
	if err != nil {
		t.Fatal(err)
	}
	in2, _ := svc.Login(ctx, "hook@example.com", "a fine passphrase", auth.Client{}, false)
	in3, _ := svc.Login(ctx, "hook@example.com", "a fine passphrase", auth.Client{}, false)
	if err := svc.Logout(ctx, in1.Session); err != nil {
		t.Fatal(err)
	}
	if err := svc.RevokeSession(ctx, auth.Actor{}, in1.User.ID, in2.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetDisabled(ctx, auth.Actor{}, in1.User.ID, true); err != nil {
		t.Fatal(err)
	}
	want := []string{in1.Session.ID, in2.Session.ID, in3.Session.ID}
	if strings.Join(heard, ",") != strings.Join(want, ",") {
		t.Fatalf("heard %v, want %v", heard, want)
	}
	if _, err := svc.Authenticate(ctx, in3.Token, auth.Client{}); err == nil {
		t.Fatal("session of a disabled user still authenticates")
	}
	var e *apperr.Error
	if _, err := svc.Login(ctx, "hook@example.com", "a fine passphrase", auth.Client{}, false); !errors.As(err, &e) || e.Code != apperr.Forbidden {
		t.Fatalf("disabled login: %v", err)
	}
}

// failingRevocations is a store whose revocation writes fail, as during a
// cache outage.
type failingRevocations struct{ store.Store }

func (failingRevocations) AddRevocations(context.Context, []store.Revocation) ([]store.Revocation, error) {
	return nil, errors.New("connection refused")
}

// A sign-out whose revocation cannot be recorded for every instance is not
// reported as done, and leaves the session in place so it can be retried.
func TestLogoutFailsLoudlyWhenRevocationCannotBeRecorded(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	svc := auth.NewService(auth.Config{}, auth.Deps{
		Store: failingRevocations{inner}, Hasher: password.NewHasher(password.Config{Params: password.TestParams()}), Policy: password.NewPolicy(),
	})
	in, err := svc.Signup(ctx, "outage@example.com", "a fine passphrase", auth.Client{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Logout(ctx, in.Session); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("logout during outage: %v", err)
	}
	if _, err := inner.SessionByID(ctx, in.Session.ID); err != nil {
		t.Fatalf("session deleted although its revocation failed: %v", err)
	}
	if _, err := svc.RevokeSessions(ctx, auth.Actor{}, in.User.ID, ""); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("force logout during outage: %v", err)
	}
	if _, err := svc.SetRoles(ctx, auth.Actor{}, in.User.ID, []string{"x"}); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("role change during outage: %v", err)
	}
}
