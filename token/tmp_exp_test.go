package token

import (
	"crypto/ed25519"
	"testing"
)

func BenchmarkExp(b *testing.B) {
	bt := benchTokens(b)[0]
	ks := bt.ks
	e := ks.signing
	msg := string(bt.msg)
	b.Run("entry", func(b *testing.B) {
		for b.Loop() {
			if !e.verify(msg, bt.sig) {
				b.Fatal("x")
			}
		}
	})
	pub := bt.key.Public().(ed25519.PublicKey)
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, bt.msg, bt.sig) {
				b.Fatal("x")
			}
		}
	})
	b.Run("rawcopy", func(b *testing.B) {
		for b.Loop() {
			var buf [1536]byte
			if !ed25519.Verify(pub, append(buf[:0], msg...), bt.sig) {
				b.Fatal("x")
			}
		}
	})
	v := testVerifier()
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(ks, bt.tok, testNow()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
