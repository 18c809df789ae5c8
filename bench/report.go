package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/client"
)

// Report is everything one run measured; report.json is this, report.md and chart.svg show it.
type Report struct {
	Schema    int          `json:"schema"`
	Started   time.Time    `json:"started"`
	Finished  time.Time    `json:"finished"`
	Smoke     bool         `json:"smoke"`
	RunscOnly bool         `json:"runscOnly,omitempty"` // -runsc-only: the gVisor section alone
	Machine   Machine      `json:"machine"`
	Settings  Settings     `json:"settings"`
	Languages []LangResult `json:"languages"`
	Refill    []Refill     `json:"refill"`
	Sweep     []SweepPoint `json:"sweep"`
	Paced     *PacedResult `json:"paced,omitempty"`
	Churn     []ChurnPoint `json:"churn"`
	Live      *Live        `json:"live,omitempty"`
	// ChurnCeiling is the best create+start+remove rate of the churn points, containers/s.
	ChurnCeiling float64 `json:"churnCeilingPerSecond"`
	// PoolCeiling is the best rate of the pool's own container cycle (ChurnPoint.Kind "pool").
	PoolCeiling float64 `json:"poolCycleCeilingPerSecond"`
	// Baseline is another build's server measured in the same run (nil without -baseline-server).
	Baseline *Baseline     `json:"baseline,omitempty"`
	Targets  []TargetCheck `json:"targets"`
	// Runtimes is the gVisor section (bench/runsc.go).
	Runtimes *RuntimeReport `json:"runtimes,omitempty"`
}

// Machine is where the numbers come from.
type Machine struct {
	Hostname       string `json:"hostname"`
	CPUs           int    `json:"cpus"`
	CPUModel       string `json:"cpuModel"`
	Memory         string `json:"memory"`
	Kernel         string `json:"kernel"`
	OS             string `json:"os"`
	Docker         string `json:"docker"`
	DockerAPI      string `json:"dockerApi"`
	Containerd     string `json:"containerd"`
	Runc           string `json:"runc"`
	DefaultRuntime string `json:"defaultRuntime"`
	Cgroup         string `json:"cgroup"`
	StorageDriver  string `json:"storageDriver"`
	// OtherContainers is how many containers not ours were running at the start: other work on
	// the same engine makes the numbers noisy.
	OtherContainers int    `json:"otherContainersRunning"`
	LoadStart       string `json:"loadAverageStart"`
	LoadEnd         string `json:"loadAverageEnd"`
	GoVersion       string `json:"benchGoVersion"`
}

// Settings are the knobs of the run.
type Settings struct {
	Runs          int            `json:"runs"`
	Warmups       int            `json:"warmups"`
	Clients       []int          `json:"clients"`
	PointSeconds  float64        `json:"pointSeconds"`
	ChurnParallel []int          `json:"churnParallel"`
	ChurnSeconds  float64        `json:"churnSeconds"`
	SweepLanguage string         `json:"sweepLanguage"`
	PoolSizes     map[string]any `json:"poolSizes"`
	Server        map[string]any `json:"server"` // the server section of the config the bench ran
	Pool          map[string]any `json:"pool"`
}

// LangResult is hello world in one language, three ways.
type LangResult struct {
	Language string `json:"language"`
	Image    string `json:"image"`
	Version  string `json:"version"`
	// API is the client-side latency of POST /api/v1/execute, pool full before each request.
	API Dist `json:"api"`
	// InSandbox is compile+run wall time as the agent measured it inside the container.
	InSandbox Dist `json:"inSandbox"`
	// Cold is `docker run --rm`: create → removed. ColdToExit stops at the process' exit.
	Cold       Dist `json:"dockerRun"`
	ColdToExit Dist `json:"dockerRunToExit"`
	// CLI is the docker CLI's own `docker run --rm` with the same flags (nil: no CLI here).
	CLI         *Dist   `json:"dockerCliRun,omitempty"`
	RatioAPICLI float64 `json:"ratioApiToDockerCliRun,omitempty"`
	// Floor is the same commands on the bare host, when the runtime is installed there.
	Floor           *Dist    `json:"floor,omitempty"`
	FloorVersion    string   `json:"floorVersion,omitempty"`
	FloorDropped    []string `json:"floorDroppedArgs,omitempty"`
	FloorReplaced   []string `json:"floorFilesFromDefinition,omitempty"` // image path=its source in images/<name>
	FloorMissing    string   `json:"floorMissing,omitempty"`
	RatioAPICold    float64  `json:"ratioApiToDockerRun"`
	APIMinusFloorMs *float64 `json:"apiMinusFloorMs,omitempty"`

	refill Dist // time from an answer until the pool was full again, see Refill
}

// Refill is the pool's replacement of a used container during the sequential API runs.
type Refill struct {
	Language string `json:"language"`
	// From codeexec_container_start_seconds (create, start, warm-up, pause if paused): what the server
	// observed for the containers started while the sequential runs went on, one at a time.
	Containers int     `json:"containers"`
	MeanMs     float64 `json:"meanMs"`
	P50Ms      float64 `json:"p50MsFromBuckets"`
	P90Ms      float64 `json:"p90MsFromBuckets"`
	// Direct is timed by the bench: from receiving an answer until /api/v1/languages shows the
	// pool at its target again.
	Direct Dist `json:"direct"`
}

// TargetCheck is one target of an issue, evaluated on this run.
type TargetCheck struct {
	Issue    int    `json:"issue"` // 0 in reports before schema 2: issue 3
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Limit    string `json:"limit"`
	Met      *bool  `json:"met"` // null: not measurable in this run
	Note     string `json:"note,omitempty"`
}

func machineInfo(ctx context.Context, cli *client.Client) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg()}
	m.Hostname, _ = os.Hostname()
	m.Kernel = readTrim("/proc/sys/kernel/osrelease")
	for _, line := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			m.CPUModel = strings.TrimSpace(v)
			break
		}
	}
	for _, line := range strings.Split(readTrim("/proc/meminfo"), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	for _, line := range strings.Split(readTrim("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			m.OS = strings.Trim(v, `"`)
		}
	}
	if v, err := cli.ServerVersion(ctx); err == nil {
		m.Docker, m.DockerAPI = v.Version, v.APIVersion
		for _, c := range v.Components {
			switch strings.ToLower(c.Name) {
			case "runc":
				m.Runc = c.Version
			case "containerd":
				m.Containerd = c.Version
			}
		}
	}
	if m.Runc == "" {
		if out, err := exec.Command("runc", "--version").Output(); err == nil {
			m.Runc, _, _ = strings.Cut(strings.TrimPrefix(string(out), "runc version "), "\n")
		}
	}
	if info, err := cli.Info(ctx); err == nil {
		m.DefaultRuntime = info.DefaultRuntime
		m.Cgroup = "v" + info.CgroupVersion + " (" + info.CgroupDriver + ")"
		m.StorageDriver = info.Driver
		m.OtherContainers = info.ContainersRunning
	}
	return m
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

func loadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func settingsOf(o options, cfg map[string]any) Settings {
	s := Settings{Runs: o.runs, Warmups: o.warmups, Clients: o.clients, PointSeconds: o.pointDur.Seconds(),
		ChurnParallel: o.churnParallel, ChurnSeconds: o.churnDur.Seconds(), SweepLanguage: o.sweepLang,
		PoolSizes: map[string]any{}}
	s.Server, _ = cfg["server"].(map[string]any)
	s.Pool, _ = cfg["pool"].(map[string]any)
	langs, _ := cfg["languages"].(map[string]any)
	for _, l := range o.langs {
		if lm, ok := langs[l].(map[string]any); ok {
			s.PoolSizes[l] = lm["poolSize"]
		}
	}
	return s
}

// evaluateTargets checks the numbers against the targets of issue 3 (latency against docker run
// and the floor, throughput against the churn ceiling, paced p99), then issues 12 and 20's.
func evaluateTargets(r *Report, sweepLang string) []TargetCheck {
	var out []TargetCheck
	check := func(target, measured, limit string, met bool, note string) {
		out = append(out, TargetCheck{Issue: 3, Target: target, Measured: measured, Limit: limit, Met: &met, Note: note})
	}
	unknown := func(target, why string) {
		out = append(out, TargetCheck{Issue: 3, Target: target, Note: why})
	}
	for _, l := range r.Languages {
		p50 := l.API.P50
		switch l.Language {
		case "python":
			if l.CLI != nil {
				lim := 0.12 * l.CLI.P50
				check("python API p50 ≤ 0.12 × `docker run --rm` (CLI) p50", f1(p50)+" ms", f1(lim)+" ms", p50 <= lim,
					"the target as issue 3 words it")
			} else {
				unknown("python API p50 ≤ 0.12 × `docker run --rm` (CLI) p50", "no docker CLI on this machine")
			}
			lim := 0.12 * l.Cold.P50
			check("python API p50 ≤ 0.12 × docker run via the Engine API p50", f1(p50)+" ms", f1(lim)+" ms", p50 <= lim,
				"stricter: the same container without the CLI's own cost")
			if l.Floor != nil {
				lim := l.Floor.P50 + 20
				check("python API p50 ≤ floor + 20 ms", f1(p50)+" ms", f1(lim)+" ms", p50 <= lim, "")
			} else {
				unknown("python API p50 ≤ floor + 20 ms", l.FloorMissing)
			}
		case "javascript", "ruby":
			t := l.Language + " API p50 ≤ floor + 30 ms"
			if l.Floor != nil {
				lim := l.Floor.P50 + 30
				check(t, f1(p50)+" ms", f1(lim)+" ms", p50 <= lim, "")
			} else {
				unknown(t, l.FloorMissing)
			}
		case "go", "cpp", "java":
			t := l.Language + " API p50 ≤ 1.15 × floor + 30 ms"
			if l.Floor != nil {
				lim := 1.15*l.Floor.P50 + 30
				check(t, f1(p50)+" ms", f1(lim)+" ms", p50 <= lim, "")
			} else {
				unknown(t, l.FloorMissing)
			}
		}
	}
	at8 := pointAt(r.Sweep, 8)
	if at8 != nil && r.ChurnCeiling > 0 {
		lim := 0.8 * r.ChurnCeiling
		check(sweepLang+" throughput at 8 clients ≥ 0.8 × churn ceiling, no errors",
			fmt.Sprintf("%s/s, %d errors, %d × 429", f1(at8.Throughput), at8.Errors, at8.Rejected),
			fmt.Sprintf("%s/s (ceiling %s/s)", f1(lim), f1(r.ChurnCeiling)),
			at8.Throughput >= lim && at8.Errors == 0 && at8.Rejected == 0, "")
	} else {
		unknown(sweepLang+" throughput at 8 clients ≥ 0.8 × churn ceiling", "no 8-client point in this run")
	}
	var idle float64
	for _, l := range r.Languages {
		if l.Language == sweepLang {
			idle = l.API.P50
		}
	}
	if r.Paced != nil && r.Paced.RefClients == 8 && idle > 0 {
		lim := 2 * idle
		check(fmt.Sprintf("%s p99 at half the 8-client rate ≤ 2 × idle p50", sweepLang),
			fmt.Sprintf("%s ms at %s/s", f1(r.Paced.Latency.P99), f1(r.Paced.Rate)), f1(lim)+" ms",
			r.Paced.Latency.P99 <= lim && r.Paced.Errors == 0, "")
	} else {
		unknown(sweepLang+" p99 at half the 8-client rate ≤ 2 × idle p50", "no 8-client point in this run")
	}
	out = append(out, liveTargets(r.Live)...)
	return append(out, abTargets(r, sweepLang)...)
}

func f1(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// writeReport writes the three files into a fresh folder next to out, then puts it in out's
// place, so a failed run never leaves half a report over a good one.
func writeReport(out string, r *Report) error {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".bench-report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	md := markdown(r)
	files := map[string][]byte{"report.json": append(j, '\n'), "report.md": []byte(md)}
	if !r.RunscOnly { // the chart draws the sections -runsc-only leaves out
		files["chart.svg"] = chart(r)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Printf("\nwritten to %s/\n", out)
	return nil
}

// rerender rewrites report.md and chart.svg from report.json, after a change to their layout.
func rerender(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return err
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s/report.json: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(markdown(&r)), 0o644); err != nil {
		return err
	}
	if r.RunscOnly {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "chart.svg"), chart(&r), 0o644)
}

func markdown(r *Report) string {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	title := "CodeExec benchmark"
	if r.Smoke {
		title += " (smoke run: too few samples to mean anything)"
	}
	p("# %s\n\n", title)
	m := r.Machine
	p("Measured %s – %s UTC on `%s`: %d × %s, %s RAM, kernel %s, %s; Docker %s (API %s), containerd %s, runc %s, "+
		"default runtime %s, cgroup %s, storage %s. Load average %s at the start, %s at the end; %d other containers "+
		"were running on the engine at the start.\n\n",
		r.Started.Format("2006-01-02 15:04"), r.Finished.Format("15:04"), m.Hostname, m.CPUs, m.CPUModel, m.Memory,
		m.Kernel, m.OS, m.Docker, m.DockerAPI, m.Containerd, m.Runc, m.DefaultRuntime, m.Cgroup, m.StorageDriver,
		m.LoadStart, m.LoadEnd, m.OtherContainers)
	if r.RunscOnly {
		p("Only the gVisor section was measured (`-runsc-only`).\n")
		b.WriteString(runtimeMarkdown(r.Runtimes))
		return b.String()
	}
	p("![latency by language and against concurrency](chart.svg)\n\n")

	p("## Hello world, sequential (%d runs each, after %d warm-up runs)\n\n", r.Settings.Runs, r.Settings.Warmups)
	p("Milliseconds. **API**: client-side latency of `POST /api/v1/execute` on 127.0.0.1, the pool full before each request " +
		"(an idle server). **in sandbox**: compile+run wall time the agent measured inside the container. " +
		"**docker run**: a fresh container per run with the pool's own flags through the Engine API (create, attach, " +
		"start, wait, remove, as `docker run --rm` does; *to exit* stops before the removal). **CLI**: the docker CLI's " +
		"own `docker run --rm` with the same flags, as a user would type it (it adds the CLI's start and its own API " +
		"calls). **floor**: the same commands on the bare host.\n\n")
	p("| language | API p50 | API p90 | API p99 | in sandbox p50 | docker run p50 | p90 | p99 | to exit p50 | CLI p50 | floor p50 | p90 | p99 | API / docker run | API / CLI | API − floor |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, l := range r.Languages {
		floor, fp90, fp99, minus := "n/a", "", "", "n/a"
		if l.Floor != nil {
			floor, fp90, fp99 = f1(l.Floor.P50), f1(l.Floor.P90), f1(l.Floor.P99)
			minus = fmt.Sprintf("%+.0f", *l.APIMinusFloorMs)
		}
		cli, ratioCLI := "n/a", "n/a"
		if l.CLI != nil {
			cli, ratioCLI = f1(l.CLI.P50), fmt.Sprintf("%.2f", l.RatioAPICLI)
		}
		p("| %s | **%s** | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s |\n", l.Language,
			f1(l.API.P50), f1(l.API.P90), f1(l.API.P99), f1(l.InSandbox.P50), f1(l.Cold.P50), f1(l.Cold.P90),
			f1(l.Cold.P99), f1(l.ColdToExit.P50), cli, floor, fp90, fp99, l.RatioAPICold, ratioCLI, minus)
	}
	p("\nWith %d runs, p99 lies between the two slowest runs.\n\n", r.Settings.Runs)
	p("| language | image version | host runtime (floor) | notes |\n|---|---|---|---|\n")
	for _, l := range r.Languages {
		note := ""
		if l.FloorMissing != "" {
			note = "no floor: " + l.FloorMissing
		}
		if len(l.FloorDropped) > 0 {
			note = "on the host without the image-only argument(s) `" + strings.Join(l.FloorDropped, "`, `") + "`"
		}
		if len(l.FloorReplaced) > 0 {
			if note != "" {
				note += "; "
			}
			note += "image files from the image's definition: `" + strings.Join(l.FloorReplaced, "`, `") + "`"
		}
		p("| %s | %s (%s) | %s | %s |\n", l.Language, l.Version, l.Image, l.FloorVersion, note)
	}

	p("\n## Pool refill\n\n")
	p("Per container: **start** is `codeexec_container_start_seconds` (create, attach, start, warm-up, and the pause of " +
		"those that wait paused) for the containers started during the sequential runs, one at a time; **back to full** is " +
		"timed by the bench from receiving an answer until `/api/v1/languages` shows the pool at its target again. While " +
		"other warm containers wait, the replacement starts when the execution ends (so that its start does not compete " +
		"with the program for the CPU), so this is about one whole start.\n\n")
	p("| language | containers | start mean ms | start p50 ms (buckets) | start p90 ms (buckets) | back to full p50 ms | p90 ms |\n|---|--:|--:|--:|--:|--:|--:|\n")
	for _, f := range r.Refill {
		p("| %s | %d | %s | %s | %s | %s | %s |\n", f.Language, f.Containers, f1(f.MeanMs), f1(f.P50Ms), f1(f.P90Ms),
			f1(f.Direct.P50), f1(f.Direct.P90))
	}

	p("\n## Concurrency: %s hello world\n\n", r.Settings.SweepLanguage)
	p("Closed loop: each client sends its next request when the previous answer arrives, %.0f s per point. "+
		"Pool size %v, server %v.\n\n", r.Settings.PointSeconds, r.Settings.PoolSizes[r.Settings.SweepLanguage],
		compactMap(r.Settings.Server, "maxConcurrent", "queueLength", "queueWaitMs"))
	p("Each execution uses up one container, so the pool must start containers as fast as requests come: " +
		"*starts/s*, *start ms* (mean create-to-paused time) and *claim wait* (mean time a request waited for a warm " +
		"container) come from the server's `/metrics` over the same interval and show what bounds the throughput.\n\n")
	p("| clients | requests | ok | 429 | errors | throughput /s | p50 ms | p99 ms | p99/p50 | vs churn ceiling | starts/s | start ms | claim wait ms |\n" +
		"|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.Sweep {
		p("| %d | %d | %d | %d | %d | %s | %s | %s | %.2f | %s | %s | %s | %s |\n", s.Clients, s.Requests, s.OK, s.Rejected, s.Errors,
			f1(s.Throughput), f1(s.Latency.P50), f1(s.Latency.P99), p99OverP50(s), pct(s.Throughput, r.ChurnCeiling),
			f1(s.StartsPerSec), f1(s.StartMeanMs), f1(s.ClaimWaitMean))
	}
	for _, s := range r.Sweep {
		if s.FirstError != "" {
			p("\nFirst error at %d clients: `%s`\n", s.Clients, s.FirstError)
		}
	}
	if q := r.Paced; q != nil {
		p("\nOpen loop at half the %d-client throughput (%s requests/s for %.0f s, a request every %.0f ms whatever the "+
			"answers do): %d requests, %d ok, %d × 429, %d errors; p50 %s ms, p90 %s ms, p99 %s ms.\n",
			q.RefClients, f1(q.Rate), q.Seconds, 1000/q.Rate, q.Requests, q.OK, q.Rejected, q.Errors,
			f1(q.Latency.P50), f1(q.Latency.P90), f1(q.Latency.P99))
	}
	if q := r.Paced; q != nil && q.InSandbox.N > 0 { // older reports lack these
		p("Meanwhile the pool started %s containers/s (%s ms each, the engine's work on the same two cores, with as many "+
			"removals), and the program's own time in the sandbox was p50 %s ms, p90 %s ms, p99 %s ms",
			f1(q.StartsPerSec), f1(q.StartMeanMs), f1(q.InSandbox.P50), f1(q.InSandbox.P90), f1(q.InSandbox.P99))
		var idle *LangResult
		for i := range r.Languages {
			if r.Languages[i].Language == r.Settings.SweepLanguage {
				idle = &r.Languages[i]
			}
		}
		if idle != nil {
			p(" (idle server: p50 %s ms, p99 %s ms): the tail the program itself gains is the CPU it shares with the engine",
				f1(idle.InSandbox.P50), f1(idle.InSandbox.P99))
		}
		p(".\n")
	}

	p("\n## The engine's churn ceiling\n\n")
	p("**engine**: loops of create → start → remove (force) with the %s pool's own flags, the container running `/bin/true`, "+
		"%.0f s per point: the most containers per second this engine can turn over. A service that uses each container "+
		"once cannot sustain more executions per second than this. **pool**: the pool's own cycle with the same flags, "+
		"without a job, as under load (a waiting request takes a container as soon as it is warm): create, attach, start, "+
		"the agent's ready line after its warm-up, remove; the difference is what our warm-up adds. **pool-paused**: the "+
		"same with a pause and an unpause, as for a container that waited paused in an idle pool.\n\n", r.Settings.SweepLanguage, r.Settings.ChurnSeconds)
	p("| cycle | parallel loops | cycles | errors | containers/s | cycle p50 ms | cycle p99 ms |\n|---|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range r.Churn {
		p("| %s | %d | %d | %d | %s | %s | %s |\n", c.Kind, c.Parallel, c.Cycles, c.Errors, f1(c.PerSecond), f1(c.Cycle.P50), f1(c.Cycle.P99))
	}
	for _, c := range r.Churn {
		if c.FirstError != "" {
			p("\nFirst error (%s, %d parallel): `%s`\n", c.Kind, c.Parallel, c.FirstError)
		}
	}
	p("\nCeiling: **%s containers/s** (engine); the pool's cycle reaches %s/s.\n", f1(r.ChurnCeiling), f1(r.PoolCeiling))

	b.WriteString(abMarkdown(r))
	p("%s", liveMarkdown(r.Live))

	p("\n## Targets\n\n| issue | target | measured | limit | met |\n|--:|---|---|---|---|\n")
	for _, t := range r.Targets {
		issue := t.Issue
		if issue == 0 {
			issue = 3
		}
		met := "n/a"
		if t.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*t.Met]
		}
		measured := t.Measured
		switch {
		case t.Note != "" && measured != "":
			measured += " (" + t.Note + ")"
		case t.Note != "":
			measured = t.Note
		}
		p("| %d | %s | %s | %s | %s |\n", issue, t.Target, measured, t.Limit, met)
	}
	b.WriteString(runtimeMarkdown(r.Runtimes))
	return b.String()
}

func pct(v, of float64) string {
	if of <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", 100*v/of)
}

func compactMap(m map[string]any, keys ...string) string {
	var parts []string
	for _, k := range keys {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
