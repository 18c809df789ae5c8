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
	bin := filepath.Join(binDir, "codeexec-bench")
	build := exec.Command("go", "build", "-o", bin, "./bench")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the bench: %v\n%s", err, out)
	}
	out := filepath.Join(t.TempDir(), "report")
	instance := fmt.Sprintf("e2e-bench-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		for _, inst := range []string{instance, instance + "-cold"} {
			if n := CountContainers(t, inst); n != 0 {
				t.Errorf("the bench left %d containers of instance %s", n, inst)
				RemoveContainers(inst)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-smoke", "-langs", "python", "-instance", instance,
		"-config", filepath.Join(repoRoot, "config.yaml"), "-out", out,
		"-server", filepath.Join(binDir, "codeexec"), "-agent", filepath.Join(binDir, "codeexec-agent"))
	cmd.Dir = repoRoot
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench -smoke: %v\n%s", err, logs)
	}

	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
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
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report.json: %v\n%s", err, raw)
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

	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Hello world", "| python |", "## Concurrency", "## The engine's churn ceiling", "## Pool refill", "chart.svg"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(out, "chart.svg"))
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
