package main

import (
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name          string
		in            []float64
		p50, p90, p99 float64
	}{
		{"one", []float64{7}, 7, 7, 7},
		{"two", []float64{10, 20}, 15, 19, 19.9},
		{"unsorted", []float64{5, 1, 4, 2, 3}, 3, 4.6, 4.96},
		{"1 to 101", seq(1, 101), 51, 91, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := summarize(tc.in)
			for _, c := range []struct {
				what      string
				got, want float64
			}{{"p50", d.P50, tc.p50}, {"p90", d.P90, tc.p90}, {"p99", d.P99, tc.p99}} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
			if d.N != len(tc.in) {
				t.Errorf("N = %d", d.N)
			}
		})
	}
	if d := summarize(nil); d.N != 0 {
		t.Errorf("empty sample: %+v", d)
	}
}

func seq(a, b int) []float64 {
	var out []float64
	for i := a; i <= b; i++ {
		out = append(out, float64(i))
	}
	return out
}

func TestHistogramQuantile(t *testing.T) {
	// 10 observations: 4 in (0, .1], 4 in (.1, .2], 2 in (.2, .5].
	h := histogram{Count: 10, Sum: 1.7, Buckets: map[float64]uint64{.1: 4, .2: 8, .5: 10, math.Inf(1): 10}}
	for _, tc := range []struct{ q, want float64 }{{.2, .05}, {.5, .125}, {.9, .35}} {
		if got := h.quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	before := histogram{Count: 4, Sum: .2, Buckets: map[float64]uint64{.1: 4, .2: 4, .5: 4, math.Inf(1): 4}}
	d := h.sub(before)
	if d.Count != 6 || math.Abs(d.Sum-1.5) > 1e-9 || d.Buckets[.1] != 0 || d.Buckets[.2] != 4 {
		t.Errorf("sub: %+v", d)
	}
	if !math.IsNaN((histogram{}).quantile(.5)) {
		t.Error("an empty histogram has no quantile")
	}
}

func TestStartHistograms(t *testing.T) {
	text := `# HELP codeexec_container_start_seconds Time to create, start, warm and pause a container, by language.
# TYPE codeexec_container_start_seconds histogram
codeexec_container_start_seconds_bucket{language="python",le="0.1"} 1
codeexec_container_start_seconds_bucket{language="python",le="0.2"} 3
codeexec_container_start_seconds_bucket{language="python",le="+Inf"} 4
codeexec_container_start_seconds_sum{language="python"} 1.1
codeexec_container_start_seconds_count{language="python"} 4
`
	sc, err := parseScrape(text, metricStart, metricClaim)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc[metricClaim]) != 0 {
		t.Errorf("claim histogram should be empty: %+v", sc[metricClaim])
	}
	hs := sc[metricStart]
	h, ok := hs["python"]
	if !ok || h.Count != 4 || h.Sum != 1.1 || h.Buckets[.2] != 3 {
		t.Fatalf("got %+v", hs)
	}
}

func TestExpandAndScript(t *testing.T) {
	l := &config.Language{Name: "java", Source: "Main.java", Prepare: "true",
		Compile: []string{"javac", "-d", ".", "{sources}"}, Run: []string{"java", "-cp", ".", "{entryBase}"}}
	if got := strings.Join(expand(l.Run, l.Source), " "); got != "java -cp . Main" {
		t.Errorf("expand run: %q", got)
	}
	want := "set -e\ntrue\nmkdir -p /tmp/box && cd /tmp/box\nprintf '%s' \"$CODEEXEC_CODE\" > 'Main.java'\n" +
		"'javac' '-d' '.' 'Main.java' >&2\nexec 'java' '-cp' '.' 'Main'\n"
	if got := coldScript(l); got != want {
		t.Errorf("script:\n%s\nwant:\n%s", got, want)
	}
	if got := shQuote("it's"); got != `'it'\''s'` {
		t.Errorf("shQuote: %s", got)
	}
}

func TestAbsPathIn(t *testing.T) {
	for in, want := range map[string]string{
		"-J-XX:SharedArchiveFile=/opt/cds/javac.jsa": "/opt/cds/javac.jsa",
		"/usr/bin/x": "/usr/bin/x",
		"-O2":        "",
		"{entry}":    "",
		"GOCACHE=x":  "",
	} {
		if got := absPathIn(in); got != want {
			t.Errorf("absPathIn(%q) = %q, want %q", in, got, want)
		}
	}
}

// The chart must be well-formed XML, whatever the numbers (an empty sweep, a missing floor).
func TestChartIsXML(t *testing.T) {
	floor := Dist{N: 3, P50: 15}
	full := &Report{Started: time.Now(), Settings: Settings{SweepLanguage: "python"},
		Languages: []LangResult{{Language: "python", API: Dist{P50: 40}, Cold: Dist{P50: 300}, Floor: &floor},
			{Language: "ruby", API: Dist{P50: 90}, Cold: Dist{P50: 400}}},
		Sweep: []SweepPoint{{Clients: 1, Throughput: 10, Latency: Dist{P50: 50, P99: 80}},
			{Clients: 8, Throughput: 12, Latency: Dist{P50: 600, P99: 900}}},
		ChurnCeiling: 14}
	for name, r := range map[string]*Report{"full": full, "empty": {Started: time.Now()}} {
		t.Run(name, func(t *testing.T) {
			b := chart(r)
			dec := xml.NewDecoder(strings.NewReader(string(b)))
			for {
				_, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("not XML: %v\n%s", err, b)
				}
			}
			if strings.Contains(string(b), "NaN") {
				t.Errorf("NaN in the chart:\n%s", b)
			}
		})
	}
}

func TestPlanFloorDropsImageOnlyFiles(t *testing.T) {
	l := &config.Language{Name: "x", Source: "main.x",
		Run: []string{"sh", "--snapshot-blob", "/nonexistent/node.blob", "-XX:Archive=/nonexistent/a.jsa", "-e", "{entry}"}}
	fp := planFloor(l, floorImage{}, t.TempDir())
	if fp.Missing != "" {
		t.Fatal(fp.Missing)
	}
	got := strings.Join(fp.steps[0][1:], " ")
	if got != "-e main.x" {
		t.Errorf("host command %q, want the flag and both image-only files dropped: -e main.x", got)
	}
	if d := strings.Join(fp.Dropped, " "); d != "--snapshot-blob /nonexistent/node.blob -XX:Archive=/nonexistent/a.jsa" {
		t.Errorf("dropped %q", d)
	}
}

// A file the image copies from its definition is the same file on the host, not a dropped one.
func TestPlanFloorTakesCopiedFilesFromTheDefinition(t *testing.T) {
	def := imageDefinition(t, map[string]string{
		"Dockerfile": "FROM x\nCOPY decl.d.ts /nonexistent/decl.d.ts\nCOPY --from=b /a /nonexistent/other\n",
		"decl.d.ts":  "",
	})
	l := &config.Language{Name: "x", Source: "main.x", Run: []string{"sh", "{entry}", "/nonexistent/decl.d.ts", "/nonexistent/other"}}
	fp := planFloor(l, floorImage{dir: def}, t.TempDir())
	want := "main.x " + filepath.Join(def, "decl.d.ts")
	if got := strings.Join(fp.steps[0][1:], " "); got != want {
		t.Errorf("host command %q, want %q", got, want)
	}
	if d := strings.Join(fp.Dropped, " "); d != "/nonexistent/other" {
		t.Errorf("dropped %q, want the file copied from another stage", d)
	}
}

// A language run through the shell reports its version from the image's version command, not
// the shell's (dash refuses --version).
func TestPlanFloorVersionOfAShellRunLanguage(t *testing.T) {
	def := imageDefinition(t, map[string]string{"version": "echo 26.2.5.2\n"})
	l := &config.Language{Name: "x", Source: "main.x", Run: []string{"sh", "-c", "exec cat \"$0\"", "{entry}"}}
	fp := planFloor(l, floorImage{dir: def}, t.TempDir())
	if fp.Version != "26.2.5.2 (x's version command)" {
		t.Errorf("version %q", fp.Version)
	}
}

// imageDefinition writes an image definition's folder (images/<name>) of these files.
func imageDefinition(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// With a command in PATH twice, the floor runs the one of the image's version, wherever it is.
func TestFindBinaryPrefersTheImagesVersion(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	for dir, v := range map[string]string{first: "tool 1.95.0", second: "tool 1.63.0"} {
		script := "#!/bin/sh\necho '" + v + "'\n"
		if err := os.WriteFile(filepath.Join(dir, "tool"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", first+string(os.PathListSeparator)+second+string(os.PathListSeparator)+os.Getenv("PATH"))
	for want, dir := range map[string]string{"1.63.0": second, "1.95.0": first, "": first} {
		got, err := findBinary("tool", want)
		if err != nil {
			t.Fatal(err)
		}
		if got != filepath.Join(dir, "tool") {
			t.Errorf("version %q: %s, want the one in %s", want, got, dir)
		}
	}
}

// Issues 12 and 20 are evaluated from the baseline measured in the same run: the API p50 within
// 10 % of the baseline's per language, p99 ≤ 1.5 × p50 at 4, 8 and 16 clients, and throughput
// no lower than the baseline's; without a baseline they are not measurable, not met.
func TestABTargets(t *testing.T) {
	sp := func(clients int, tput, p50, p99 float64) SweepPoint {
		return SweepPoint{Clients: clients, OK: 10, Throughput: tput, Latency: Dist{N: 10, P50: p50, P99: p99}}
	}
	r := &Report{
		Languages: []LangResult{{Language: "python", API: Dist{N: 5, P50: 21}}, {Language: "ruby", API: Dist{N: 5, P50: 60}}},
		Sweep:     []SweepPoint{sp(1, 40, 25, 30), sp(4, 50, 80, 110), sp(8, 50, 160, 300), sp(16, 50, 320, 400)},
		Baseline: &Baseline{Name: "f0c3f00",
			Languages: []BaselineLang{{Language: "python", API: Dist{N: 5, P50: 20}, RatioAPI: 21.0 / 20},
				{Language: "ruby", API: Dist{N: 5, P50: 50}, RatioAPI: 60.0 / 50}},
			Sweep: []SweepPoint{sp(1, 40, 25, 30), sp(4, 49, 80, 200), sp(8, 51, 150, 400), sp(16, 50, 300, 900)}},
	}
	r.Baseline.Compare = compareSweeps(r.Sweep, r.Baseline.Sweep)
	want := map[string]bool{
		"python API p50 ≤ 1.10 × the commit before's, same run":           true,
		"ruby API p50 ≤ 1.10 × the commit before's, same run":             false,
		"python p99 ≤ 1.5 × p50 at 4 clients":                             true,
		"python p99 ≤ 1.5 × p50 at 8 clients":                             false,
		"python p99 ≤ 1.5 × p50 at 16 clients":                            true,
		"python throughput at 4 clients ≥ the commit before's, same run":  true,
		"python throughput at 8 clients ≥ the commit before's, same run":  false,
		"python throughput at 16 clients ≥ the commit before's, same run": true,
	}
	got := abTargets(r, "python")
	if len(got) != len(want) {
		t.Fatalf("%d targets, want %d: %+v", len(got), len(want), got)
	}
	for _, c := range got {
		w, ok := want[c.Target]
		if !ok || c.Met == nil || *c.Met != w {
			t.Errorf("%q: met %v, want %v (known %v)", c.Target, c.Met, w, ok)
		}
		if (c.Issue == 12) != strings.Contains(c.Target, "API p50") || (c.Issue != 12 && c.Issue != 20) {
			t.Errorf("%q: issue %d", c.Target, c.Issue)
		}
	}
	if len(r.Baseline.Compare) != 4 || math.Abs(r.Baseline.Compare[1].ThroughputRatio-50.0/49) > 1e-9 {
		t.Errorf("compare: %+v", r.Baseline.Compare)
	}
	r.Targets = got
	md := markdown(r)
	for _, s := range []string{"## Against f0c3f00, in the same run", "| python | 21.0 | 20.0 | **1.05** |",
		"| 8 | 50.0 | 51.0 | **0.98** | 160 | 300 | 1.88 | 150 | 400 | 2.67 |", "| 20 | python p99 ≤ 1.5 × p50 at 8 clients |"} {
		if !strings.Contains(md, s) {
			t.Errorf("report.md lacks %q:\n%s", s, md)
		}
	}

	r.Baseline = nil
	for _, c := range abTargets(r, "python") {
		needsNone := strings.Contains(c.Target, "1.5 × p50")
		if needsNone && c.Met == nil {
			t.Errorf("%q needs no baseline but was not evaluated", c.Target)
		}
		if !needsNone && c.Met != nil {
			t.Errorf("%q evaluated without a baseline", c.Target)
		}
	}
	if strings.Contains(markdown(r), "## Against") {
		t.Error("an A/B section without a baseline")
	}
}

func TestInTurnAlternates(t *testing.T) {
	a, b := &side{name: "ours"}, &side{name: "base"}
	ss := sides{a, nil, b}.present()
	if got := ss.inTurn(0); got[0] != a || got[1] != b {
		t.Errorf("round 0: %s first", got[0].name)
	}
	if got := ss.inTurn(1); got[0] != b || got[1] != a || ss[0] != a {
		t.Errorf("round 1: %s first (and ours still first in the list: %v)", got[0].name, ss[0] == a)
	}
	if got := (sides{a}).inTurn(1); len(got) != 1 || got[0] != a {
		t.Errorf("alone: %v", got)
	}
}
