package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// benchSessions is how many sessions BenchmarkSessionByTokenHash looks up
// among, so that the lookup goes through a real index rather than a table
// of one row.
const benchSessions = 1000

// BenchmarkSessionByTokenHash measures the lookup every cookie-authenticated
// request pays: one session by the hash of its token, among
// benchSessions others.
func BenchmarkSessionByTokenHash(b *testing.B, s store.Store) {
	ctx := b.Context()
	u := newUser(b)
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatalf("CreateUser: %v", err)
	}
	hashes := make([][]byte, benchSessions)
	for i := range hashes {
		sess := newSession(b, u.ID, baseTime())
		if err := s.CreateSession(ctx, sess); err != nil {
			b.Fatalf("CreateSession: %v", err)
		}
		hashes[i] = sess.TokenHash
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.SessionByTokenHash(ctx, hashes[i%len(hashes)]); err != nil {
			b.Fatalf("SessionByTokenHash: %v", err)
		}
		i++
	}
}

// BenchmarkCreateSession measures a sign-in's write: one new session.
func BenchmarkCreateSession(b *testing.B, s store.Store) {
	ctx := b.Context()
	u := newUser(b)
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatalf("CreateUser: %v", err)
	}
	prefix := newID(b, "bench")
	tmpl := newSession(b, u.ID, baseTime())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Unique ID and hash without paying for crypto/rand in the loop.
		sess := tmpl
		sess.ID = prefix + "-" + strconv.Itoa(i)
		hash := [32]byte{}
		copy(hash[:], tmpl.TokenHash)
		hash[0], hash[1], hash[2], hash[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		sess.TokenHash = hash[:]
		if err := s.CreateSession(ctx, sess); err != nil {
			b.Fatalf("CreateSession: %v", err)
		}
		i++
	}
}

// BenchmarkUpdateSession measures a refresh: one session's refresh token
// rotated through UpdateSession, the read-modify-write every token
// refresh pays.
func BenchmarkUpdateSession(b *testing.B, s store.Store) {
	ctx := b.Context()
	u := newUser(b)
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatalf("CreateUser: %v", err)
	}
	sess := newTokenSession(b, u.ID, baseTime())
	if err := s.CreateSession(ctx, sess); err != nil {
		b.Fatalf("CreateSession: %v", err)
	}
	hash := [32]byte{}
	copy(hash[:], sess.RefreshHash)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.UpdateSession(ctx, sess.ID, func(cur *store.Session) error {
			// A new hash per generation without paying for crypto/rand.
			g := cur.RefreshGen
			hash[0], hash[1], hash[2], hash[3] = byte(g), byte(g>>8), byte(g>>16), byte(g>>24)
			cur.RefreshHash = hash[:]
			cur.RefreshGen++
			cur.RefreshRotatedAt = cur.RefreshRotatedAt.Add(time.Millisecond)
			return nil
		}); err != nil {
			b.Fatalf("UpdateSession: %v", err)
		}
	}
}
