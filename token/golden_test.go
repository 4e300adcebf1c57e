package token

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden-*.jwt")

// TestGolden pins the exact bytes Issue writes for the deterministic
// algorithms. Verifiers built from a JWKS (ParseJWKS) accept only this
// header, so a change here breaks every deployed app that verifies
// gatehouse tokens: it needs a deliberate, versioned migration.
func TestGolden(t *testing.T) {
	for _, alg := range []Alg{EdDSA, RS256, HS256} { // ES256 signatures are randomised
		t.Run(string(alg), func(t *testing.T) {
			ks := mustKeySet(t, fixedKey(t, alg))
			got := issue(t, ks, testClaims())
			path := filepath.Join("testdata", "golden-"+strings.ToLower(string(alg))+".jwt")
			if *updateGolden {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != strings.TrimSpace(string(want)) {
				t.Errorf("Issue wrote\n%s\nwant\n%s", got, want)
			}
			if _, err := testVerifier().Verify(ks, strings.TrimSpace(string(want)), testNow()); err != nil {
				t.Error(err)
			}
		})
	}
}
