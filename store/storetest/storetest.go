// Package storetest is the conformance suite every store backend runs. It
// lives in a non-test package so that each backend's own test file is a few
// lines: build a store, hand it to Run.
//
// Every test makes its own records under fresh random IDs and emails, so
// suites can share one database across runs. Tests that check totals
// (CountUsers, DeleteExpiredSessions, DeleteExpiredRevocations) or what is
// new since a revocation Seq are written to stay exact when nobody else
// writes to the database while they run; run one suite per database at a
// time. RetireKeys retires every key in the store but the one spared, so
// a shared database collects retired keys.
package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// Run runs the whole conformance suite, one subtest per point of the
// contract. newStore is called once per subtest and must return a store
// that is ready for use (migrated, reachable); it owns the store's
// lifetime, so it registers Close with t.Cleanup when that is needed. It
// may return the same store every time.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"CreateUser", testCreateUser},
		{"CreateUserDuplicateID", testCreateUserDuplicateID},
		{"CreateUserDuplicateEmail", testCreateUserDuplicateEmail},
		{"UserNotFound", testUserNotFound},
		{"UserRolesSortedAndDeduplicated", testUserRolesSorted},
		{"UserTimesRoundTrip", testUserTimesRoundTrip},
		{"UserCopies", testUserCopies},
		{"ListUsersOrderAndPaging", testListUsersPaging},
		{"ListUsersEmailPrefix", testListUsersEmailPrefix},
		{"ListUsersDefaultLimit", testListUsersDefaultLimit},
		{"ListUsersAll", testListUsersAll},
		{"CountUsers", testCountUsers},
		{"UpdateUser", testUpdateUser},
		{"UpdateUserNotFound", testUpdateUserNotFound},
		{"UpdateUserFnError", testUpdateUserFnError},
		{"UpdateUserEmailCollision", testUpdateUserEmailCollision},
		{"UpdateUserIDCannotChange", testUpdateUserIDCannotChange},
		{"UpdateUserCopies", testUpdateUserCopies},
		{"CreateSession", testCreateSession},
		{"CreateSessionDuplicateID", testCreateSessionDuplicateID},
		{"CreateSessionDuplicateTokenHash", testCreateSessionDuplicateTokenHash},
		{"SessionNotFound", testSessionNotFound},
		{"SessionTimesRoundTrip", testSessionTimesRoundTrip},
		{"SessionCopies", testSessionCopies},
		{"ListUserSessions", testListUserSessions},
		{"TouchSession", testTouchSession},
		{"DeleteSession", testDeleteSession},
		{"DeleteUserSessions", testDeleteUserSessions},
		{"DeleteUserSessionsExcept", testDeleteUserSessionsExcept},
		{"DeleteExpiredSessions", testDeleteExpiredSessions},
		{"CountSessions", testCountSessions},
		{"SessionRefreshRoundTrip", testSessionRefreshRoundTrip},
		{"UpdateSession", testUpdateSession},
		{"UpdateSessionNotFound", testUpdateSessionNotFound},
		{"UpdateSessionFnError", testUpdateSessionFnError},
		{"UpdateSessionIDCannotChange", testUpdateSessionIDCannotChange},
		{"UpdateSessionTokenHash", testUpdateSessionTokenHash},
		{"UpdateSessionCopies", testUpdateSessionCopies},
		{"CreateKey", testCreateKey},
		{"CreateKeyDuplicate", testCreateKeyDuplicate},
		{"DeleteKey", testDeleteKey},
		{"RetireKeys", testRetireKeys},
		{"AddRevocations", testAddRevocations},
		{"RevocationsSeqIncreasing", testRevocationsSeqIncreasing},
		{"RevocationsSinceExpiry", testRevocationsSinceExpiry},
		{"DeleteExpiredRevocations", testDeleteExpiredRevocations},
		{"AppendAudit", testAppendAudit},
		{"ListAuditFilters", testListAuditFilters},
		{"ListAuditPaging", testListAuditPaging},
		{"ListAuditLimit", testListAuditLimit},
		{"ConcurrentCreateSameEmail", testConcurrentCreateSameEmail},
		{"ConcurrentCreateSameSession", testConcurrentCreateSameSession},
		{"ConcurrentUpdateUser", testConcurrentUpdateUser},
		{"RefreshRotationRace", testRefreshRotationRace},
		{"ConcurrentUpdateSession", testConcurrentUpdateSession},
		{"ConcurrentAddRevocations", testConcurrentAddRevocations},
		{"ConcurrentAppendAudit", testConcurrentAppendAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// newID returns a random identifier with a readable kind prefix. IDs are
// lower case so that an email built from one is already normalised.
func newID(tb testing.TB, kind string) string {
	tb.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return kind + "-" + hex.EncodeToString(b[:])
}

// newTokenHash returns the SHA-256 of a fresh random token, as the session
// layer would store it.
func newTokenHash(tb testing.TB) []byte {
	tb.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	h := sha256.Sum256(b[:])
	return h[:]
}

// baseTime is a fixed instant with sub-millisecond digits and a non-UTC
// zone, so that every round trip exercises both truncation and the
// conversion to UTC.
func baseTime() time.Time {
	return time.Date(2031, time.March, 4, 5, 6, 7, 891234567, time.FixedZone("UTC+3", 3*3600))
}

// newUser returns a valid user that exists nowhere yet.
func newUser(tb testing.TB) store.User {
	tb.Helper()
	id := newID(tb, "user")
	return store.User{
		ID:           id,
		Email:        id + "@example.test",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Roles:        []string{"member"},
		CreatedAt:    baseTime(),
		UpdatedAt:    baseTime().Add(time.Second),
	}
}

// createUser stores a new user and returns it as written.
func createUser(t *testing.T, s store.Store) store.User {
	t.Helper()
	u := newUser(t)
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.ID, err)
	}
	return u
}

// newSession returns a valid session of userID, created at created, that
// exists nowhere yet.
func newSession(tb testing.TB, userID string, created time.Time) store.Session {
	tb.Helper()
	return store.Session{
		ID:            newID(tb, "sess"),
		TokenHash:     newTokenHash(tb),
		UserID:        userID,
		CreatedAt:     created,
		AuthTime:      created,
		LastSeenAt:    created,
		IdleExpiresAt: created.Add(30 * time.Minute),
		ExpiresAt:     created.Add(24 * time.Hour),
		IP:            "192.0.2.1",
		UserAgent:     "storetest/1.0",
	}
}

// createSession stores a new session of userID and returns it as written.
func createSession(t *testing.T, s store.Store, userID string, created time.Time) store.Session {
	t.Helper()
	sess := newSession(t, userID, created)
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession(%q): %v", sess.ID, err)
	}
	return sess
}

// normRoles is what a store must return for the roles it was given:
// sorted, without duplicates.
func normRoles(roles []string) []string {
	out := slices.Clone(roles)
	slices.Sort(out)
	return slices.Compact(out)
}

// timeDiff describes how got differs from want, or returns "". Stores keep
// at least millisecond precision, so anything closer than a millisecond is
// the same instant; the result must be in UTC.
func timeDiff(field string, want, got time.Time) string {
	if got.Location() != time.UTC {
		return fmt.Sprintf("%s: location %v, want UTC", field, got.Location())
	}
	if d := got.Sub(want); d <= -time.Millisecond || d >= time.Millisecond {
		return fmt.Sprintf("%s: got %v, want %v (off by %v)", field, got, want.UTC(), d)
	}
	return ""
}

// userDiff describes how got differs from want, or returns "".
func userDiff(want, got store.User) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID: got %q, want %q", got.ID, want.ID))
	}
	if got.Email != want.Email {
		d = append(d, fmt.Sprintf("Email: got %q, want %q", got.Email, want.Email))
	}
	if got.PasswordHash != want.PasswordHash {
		d = append(d, fmt.Sprintf("PasswordHash: got %q, want %q", got.PasswordHash, want.PasswordHash))
	}
	if wr := normRoles(want.Roles); !slices.Equal(got.Roles, wr) {
		d = append(d, fmt.Sprintf("Roles: got %q, want %q", got.Roles, wr))
	}
	if got.Disabled != want.Disabled {
		d = append(d, fmt.Sprintf("Disabled: got %v, want %v", got.Disabled, want.Disabled))
	}
	d = appendNonEmpty(d,
		timeDiff("CreatedAt", want.CreatedAt, got.CreatedAt),
		timeDiff("UpdatedAt", want.UpdatedAt, got.UpdatedAt))
	return strings.Join(d, "; ")
}

// sessionDiff describes how got differs from want, or returns "".
func sessionDiff(want, got store.Session) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID: got %q, want %q", got.ID, want.ID))
	}
	if string(got.TokenHash) != string(want.TokenHash) {
		d = append(d, fmt.Sprintf("TokenHash: got %x, want %x", got.TokenHash, want.TokenHash))
	}
	if got.UserID != want.UserID {
		d = append(d, fmt.Sprintf("UserID: got %q, want %q", got.UserID, want.UserID))
	}
	if got.IP != want.IP {
		d = append(d, fmt.Sprintf("IP: got %q, want %q", got.IP, want.IP))
	}
	if got.UserAgent != want.UserAgent {
		d = append(d, fmt.Sprintf("UserAgent: got %q, want %q", got.UserAgent, want.UserAgent))
	}
	// No refresh token is nil, whether it was written as nil or as empty.
	if len(want.RefreshHash) == 0 && got.RefreshHash != nil {
		d = append(d, fmt.Sprintf("RefreshHash: got %#v, want nil", got.RefreshHash))
	} else if string(got.RefreshHash) != string(want.RefreshHash) {
		d = append(d, fmt.Sprintf("RefreshHash: got %x, want %x", got.RefreshHash, want.RefreshHash))
	}
	if got.RefreshGen != want.RefreshGen {
		d = append(d, fmt.Sprintf("RefreshGen: got %d, want %d", got.RefreshGen, want.RefreshGen))
	}
	d = appendNonEmpty(d,
		timeDiff("CreatedAt", want.CreatedAt, got.CreatedAt),
		timeDiff("AuthTime", want.AuthTime, got.AuthTime),
		timeDiff("LastSeenAt", want.LastSeenAt, got.LastSeenAt),
		timeDiff("IdleExpiresAt", want.IdleExpiresAt, got.IdleExpiresAt),
		timeDiff("ExpiresAt", want.ExpiresAt, got.ExpiresAt),
		timeDiff("RefreshRotatedAt", want.RefreshRotatedAt, got.RefreshRotatedAt))
	return strings.Join(d, "; ")
}

func appendNonEmpty(d []string, ss ...string) []string {
	for _, s := range ss {
		if s != "" {
			d = append(d, s)
		}
	}
	return d
}

// checkUser fails the test unless the stored user id equals want.
func checkUser(t *testing.T, s store.Store, want store.User) {
	t.Helper()
	got, err := s.UserByID(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("UserByID(%q): %v", want.ID, err)
	}
	if d := userDiff(want, got); d != "" {
		t.Errorf("UserByID(%q): %s", want.ID, d)
	}
}

// checkSession fails the test unless the stored session equals want.
func checkSession(t *testing.T, s store.Store, want store.Session) {
	t.Helper()
	got, err := s.SessionByID(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("SessionByID(%q): %v", want.ID, err)
	}
	if d := sessionDiff(want, got); d != "" {
		t.Errorf("SessionByID(%q): %s", want.ID, d)
	}
}

// ids returns the IDs of users or sessions, in order.
func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func userID(u store.User) string       { return u.ID }
func sessionID(s store.Session) string { return s.ID }
