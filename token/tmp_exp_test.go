package token

import (
	"encoding/base64"
	"strings"
	"testing"
)

func BenchmarkExpB64(b *testing.B) {
	tok := benchTokens(b)[0].tok
	seg := strings.Split(tok, ".")[1]
	dst := make([]byte, decodedLen(len(seg)))
	enc := base64.RawURLEncoding.Strict()
	b.Run("ours", func(b *testing.B) {
		for b.Loop() {
			decodeSegment(dst, seg)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			var buf [1024]byte
			src := append(buf[:0], seg...)
			enc.Decode(dst, src)
		}
	})
}
