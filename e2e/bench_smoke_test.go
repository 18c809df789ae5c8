//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchSmoke runs the benchmark tool (bench/, `make bench`) in its smoke mode: 3 runs per
// mode, 1 s sweep points, python only. It proves that the tool starts its own server, measures
// every part of the report, writes the three files, and leaves no container behind.
func TestBenchSmoke(t *testing.T) {
	_, raw := runBenchSmoke(t)
	var rep struct {
		Smoke   bool `json:"smoke"`
		Machine struct {
			CPUs   int    `json:"cpus"`
			Kernel string `json:"kernel"`
			Docker string `json:"docker"`
			Runc   string `json:"runc"`
		} `json:"machine"`
		Languages []struct {
			Language  string     `json:"language"`
			API       benchDist  `json:"api"`
			DockerRun benchDist  `json:"dockerRun"`
			CLI       *benchDist `json:"dockerCliRun"`
			Floor     *benchDist `json:"floor"`
			Missing   string     `json:"floorMissing"`
		} `json:"languages"`
		Refill []struct {
			Containers int     `json:"containers"`
			MeanMs     float64 `json:"meanMs"`
		} `json:"refill"`
		Sweep []struct {
			Clients    int     `json:"clients"`
			OK         int     `json:"ok"`
			Errors     int     `json:"errors"`
			Throughput float64 `json:"throughputPerSecond"`
			FirstError string  `json:"firstError"`
		} `json:"sweep"`
		Paced *struct {
			OK int `json:"ok"`
		} `json:"paced"`
		Churn []struct {
			Kind   string `json:"kind"`
			Cycles int    `json:"cycles"`
			Errors int    `json:"errors"`
		} `json:"churn"`
		Ceiling     float64 `json:"churnCeilingPerSecond"`
		PoolCeiling float64 `json:"poolCycleCeilingPerSecond"`
		Targets     []any   `json:"targets"`
	}
	if err := json.Unmarshal(raw.data, &rep); err != nil {
		t.Fatalf("report.json: %v\n%s", err, raw.data)
	}
	if !rep.Smoke || rep.Machine.CPUs < 1 || rep.Machine.Kernel == "" || rep.Machine.Docker == "" || rep.Machine.Runc == "" {
		t.Errorf("machine not recorded: %+v", rep.Machine)
	}
	if len(rep.Languages) != 1 || rep.Languages[0].Language != "python" {
		t.Fatalf("languages: %+v", rep.Languages)
	}
	l := rep.Languages[0]
	if l.API.N != 3 || l.API.P50 <= 0 || l.DockerRun.N != 3 || l.DockerRun.P50 <= 0 {
		t.Errorf("python: API %+v, docker run %+v", l.API, l.DockerRun)
	}
	// The docker CLI is installed wherever the tests run (docker.io), so the literal
	// `docker run --rm` is measured too.
	if l.CLI == nil || l.CLI.N != 3 || l.CLI.P50 <= 0 {
		t.Errorf("python: docker CLI run %+v", l.CLI)
	}
	if l.Floor == nil && l.Missing == "" {
		t.Errorf("python: neither a floor nor why there is none")
	}
	if l.Floor != nil && l.Floor.N != 3 {
		t.Errorf("python floor: %+v", l.Floor)
	}
	if len(rep.Refill) != 1 || rep.Refill[0].Containers < 1 || rep.Refill[0].MeanMs <= 0 {
		t.Errorf("refill: %+v", rep.Refill)
	}
	if len(rep.Sweep) != 2 {
		t.Fatalf("sweep: %+v", rep.Sweep)
	}
	for _, p := range rep.Sweep {
		if p.OK < 1 || p.Errors != 0 || p.Throughput <= 0 {
			t.Errorf("sweep point %+v", p)
		}
	}
	if rep.Paced == nil || rep.Paced.OK < 1 {
		t.Errorf("paced: %+v", rep.Paced)
	}
	// Two parallelism levels, each for the engine's cycle and the pool's with and without pause.
	if len(rep.Churn) != 6 || rep.Ceiling <= 0 || rep.PoolCeiling <= 0 {
		t.Errorf("churn: %+v, ceilings %v and %v", rep.Churn, rep.Ceiling, rep.PoolCeiling)
	}
	for _, c := range rep.Churn {
		if c.Cycles < 1 || c.Errors != 0 {
			t.Errorf("churn point %+v", c)
		}
	}
	if len(rep.Targets) == 0 {
		t.Error("no targets evaluated")
	}

	md, err := os.ReadFile(filepath.Join(filepath.Dir(raw.path), "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Hello world", "| python |", "## Concurrency", "## The engine's churn ceiling", "## Pool refill", "chart.svg"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(filepath.Dir(raw.path), "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("chart.svg is not XML: %v", err)
		}
	}
	if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "python") {
		t.Errorf("chart.svg has no python chart")
	}
}

type benchDist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
}

type benchReport struct {
	path string // of report.json
	data []byte
}

// runBenchSmoke builds the bench and runs it with -smoke on python and the given flags; it fails
// the test when the bench fails or leaves a container of any of its instances behind.
func runBenchSmoke(t *testing.T, args ...string) (instance string, rep benchReport) {
	t.Helper()
	bin := filepath.Join(binDir, "codeexec-bench")
	build := exec.Command("go", "build", "-o", bin, "./bench")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the bench: %v\n%s", err, out)
	}
	out := filepath.Join(t.TempDir(), "report")
	instance = fmt.Sprintf("e2e-bench-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		for _, inst := range []string{instance, instance + "-cold", instance + "-base", instance + "-base-cold"} {
			if n := CountContainers(t, inst); n != 0 {
				t.Errorf("the bench left %d containers of instance %s", n, inst)
				RemoveContainers(inst)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-smoke", "-langs", "python", "-instance", instance,
		"-config", filepath.Join(repoRoot, "config.yaml"), "-out", out,
		"-server", filepath.Join(binDir, "codeexec"), "-agent", filepath.Join(binDir, "codeexec-agent")}, args...)...)
	cmd.Dir = repoRoot
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench -smoke %s: %v\n%s", strings.Join(args, " "), err, logs)
	}
	rep.path = filepath.Join(out, "report.json")
	rep.data, err = os.ReadFile(rep.path)
	if err != nil {
		t.Fatal(err)
	}
	return instance, rep
}

// TestBenchSmokeAB runs the smoke bench in its A/B mode (make bench-ab), the baseline being the
// same binaries: a second server of its own instance answers the same interleaved requests and
// sweep points, and the report compares the two and evaluates issues 12 and 20 on them.
func TestBenchSmokeAB(t *testing.T) {
	_, raw := runBenchSmoke(t, "-baseline-server", filepath.Join(binDir, "codeexec"),
		"-baseline-agent", filepath.Join(binDir, "codeexec-agent"), "-baseline-name", "same", "-clients", "1,4")
	var rep struct {
		Schema    int `json:"schema"`
		Languages []struct {
			Language string    `json:"language"`
			API      benchDist `json:"api"`
		} `json:"languages"`
		Sweep []struct {
			Clients int `json:"clients"`
			OK      int `json:"ok"`
		} `json:"sweep"`
		Baseline *struct {
			Name      string `json:"name"`
			Languages []struct {
				Language string    `json:"language"`
				API      benchDist `json:"api"`
				Ratio    float64   `json:"ratioApiP50OursToBaseline"`
			} `json:"languages"`
			Sweep []struct {
				Clients    int     `json:"clients"`
				OK         int     `json:"ok"`
				Errors     int     `json:"errors"`
				Throughput float64 `json:"throughputPerSecond"`
				P99OverP50 float64 `json:"p99OverP50"`
				FirstError string  `json:"firstError"`
			} `json:"sweep"`
			Compare []struct {
				Clients int     `json:"clients"`
				Ratio   float64 `json:"throughputRatioOursToBaseline"`
			} `json:"sweepCompare"`
		} `json:"baseline"`
		Targets []struct {
			Issue  int    `json:"issue"`
			Target string `json:"target"`
			Met    *bool  `json:"met"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(raw.data, &rep); err != nil {
		t.Fatalf("report.json: %v\n%s", err, raw.data)
	}
	b := rep.Baseline
	if rep.Schema != 2 || b == nil || b.Name != "same" {
		t.Fatalf("schema %d, baseline %+v", rep.Schema, b)
	}
	if len(b.Languages) != 1 || b.Languages[0].Language != "python" || b.Languages[0].API.N != 3 ||
		b.Languages[0].API.P50 <= 0 || b.Languages[0].Ratio <= 0 || len(rep.Languages) != 1 || rep.Languages[0].API.N != 3 {
		t.Errorf("baseline languages %+v, ours %+v", b.Languages, rep.Languages)
	}
	if len(b.Sweep) != 2 || len(b.Compare) != 2 || len(rep.Sweep) != 2 {
		t.Fatalf("baseline sweep %+v, compare %+v, ours %+v", b.Sweep, b.Compare, rep.Sweep)
	}
	for i, p := range b.Sweep {
		if p.Clients != rep.Sweep[i].Clients || p.OK < 1 || p.Errors != 0 || p.Throughput <= 0 || p.P99OverP50 < 1 || b.Compare[i].Ratio <= 0 {
			t.Errorf("baseline sweep point %+v, compare %+v", p, b.Compare[i])
		}
	}
	evaluated := map[int]int{}
	for _, tc := range rep.Targets {
		if tc.Met != nil {
			evaluated[tc.Issue]++
		}
	}
	// Issue 12: python's API p50; issue 20: p99/p50 and throughput at 4 clients.
	if evaluated[3] == 0 || evaluated[12] != 1 || evaluated[20] != 2 {
		t.Errorf("targets evaluated per issue: %v\n%+v", evaluated, rep.Targets)
	}
	md, err := os.ReadFile(filepath.Join(filepath.Dir(raw.path), "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Against same, in the same run", "| python |", "## Targets", "| 12 | python API p50", "| 20 | python p99"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}
