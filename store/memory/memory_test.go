package memory_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/memory"
	"github.com/gatehouse/gatehouse/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memory.New() })
}

func BenchmarkSessionByTokenHash(b *testing.B) {
	storetest.BenchmarkSessionByTokenHash(b, memory.New())
}

func BenchmarkCreateSession(b *testing.B) {
	storetest.BenchmarkCreateSession(b, memory.New())
}

func BenchmarkUpdateSession(b *testing.B) {
	storetest.BenchmarkUpdateSession(b, memory.New())
}

func TestRoles(t *testing.T) { storetest.RunRoles(t, memory.New()) }

func TestResetTokens(t *testing.T) { storetest.RunResetTokens(t, memory.New()) }
