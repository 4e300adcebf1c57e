package main

import (
	"strconv"
	"strings"
)

// benchResult is one line of `go test -bench` output: the metrics by unit
// ("ns/op", "B/op", "allocs/op" and any b.ReportMetric unit).
type benchResult map[string]float64

// benchSet maps "pkg-suffix:BenchmarkName/sub" (GOMAXPROCS suffix removed)
// to its result; the key also works without the package prefix when the
// name is unique, see get.
type benchSet map[string]benchResult

// parseBench reads the standard benchmark output format: a "pkg:" line
// names the package of the lines that follow; a result line is the name,
// the iteration count, then value-unit pairs. A name seen twice (-count)
// keeps its last result.
func parseBench(out string) benchSet {
	set := benchSet{}
	pkg := ""
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p[strings.LastIndex(p, "/")+1:]
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		r := benchResult{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			r[f[i+1]] = v
		}
		set[pkg+":"+name] = r
		set[name] = r
	}
	return set
}

// get returns the value of unit for the benchmark, and whether it exists.
func (s benchSet) get(name, unit string) (float64, bool) {
	r, ok := s[name]
	if !ok {
		return 0, false
	}
	v, ok := r[unit]
	return v, ok
}

// markdownRows reads the rows of the first markdown table in out whose
// header starts with first: each row as its cells, trimmed.
func markdownRows(out, first string) [][]string {
	var rows [][]string
	in := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !in && cells[0] == first:
			in = true
		case in && strings.HasPrefix(cells[0], "---"):
		case in:
			rows = append(rows, cells)
		}
	}
	return rows
}
