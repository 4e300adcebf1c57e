package storetest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// appendAudit stores e, failing the test if it cannot, and returns it with
// its ID.
func appendAudit(t *testing.T, s store.Store, e store.AuditEvent) store.AuditEvent {
	t.Helper()
	id, err := s.AppendAudit(t.Context(), e)
	if err != nil {
		t.Fatalf("AppendAudit(%s): %v", e.Type, err)
	}
	e.ID = id
	return e
}

// auditDiff describes how got differs from want, or returns "". An empty
// Detail must come back nil.
func auditDiff(want, got store.AuditEvent) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID: got %d, want %d", got.ID, want.ID))
	}
	for _, f := range []struct{ name, got, want string }{
		{"Type", got.Type, want.Type},
		{"ActorID", got.ActorID, want.ActorID},
		{"UserID", got.UserID, want.UserID},
		{"SessionID", got.SessionID, want.SessionID},
		{"IP", got.IP, want.IP},
	} {
		if f.got != f.want {
			d = append(d, fmt.Sprintf("%s: got %q, want %q", f.name, f.got, f.want))
		}
	}
	if len(want.Detail) == 0 && got.Detail != nil {
		d = append(d, fmt.Sprintf("Detail: got %#v, want nil", got.Detail))
	} else if !maps.Equal(got.Detail, want.Detail) {
		d = append(d, fmt.Sprintf("Detail: got %q, want %q", got.Detail, want.Detail))
	}
	d = appendNonEmpty(d, timeDiff("Time", want.Time, got.Time))
	return strings.Join(d, "; ")
}

func auditID(e store.AuditEvent) string { return fmt.Sprint(e.ID) }

// checkAudit fails the test unless ListAudit(f) gives exactly want, in
// order.
func checkAudit(t *testing.T, s store.Store, f store.AuditFilter, want ...store.AuditEvent) {
	t.Helper()
	got, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	if g, w := ids(got, auditID), ids(want, auditID); !slices.Equal(g, w) {
		t.Fatalf("ListAudit(%+v) = IDs %q, want %q", f, g, w)
	}
	for i := range got {
		if d := auditDiff(want[i], got[i]); d != "" {
			t.Errorf("ListAudit(%+v)[%d]: %s", f, i, d)
		}
	}
}

func testAppendAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	user := newID(t, "user")
	full := store.AuditEvent{
		Time:      baseTime(),
		Type:      "session.revoked",
		ActorID:   newID(t, "admin"),
		UserID:    user,
		SessionID: newID(t, "sess"),
		IP:        "2001:db8::1",
		Detail:    map[string]string{"reason": "admin", "count": "2", "quote": `"x"\n`},
	}
	detail := maps.Clone(full.Detail)
	a := appendAudit(t, s, full)
	full.Detail["reason"] = "mutated" // the store must have copied it
	a.Detail = detail
	// An empty Detail and a nil one both come back nil.
	b := appendAudit(t, s, store.AuditEvent{Time: baseTime().Add(time.Second), Type: "signin.ok", UserID: user, Detail: map[string]string{}})
	c := appendAudit(t, s, store.AuditEvent{Time: baseTime().Add(-time.Hour), Type: "signin.ok", UserID: user})
	if !(a.ID < b.ID && b.ID < c.ID) {
		t.Fatalf("AppendAudit gave IDs %d, %d, %d; want them increasing", a.ID, b.ID, c.ID)
	}
	// Newest first by ID, whatever the events' times.
	checkAudit(t, s, store.AuditFilter{UserID: user}, c, b, a)

	got, err := s.ListAudit(ctx, store.AuditFilter{UserID: user})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	got[2].Detail["reason"] = "mutated-by-list" // and copy it out
	checkAudit(t, s, store.AuditFilter{UserID: user}, c, b, a)
}

func testListAuditFilters(t *testing.T, s store.Store) {
	u1, u2 := newID(t, "user"), newID(t, "user")
	typ1, typ2 := newID(t, "type"), newID(t, "type")
	b := baseTime()
	t0, t1, t2, t3 := b, b.Add(time.Minute), b.Add(2*time.Minute), b.Add(3*time.Minute)
	ev := func(user, typ string, at time.Time) store.AuditEvent {
		return appendAudit(t, s, store.AuditEvent{Time: at, Type: typ, UserID: user})
	}
	// Times out of order with IDs, so that one cannot pass for the other.
	e1 := ev(u1, typ1, t1)
	e2 := ev(u2, typ1, t2)
	e3 := ev(u1, typ2, t0)
	e4 := ev(u1, typ1, t3)
	e5 := ev(u2, typ2, t1)

	ms := time.Millisecond
	tests := []struct {
		f    store.AuditFilter
		want []store.AuditEvent
	}{
		{store.AuditFilter{UserID: u1}, []store.AuditEvent{e4, e3, e1}},
		{store.AuditFilter{UserID: u2}, []store.AuditEvent{e5, e2}},
		{store.AuditFilter{Type: typ1}, []store.AuditEvent{e4, e2, e1}},
		{store.AuditFilter{Type: typ2}, []store.AuditEvent{e5, e3}},
		{store.AuditFilter{UserID: u1, Type: typ1}, []store.AuditEvent{e4, e1}},
		{store.AuditFilter{UserID: u2, Type: typ2}, []store.AuditEvent{e5}},
		// Since is inclusive, Until exclusive, both to the millisecond.
		{store.AuditFilter{Type: typ1, Since: t2}, []store.AuditEvent{e4, e2}},
		{store.AuditFilter{Type: typ1, Since: t2.Add(ms)}, []store.AuditEvent{e4}},
		{store.AuditFilter{Type: typ1, Until: t2}, []store.AuditEvent{e1}},
		{store.AuditFilter{Type: typ1, Until: t2.Add(ms)}, []store.AuditEvent{e2, e1}},
		{store.AuditFilter{UserID: u1, Since: t1, Until: t3}, []store.AuditEvent{e1}},
		{store.AuditFilter{UserID: u1, Since: t3, Until: t1}, nil},
		{store.AuditFilter{Type: typ2, Since: t0, Until: t0.Add(ms)}, []store.AuditEvent{e3}},
		{store.AuditFilter{UserID: u1, Before: e4.ID}, []store.AuditEvent{e3, e1}},
		{store.AuditFilter{Type: typ1, Before: e2.ID}, []store.AuditEvent{e1}},
		{store.AuditFilter{UserID: u2, Type: typ2, Since: t1, Until: t2, Before: e5.ID + 1}, []store.AuditEvent{e5}},
		{store.AuditFilter{UserID: u1, Type: typ1, Since: t0, Limit: 1}, []store.AuditEvent{e4}},
		{store.AuditFilter{UserID: newID(t, "nobody")}, nil},
		{store.AuditFilter{UserID: u1, Type: typ1, Before: e1.ID}, nil},
	}
	for _, tc := range tests {
		checkAudit(t, s, tc.f, tc.want...)
	}
}

func testListAuditPaging(t *testing.T, s store.Store) {
	user := newID(t, "user")
	es := make([]store.AuditEvent, 7)
	for i := range es {
		es[i] = appendAudit(t, s, store.AuditEvent{Time: baseTime(), Type: "signin.ok", UserID: user})
	}
	f := store.AuditFilter{UserID: user, Limit: 3}
	checkAudit(t, s, f, es[6], es[5], es[4])
	f.Before = es[4].ID
	checkAudit(t, s, f, es[3], es[2], es[1])
	f.Before = es[1].ID
	checkAudit(t, s, f, es[0])
	f.Before = es[0].ID
	checkAudit(t, s, f)
	// Before need not be the ID of a listed event.
	f.Before = es[6].ID + 1000
	checkAudit(t, s, f, es[6], es[5], es[4])
}

func testListAuditLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	user := newID(t, "user")
	const n = 1001 // one more than the cap
	for range n {
		appendAudit(t, s, store.AuditEvent{Time: baseTime(), Type: "token.refreshed", UserID: user})
	}
	// Limit <= 0 means 100; no page is longer than 1000, whatever the
	// caller asks.
	for _, tc := range []struct{ limit, want int }{
		{0, 100}, {-1, 100}, {1, 1}, {100, 100}, {101, 101}, {999, 999}, {1000, 1000}, {1001, 1000}, {1 << 30, 1000},
	} {
		got, err := s.ListAudit(ctx, store.AuditFilter{UserID: user, Limit: tc.limit})
		if err != nil {
			t.Fatalf("ListAudit(Limit %d): %v", tc.limit, err)
		}
		if len(got) != tc.want {
			t.Errorf("ListAudit(Limit %d) returned %d events, want %d", tc.limit, len(got), tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID >= got[i-1].ID {
				t.Fatalf("ListAudit(Limit %d): ID %d after %d, want newest first", tc.limit, got[i].ID, got[i-1].ID)
			}
		}
	}
}
