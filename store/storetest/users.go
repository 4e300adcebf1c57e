package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testCreateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t)
	u.Roles = []string{"editor", "admin"}
	u.Disabled = true
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	checkUser(t, s, u)
	got, err := s.UserByEmail(ctx, u.Email)
	if err != nil {
		t.Fatalf("UserByEmail(%q): %v", u.Email, err)
	}
	if d := userDiff(u, got); d != "" {
		t.Errorf("UserByEmail(%q): %s", u.Email, d)
	}
}

func testCreateUserDuplicateID(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createUser(t, s)
	b := newUser(t)
	b.ID = a.ID
	b.Roles = []string{"intruder"}
	b.PasswordHash = "other"
	err := s.CreateUser(ctx, b)
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser with a taken ID: got %v, want ErrAlreadyExists", err)
	}
	checkUser(t, s, a)
	if _, err := s.UserByEmail(ctx, b.Email); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the rejected user's email was written: UserByEmail = %v, want ErrNotFound", err)
	}
}

func testCreateUserDuplicateEmail(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createUser(t, s)
	b := newUser(t)
	b.Email = a.Email
	b.Roles = []string{"intruder"}
	err := s.CreateUser(ctx, b)
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser with a taken email: got %v, want ErrAlreadyExists", err)
	}
	if _, err := s.UserByID(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the rejected user was written: UserByID = %v, want ErrNotFound", err)
	}
	checkUser(t, s, a)
	got, err := s.UserByEmail(ctx, a.Email)
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if got.ID != a.ID {
		t.Errorf("UserByEmail(%q) = %q, want the first owner %q", a.Email, got.ID, a.ID)
	}
	// The rejected user's roles must not linger and show up on a later
	// user with the same ID.
	b.Email = newID(t, "fresh") + "@example.test"
	b.Roles = nil
	if err := s.CreateUser(ctx, b); err != nil {
		t.Fatalf("CreateUser after the rejected one: %v", err)
	}
	checkUser(t, s, b)
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newID(t, "missing")
	if _, err := s.UserByID(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByID(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByEmail(ctx, id+"@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByEmail(missing) = %v, want ErrNotFound", err)
	}
}

func testUserRolesSorted(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t)
	u.Roles = []string{"zeta", "alpha", "mid", "alpha"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	if want := []string{"alpha", "mid", "zeta"}; !slices.Equal(got.Roles, want) {
		t.Errorf("Roles = %q, want %q (sorted, duplicates dropped)", got.Roles, want)
	}

	none := newUser(t)
	none.Roles = nil
	if err := s.CreateUser(ctx, none); err != nil {
		t.Fatalf("CreateUser without roles: %v", err)
	}
	got, err = s.UserByID(ctx, none.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	if len(got.Roles) != 0 {
		t.Errorf("Roles = %q, want none", got.Roles)
	}
}

func testUserTimesRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t)
	u.CreatedAt = time.Date(2024, time.February, 29, 23, 59, 59, 999999999, time.FixedZone("UTC-7", -7*3600))
	u.UpdatedAt = time.Time{}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	if d := timeDiff("CreatedAt", u.CreatedAt, got.CreatedAt); d != "" {
		t.Error(d)
	}
	if !got.UpdatedAt.IsZero() {
		t.Errorf("UpdatedAt = %v, want the zero time back", got.UpdatedAt)
	}
	if want := time.Date(2024, time.March, 1, 6, 59, 59, 0, time.UTC); !got.CreatedAt.Truncate(time.Second).Equal(want) {
		t.Errorf("CreatedAt = %v, want %v and a fraction", got.CreatedAt, want)
	}
}

func testUserCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t)
	u.Roles = []string{"a", "b"}
	want := u
	want.Roles = slices.Clone(u.Roles)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	u.Roles[0] = "mutated-input"
	checkUser(t, s, want)

	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	got.Roles[0] = "mutated-by-id"
	got.Email = "mutated@example.test"
	checkUser(t, s, want)

	got, err = s.UserByEmail(ctx, u.Email)
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	got.Roles[0] = "mutated-by-email"
	checkUser(t, s, want)

	list, err := s.ListUsers(ctx, store.ListUsersOptions{EmailPrefix: u.Email})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListUsers(EmailPrefix %q) returned %d users, want 1", u.Email, len(list))
	}
	list[0].Roles[0] = "mutated-by-list"
	checkUser(t, s, want)
}

// createNamedUsers creates users whose IDs and emails are prefix+"-"+name
// for each name, in the order given, and returns them by name.
func createNamedUsers(t *testing.T, s store.Store, prefix string, names ...string) map[string]store.User {
	t.Helper()
	out := make(map[string]store.User, len(names))
	for _, n := range names {
		u := newUser(t)
		u.ID = prefix + "-" + n
		u.Email = prefix + "-" + n + "@example.test"
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.ID, err)
		}
		out[n] = u
	}
	return out
}

func testListUsersPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newID(t, "list")
	// Created out of order so that insertion order cannot pass for ID order.
	users := createNamedUsers(t, s, p, "3", "0", "4", "1", "2")

	page := func(opts store.ListUsersOptions, want ...string) {
		t.Helper()
		got, err := s.ListUsers(ctx, opts)
		if err != nil {
			t.Fatalf("ListUsers(%+v): %v", opts, err)
		}
		var wantIDs []string
		for _, n := range want {
			wantIDs = append(wantIDs, p+"-"+n)
		}
		if gotIDs := ids(got, userID); !slices.Equal(gotIDs, wantIDs) {
			t.Fatalf("ListUsers(%+v) = %q, want %q", opts, gotIDs, wantIDs)
		}
		for i, u := range got {
			if d := userDiff(users[want[i]], u); d != "" {
				t.Errorf("ListUsers(%+v)[%d]: %s", opts, i, d)
			}
		}
	}
	prefix := p + "-"
	page(store.ListUsersOptions{EmailPrefix: prefix, Limit: 2}, "0", "1")
	page(store.ListUsersOptions{EmailPrefix: prefix, Limit: 2, After: p + "-1"}, "2", "3")
	page(store.ListUsersOptions{EmailPrefix: prefix, Limit: 2, After: p + "-3"}, "4")
	page(store.ListUsersOptions{EmailPrefix: prefix, Limit: 2, After: p + "-4"})
	// After need not name an existing user.
	page(store.ListUsersOptions{EmailPrefix: prefix, After: p + "-1a"}, "2", "3", "4")
	// Without a prefix nobody else's ID can sort between ours.
	page(store.ListUsersOptions{After: p + "-1", Limit: 2}, "2", "3")
}

func testListUsersEmailPrefix(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newID(t, "pfx")
	emails := map[string]string{
		"a1":      p + "-a1@example.test",
		"a2":      p + "-a2@example.test",
		"b1":      p + "-b1@example.test",
		"under":   p + "-_c@example.test",
		"percent": p + "-%d@example.test",
		"slash":   p + `-\e@example.test`,
	}
	byEmail := make(map[string]store.User)
	for _, e := range emails {
		u := newUser(t)
		u.Email = e
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", e, err)
		}
		byEmail[e] = u
	}
	tests := []struct {
		prefix string
		want   []string // keys of emails
	}{
		{p + "-", []string{"a1", "a2", "b1", "under", "percent", "slash"}},
		{p + "-a", []string{"a1", "a2"}},
		{p + "-a2@example.test", []string{"a2"}},
		{p + "-b", []string{"b1"}},
		// LIKE and GLOB wildcards in the prefix are plain characters.
		{p + "-_", []string{"under"}},
		{p + "-%", []string{"percent"}},
		{p + `-\`, []string{"slash"}},
		{p + "-z", nil},
		// The prefix anchors at the start of the email.
		{p[1:] + "-a", nil},
	}
	for _, tc := range tests {
		got, err := s.ListUsers(ctx, store.ListUsersOptions{EmailPrefix: tc.prefix})
		if err != nil {
			t.Fatalf("ListUsers(EmailPrefix %q): %v", tc.prefix, err)
		}
		var want []store.User
		for _, k := range tc.want {
			want = append(want, byEmail[emails[k]])
		}
		slices.SortFunc(want, func(a, b store.User) int { return strings.Compare(a.ID, b.ID) })
		if g, w := ids(got, userID), ids(want, userID); !slices.Equal(g, w) {
			t.Errorf("ListUsers(EmailPrefix %q) = %q, want %q (ordered by ID)", tc.prefix, g, w)
		}
	}
}

func testListUsersDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newID(t, "many")
	const n = 101
	for i := range n {
		u := newUser(t)
		u.Email = fmt.Sprintf("%s-%03d@example.test", p, i)
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.Email, err)
		}
	}
	for _, tc := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {100, 100}, {101, 101}, {1000, 101}, {3, 3}} {
		got, err := s.ListUsers(ctx, store.ListUsersOptions{EmailPrefix: p + "-", Limit: tc.limit})
		if err != nil {
			t.Fatalf("ListUsers(Limit %d): %v", tc.limit, err)
		}
		if len(got) != tc.want {
			t.Errorf("ListUsers(Limit %d) returned %d users, want %d", tc.limit, len(got), tc.want)
		}
	}
}

func testListUsersAll(t *testing.T, s store.Store) {
	ctx := t.Context()
	mine := map[string]bool{}
	for range 3 {
		mine[createUser(t, s).ID] = false
	}
	after := ""
	for {
		got, err := s.ListUsers(ctx, store.ListUsersOptions{After: after, Limit: 7})
		if err != nil {
			t.Fatalf("ListUsers(After %q): %v", after, err)
		}
		if len(got) > 7 {
			t.Fatalf("ListUsers(Limit 7) returned %d users", len(got))
		}
		if len(got) == 0 {
			break
		}
		for _, u := range got {
			if u.ID <= after {
				t.Fatalf("ListUsers(After %q) returned %q, out of order", after, u.ID)
			}
			after = u.ID
			if _, ok := mine[u.ID]; ok {
				mine[u.ID] = true
			}
		}
	}
	for id, seen := range mine {
		if !seen {
			t.Errorf("paging through ListUsers never returned %q", id)
		}
	}
}

func testCountUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	before, err := s.CountUsers(ctx)
	if err != nil {
		t.Fatalf("CountUsers: %v", err)
	}
	for range 3 {
		createUser(t, s)
	}
	// A rejected duplicate must not count.
	dup := newUser(t)
	dup.Email = createUser(t, s).Email
	if err := s.CreateUser(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser duplicate email: %v, want ErrAlreadyExists", err)
	}
	after, err := s.CountUsers(ctx)
	if err != nil {
		t.Fatalf("CountUsers: %v", err)
	}
	if after-before != 4 {
		t.Errorf("CountUsers went from %d to %d after creating 4 users, want +4", before, after)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	oldEmail := u.Email

	want := u
	want.Email = newID(t, "renamed") + "@example.test"
	want.PasswordHash = "$argon2id$new"
	want.Roles = []string{"viewer", "admin", "viewer"}
	want.Disabled = true
	want.UpdatedAt = baseTime().Add(time.Hour)
	calls := 0
	got, err := s.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		calls++
		if d := userDiff(u, *cur); d != "" {
			t.Errorf("fn got %s", d)
		}
		cur.Email = want.Email
		cur.PasswordHash = want.PasswordHash
		cur.Roles = slices.Clone(want.Roles)
		cur.Disabled = want.Disabled
		cur.UpdatedAt = want.UpdatedAt
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	if d := userDiff(want, got); d != "" {
		t.Errorf("UpdateUser returned %s", d)
	}
	checkUser(t, s, want)
	if byEmail, err := s.UserByEmail(ctx, want.Email); err != nil || byEmail.ID != u.ID {
		t.Errorf("UserByEmail(new email) = %q, %v; want %q", byEmail.ID, err, u.ID)
	}
	if _, err := s.UserByEmail(ctx, oldEmail); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByEmail(old email) = %v, want ErrNotFound", err)
	}
	// The old email is free again.
	other := newUser(t)
	other.Email = oldEmail
	if err := s.CreateUser(ctx, other); err != nil {
		t.Errorf("CreateUser with the released email: %v", err)
	}

	// Roles are replaced, not merged; keeping the email is no collision.
	want.Roles = []string{"solo"}
	if _, err := s.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		cur.Roles = []string{"solo"}
		return nil
	}); err != nil {
		t.Fatalf("UpdateUser(roles): %v", err)
	}
	checkUser(t, s, want)
	want.Roles = nil
	if _, err := s.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		cur.Roles = nil
		return nil
	}); err != nil {
		t.Fatalf("UpdateUser(no roles): %v", err)
	}
	checkUser(t, s, want)
}

func testUpdateUserNotFound(t *testing.T, s store.Store) {
	called := false
	_, err := s.UpdateUser(t.Context(), newID(t, "missing"), func(*store.User) error {
		called = true
		return nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUser(missing) = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("fn was called for a missing user")
	}
}

func testUpdateUserFnError(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t)
	u.Roles = []string{"a", "b"}
	want := u
	want.Roles = slices.Clone(u.Roles)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	newEmail := newID(t, "never") + "@example.test"
	errBoom := errors.New("boom")
	_, err := s.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		// Mutate in place too: fn must have been given a copy.
		cur.Roles[0] = "mutated"
		cur.Roles = append(cur.Roles, "extra")
		cur.Email = newEmail
		cur.Disabled = true
		return errBoom
	})
	if err != errBoom {
		t.Errorf("UpdateUser returned %v, want fn's error as is", err)
	}
	checkUser(t, s, want)
	if _, err := s.UserByEmail(ctx, newEmail); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByEmail(email set by the failed fn) = %v, want ErrNotFound", err)
	}
}

func testUpdateUserEmailCollision(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createUser(t, s)
	b := createUser(t, s)
	_, err := s.UpdateUser(ctx, b.ID, func(cur *store.User) error {
		cur.Email = a.Email
		cur.Roles = []string{"changed"}
		cur.PasswordHash = "changed"
		return nil
	})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("UpdateUser to a taken email = %v, want ErrAlreadyExists", err)
	}
	checkUser(t, s, a)
	checkUser(t, s, b)
	got, err := s.UserByEmail(ctx, a.Email)
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if got.ID != a.ID {
		t.Errorf("UserByEmail(%q) = %q, want %q", a.Email, got.ID, a.ID)
	}
	if got, err := s.UserByEmail(ctx, b.Email); err != nil || got.ID != b.ID {
		t.Errorf("UserByEmail(b's own email) = %q, %v; want %q", got.ID, err, b.ID)
	}
}

func testUpdateUserIDCannotChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createUser(t, s)
	b := createUser(t, s)
	fresh := newID(t, "user")
	for _, to := range []string{fresh, b.ID} {
		_, err := s.UpdateUser(ctx, a.ID, func(cur *store.User) error {
			cur.ID = to
			cur.Roles = []string{"changed"}
			return nil
		})
		if err == nil {
			t.Errorf("UpdateUser changing the ID to %q succeeded, want an error", to)
		}
		checkUser(t, s, a)
		checkUser(t, s, b)
	}
	if _, err := s.UserByID(ctx, fresh); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByID(new ID) = %v, want ErrNotFound", err)
	}
}

func testUpdateUserCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s)
	want := u
	want.Roles = []string{"a", "b"}
	var kept *store.User
	got, err := s.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		kept = cur
		cur.Roles = []string{"b", "a"}
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	kept.Roles[0] = "mutated-after-fn"
	kept.Email = "mutated@example.test"
	checkUser(t, s, want)
	got.Roles[0] = "mutated-result"
	checkUser(t, s, want)
}
