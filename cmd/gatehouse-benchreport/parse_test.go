package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleBench = `goos: linux
pkg: github.com/gatehouse/gatehouse/token
BenchmarkRatio/EdDSA-2   	     200	     98765 ns/op	         1.020 verify/raw	     512 B/op	       3 allocs/op
BenchmarkVerify/EdDSA-2  	    1000	     50800 ns/op	     504 B/op	       2 allocs/op
BenchmarkRawSignature/EdDSA-2	    1000	     49800 ns/op
BenchmarkGolangJWT/EdDSA-2	    1000	     65100 ns/op	    4000 B/op	      70 allocs/op
pkg: github.com/gatehouse/gatehouse/store/sqlite
BenchmarkScale/sessions=10000-2	 100	 20000 ns/op	 450.0 bytes/session
BenchmarkScale/sessions=1000000-2	 100	 40000 ns/op	 452.0 bytes/session
not a result line
BenchmarkBroken-2 abc 12 ns/op
`

func TestParseBench(t *testing.T) {
	s := parseBench(sampleBench)
	if v, ok := s.get("BenchmarkRatio/EdDSA", "verify/raw"); !ok || v != 1.02 {
		t.Errorf("custom metric: %v %v", v, ok)
	}
	if v, ok := s.get("token:BenchmarkVerify/EdDSA", "allocs/op"); !ok || v != 2 {
		t.Errorf("package-qualified name: %v %v", v, ok)
	}
	if _, ok := s.get("BenchmarkBroken", "ns/op"); ok {
		t.Error("a line with a non-numeric iteration count was taken")
	}
	rows := tokenRows(sampleBench)
	if len(rows) != 1 || rows[0].met != "yes" || !strings.Contains(rows[0].result, "1.02× raw") {
		t.Errorf("token rows: %+v", rows)
	}
	scale := scaleRows(sampleBench)
	if len(scale) != 1 || scale[0].met == "yes" || !strings.Contains(scale[0].result, "2.00×") {
		t.Errorf("scale rows (1M at 2× the 10k lookup must miss the target): %+v", scale)
	}
}

func TestMarkdownRowsAndHarness(t *testing.T) {
	out := "header\n\n| scenario | req/s | ratio to noop | p50 | p99 | errors | requests | duration |\n" +
		"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
		"| noop | 30000 | 1.00 | 1 ms | 5 ms | 0 | 1 | 1s |\n" +
		"| forward-cookie | 27000 | 0.90 | 1 ms | 5 ms | 0 | 1 | 1s |\n" +
		"| me-cookie | 21000 | 0.70 | 1 ms | 5 ms | 0 | 1 | 1s |\n" +
		"| forward-bearer | 27000 | 0.90 | 1 ms | 5 ms | 3 | 1 | 1s |\n\nafter\n| other | table |\n"
	rows := harnessRows(out, "SQLite")
	if len(rows) != 4 {
		t.Fatalf("rows: %+v", rows)
	}
	want := map[string]string{"noop": "", "forward-cookie": "yes", "me-cookie": "**no**", "forward-bearer": "**no**"}
	for _, r := range rows {
		name := strings.Fields(r.measure)[1]
		name = strings.TrimSuffix(name, ",")
		if r.met != want[name] {
			t.Errorf("%s: met %q, want %q", r.measure, r.met, want[name])
		}
	}
}

func TestRewriteKeepsTheRest(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "B.md")
	os.WriteFile(doc, []byte("# B\n\nintro\n\n"+beginMarker+"\nold\n"+endMarker+"\n\n## Details\nkept\n"), 0o644)
	if err := rewrite(doc, "new table\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(doc)
	if s := string(got); strings.Contains(s, "old") || !strings.Contains(s, "new table") || !strings.Contains(s, "## Details\nkept") || !strings.Contains(s, "intro") {
		t.Errorf("rewrite: %q", s)
	}
	os.WriteFile(doc, []byte(endMarker+"\n"+beginMarker), 0o644)
	if rewrite(doc, "x") == nil {
		t.Error("broken markers were not refused")
	}
}

// Forward-auth scenarios are judged against the no-op given the same
// request when the harness measured it.
func TestHarnessForwardBaseline(t *testing.T) {
	out := "| scenario | req/s | ratio to noop | p50 | p99 | errors | requests | duration | ratio to noop-forward |\n" +
		"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
		"| noop | 40000 | 1.00 | 1 ms | 5 ms | 0 | 1 | 1s | 1.25 |\n" +
		"| noop-forward | 32000 | 0.80 | 1 ms | 5 ms | 0 | 1 | 1s | 1.00 |\n" +
		"| forward-cookie | 28000 | 0.70 | 1 ms | 5 ms | 0 | 1 | 1s | 0.88 |\n" +
		"| forward-bearer | 24000 | 0.60 | 1 ms | 5 ms | 0 | 1 | 1s | 0.75 |\n" +
		"| me-cookie | 30000 | 0.75 | 1 ms | 5 ms | 0 | 1 | 1s | 0.94 |\n"
	want := map[string]string{"forward-cookie": "yes", "forward-bearer": "**no**", "me-cookie": "**no**"}
	checked := 0
	for _, r := range harnessRows(out, "SQLite") {
		name := strings.TrimSuffix(strings.Fields(r.measure)[1], ",")
		if w, ok := want[name]; ok {
			checked++
			if r.met != w {
				t.Errorf("%s: met %q, want %q (%s)", name, r.met, w, r.result)
			}
		}
	}
	if checked != len(want) {
		t.Errorf("judged %d of the %d scenarios with a target", checked, len(want))
	}
}
