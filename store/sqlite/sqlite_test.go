package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/sqlite"
	"github.com/gatehouse/gatehouse/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openMigrated(t) })
}

func BenchmarkSessionByTokenHash(b *testing.B) {
	storetest.BenchmarkSessionByTokenHash(b, openMigrated(b))
}

func BenchmarkCreateSession(b *testing.B) {
	storetest.BenchmarkCreateSession(b, openMigrated(b))
}

func BenchmarkUpdateSession(b *testing.B) {
	storetest.BenchmarkUpdateSession(b, openMigrated(b))
}

// openMigrated opens a fresh database file, migrated, closed at cleanup.
func openMigrated(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "gatehouse.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestRoles(t *testing.T) { storetest.RunRoles(t, openMigrated(t)) }

func TestResetTokens(t *testing.T) { storetest.RunResetTokens(t, openMigrated(t)) }
