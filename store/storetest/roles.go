package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// RunRoles runs the RoleStore conformance tests on a backend that has it.
func RunRoles(t *testing.T, rs store.RoleStore) {
	ctx := context.Background()
	name := newID(t, "role")
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	if err := rs.PutRole(ctx, store.Role{Name: name, Permissions: []string{"notes:write", "notes:read", "notes:read"}, Description: "d", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	find := func() (store.Role, bool) {
		all, err := rs.ListRoles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range all {
			if i > 0 && all[i-1].Name >= all[i].Name {
				t.Fatalf("ListRoles not ordered by name: %q then %q", all[i-1].Name, all[i].Name)
			}
		}
		i := slices.IndexFunc(all, func(r store.Role) bool { return r.Name == name })
		if i < 0 {
			return store.Role{}, false
		}
		return all[i], true
	}
	r, ok := find()
	if !ok || !slices.Equal(r.Permissions, []string{"notes:read", "notes:write"}) || r.Description != "d" || !r.CreatedAt.Equal(t0) {
		t.Fatalf("role after put: %+v %v", r, ok)
	}
	t1 := t0.Add(time.Hour)
	if err := rs.PutRole(ctx, store.Role{Name: name, Permissions: []string{"*"}, CreatedAt: t1, UpdatedAt: t1}); err != nil {
		t.Fatal(err)
	}
	r, _ = find()
	if !slices.Equal(r.Permissions, []string{"*"}) || !r.CreatedAt.Equal(t0) || !r.UpdatedAt.Equal(t1) || r.Description != "" {
		t.Fatalf("role after replace: %+v", r)
	}
	if err := rs.DeleteRole(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(); ok {
		t.Fatal("deleted role still listed")
	}
	if err := rs.DeleteRole(ctx, name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete missing role: %v", err)
	}
}
