package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/client"

	"github.com/codeexec/codeexec/config"
)

// The gVisor section: per language, hello through the API of the runc server and of a second
// server whose pools run under runsc, beside a fresh `docker run --rm --runtime=runsc` of the
// same image and flags (copied from the runsc pool) and the program's own time inside the runsc
// container; the pools' container start time under each; and a CPU-bound and a syscall-heavy
// program under both, to show where gVisor's overhead goes. One run of each way per round.

// RuntimeReport is the gVisor section of the report.
type RuntimeReport struct {
	Rounds    int               `json:"rounds"`
	Languages []RuntimeLang     `json:"languages"`
	Programs  []RuntimeProgram  `json:"programs"`
	Start     map[string]Refill `json:"poolStart"` // "runc", "runsc": the pools' start histograms over the section
}

// RuntimeLang is one language's hello under both runtimes.
type RuntimeLang struct {
	Language    string `json:"language"`
	APIRunc     Dist   `json:"apiRunc"`
	APIRunsc    Dist   `json:"apiRunsc"`
	InsideRunsc Dist   `json:"insideRunsc"` // the program's own time (compile + run) in the runsc container
	ColdRunsc   Dist   `json:"coldRunsc"`   // docker run --rm --runtime=runsc, create to removed
	// Per request, its API time under runsc minus its own inside time: our overhead, paired.
	OverInside Dist `json:"apiRunscMinusInsidePerRun"`
	// Targets of issue 16: API p50 under runsc ≤ inside + 15 ms, and ≤ 0.25 × cold.
	OverInsideMs float64 `json:"apiRunscMinusInsideMs"`
	RatioCold    float64 `json:"apiRunscOverColdRunsc"`
	RatioRunc    float64 `json:"apiRunscOverApiRunc"`
}

// RuntimeProgram is a program's own run time (measured by the agent) under both runtimes.
type RuntimeProgram struct {
	Name  string  `json:"name"`
	Runc  Dist    `json:"runc"`
	Runsc Dist    `json:"runsc"`
	Ratio float64 `json:"ratio"` // runsc p50 / runc p50
}

// runtimePrograms spend their time computing, or in system calls (which gVisor's kernel
// serves), and print hello at the end as every bench program does.
var runtimePrograms = []struct{ name, lang, code string }{
	{"cpu-bound (python, 3M additions)", "python", "x = 0\nfor i in range(3_000_000):\n    x += i\nprint('hello')"},
	{"syscall-heavy (python, 20k stat + getppid)", "python", "import os\nfor i in range(20_000):\n    os.stat('/tmp'); os.getppid()\nprint('hello')"},
}

// measureRuntimes starts the runsc server, measures, and stops it.
func measureRuntimes(ctx context.Context, o options, cfg *config.Config, cli *client.Client, runc *server, runcAPI *apiClient) (*RuntimeReport, error) {
	instance := o.instance + "-runsc"
	logf("gVisor: starting a second server under runsc (instance %s)", instance)
	srv, err := startServer(ctx, serverOptions{binary: o.serverBin, agent: o.agentBin, config: o.config,
		instance: instance, langs: o.langs, runtime: "runsc"})
	if err != nil {
		return nil, fmt.Errorf("the runsc server (run `make runsc`): %w", err)
	}
	defer func() {
		if serr := srv.stop(); serr != nil {
			logf("gVisor: stopping the runsc server: %v", serr)
		}
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		removeOurs(cctx, cli, instance)
		removeOurs(cctx, cli, instance+"-cold")
	}()
	api := newAPIClient(srv.url)
	cold := &coldRunner{cli: cli, instance: instance}
	rep := &RuntimeReport{Rounds: o.runsscRuns, Start: map[string]Refill{}}
	beforeRunc, err := runc.scrape(ctx)
	if err != nil {
		return nil, err
	}
	beforeRunsc, err := srv.scrape(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range o.langs {
		l := cfg.Languages[name]
		var a, b, in, c, over []float64
		logf("gVisor: %s: %d rounds of API runc, API runsc, docker run --runtime=runsc", name, o.runsscRuns)
		for i := 0; i < 1+o.runsscRuns; i++ {
			keep := i > 0
			for _, s := range []*server{runc, srv} {
				if err := s.waitFull(ctx, time.Minute); err != nil {
					return nil, err
				}
			}
			r1 := runcAPI.execute(ctx, name, hello[name])
			r2 := api.execute(ctx, name, hello[name])
			if !r1.ok || !r2.ok {
				return nil, fmt.Errorf("%s: runc %q, runsc %q", name, r1.err, r2.err)
			}
			co, err := cold.run(ctx, l, hello[name])
			if err != nil {
				return nil, fmt.Errorf("%s: docker run --runtime=runsc: %w", name, err)
			}
			if keep {
				a, b = append(a, ms(r1.took)), append(b, ms(r2.took))
				in, c = append(in, r2.runMs+r2.compileMs), append(c, ms(co.total))
				over = append(over, ms(r2.took)-r2.runMs-r2.compileMs)
			}
		}
		rl := RuntimeLang{Language: name, APIRunc: summarize(a), APIRunsc: summarize(b), InsideRunsc: summarize(in), ColdRunsc: summarize(c),
			OverInside: summarize(over)}
		rl.OverInsideMs = rl.APIRunsc.P50 - rl.InsideRunsc.P50
		rl.RatioCold = rl.APIRunsc.P50 / rl.ColdRunsc.P50
		rl.RatioRunc = rl.APIRunsc.P50 / rl.APIRunc.P50
		rep.Languages = append(rep.Languages, rl)
	}
	for _, p := range runtimePrograms {
		if cfg.Languages[p.lang] == nil {
			continue
		}
		logf("gVisor: %s: %d rounds under each runtime", p.name, o.runsscRuns)
		var a, b []float64
		for i := 0; i < 1+o.runsscRuns; i++ {
			r1 := runcAPI.execute(ctx, p.lang, p.code)
			r2 := api.execute(ctx, p.lang, p.code)
			if !r1.ok || !r2.ok {
				return nil, fmt.Errorf("%s: runc %q, runsc %q", p.name, r1.err, r2.err)
			}
			if i > 0 {
				a, b = append(a, r1.runMs), append(b, r2.runMs)
			}
		}
		rp := RuntimeProgram{Name: p.name, Runc: summarize(a), Runsc: summarize(b)}
		rp.Ratio = rp.Runsc.P50 / rp.Runc.P50
		rep.Programs = append(rep.Programs, rp)
	}
	afterRunc, err := runc.scrape(ctx)
	if err != nil {
		return nil, err
	}
	afterRunsc, err := srv.scrape(ctx)
	if err != nil {
		return nil, err
	}
	for rt, sc := range map[string][2]scrape{"runc": {beforeRunc, afterRunc}, "runsc": {beforeRunsc, afterRunsc}} {
		var all histogram
		for _, name := range o.langs {
			d := sc[1][metricStart][name].sub(sc[0][metricStart][name])
			all.Count += d.Count
			all.Sum += d.Sum
		}
		rf := Refill{Language: "all", Containers: int(all.Count)}
		if all.Count > 0 {
			rf.MeanMs = 1000 * all.Sum / float64(all.Count)
		}
		rep.Start[rt] = rf
	}
	return rep, nil
}

// runtimeMarkdown is the section's part of report.md.
func runtimeMarkdown(r *RuntimeReport) string {
	if r == nil {
		return ""
	}
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## gVisor (runsc) beside runc\n\n")
	p("%d interleaved rounds per language: API runc, API runsc, `docker run --rm --runtime=runsc`. ", r.Rounds)
	p("Inside = the program's own compile+run time in the runsc container (agent). p50 in ms. ")
	p("*per request*: the p50 over requests of each one's API time minus its own inside time (the same program on both sides).\n\n")
	p("| language | API runc | API runsc | runsc / runc | inside runsc | API − inside (target ≤ 15) | per request | docker run runsc | API / docker run (target ≤ 0.25) |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.Languages {
		p("| %s | %.1f | %.1f | %.2f | %.1f | %.1f %s | %.1f | %.1f | %.3f %s |\n", l.Language, l.APIRunc.P50, l.APIRunsc.P50, l.RatioRunc,
			l.InsideRunsc.P50, l.OverInsideMs, mark(l.OverInsideMs <= 15), l.OverInside.P50, l.ColdRunsc.P50, l.RatioCold, mark(l.RatioCold <= 0.25))
	}
	p("\nWhere the overhead goes (the program's own run time, p50 ms):\n\n| program | runc | runsc | runsc / runc |\n|---|---:|---:|---:|\n")
	for _, g := range r.Programs {
		p("| %s | %.1f | %.1f | %.2f |\n", g.Name, g.Runc.P50, g.Runsc.P50, g.Ratio)
	}
	p("\nPool container start (create, attach, start, warm-up, pause), mean over the section: runc %.0f ms (%d), runsc %.0f ms (%d).\n",
		r.Start["runc"].MeanMs, r.Start["runc"].Containers, r.Start["runsc"].MeanMs, r.Start["runsc"].Containers)
	return b.String()
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}
