// Command bench measures CodeExec the way a user would compare it: hello world in every language
// through the HTTP API, beside `docker run --rm` of the same image with the same flags and the
// same program run on the bare host; a concurrency sweep against the engine's own container
// churn ceiling; and the pool's refill time. It starts its own server (own instance name and
// port, 127.0.0.1 only), stops it, checks that no container is left, and writes report.md,
// report.json and chart.svg. `make bench` runs it; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/client"

	"github.com/codeexec/codeexec/config"
)

type options struct {
	config, serverBin, agentBin, out, instance string
	langs                                      []string
	runs, warmups                              int
	clients, churnParallel                     []int
	pointDur, pacedDur, churnDur               time.Duration
	sweepLang                                  string
	sweepPool                                  int
	liveLines, liveRounds                      int
	timeout                                    time.Duration
	smoke                                      bool
	fleetLang                                  string // -fleet: measure the warm fleet and bursts on this language only
	runsscRuns                                 int
	runscOnly                                  bool // only the gVisor section (and the runc server it compares with)
	// A second server from another build (make bench-ab), measured interleaved with ours.
	baselineServer, baselineAgent, baselineName string
}

func main() {
	o := options{}
	var langs, clients, churnPar string
	flag.StringVar(&o.config, "config", "config.yaml", "the repository's config; the bench runs a copy with its own instance, port and pool sizes")
	flag.StringVar(&o.serverBin, "server", "bin/codeexec", "server binary (make build)")
	flag.StringVar(&o.agentBin, "agent", "bin/codeexec-agent", "agent binary (make build)")
	flag.StringVar(&o.out, "out", "bench/results/latest", "folder for report.md, report.json, chart.svg (replaced when the run succeeds)")
	flag.StringVar(&o.instance, "instance", "", "instance name of the bench's server (default bench-<pid>)")
	flag.StringVar(&langs, "langs", "", "comma-separated languages (default: those with a program in bench/measure.go; the others run their image's hello example)")
	flag.IntVar(&o.runs, "runs", 30, "sequential rounds per language, one run of each way per round (API, docker run, docker CLI, host)")
	flag.IntVar(&o.runsscRuns, "runsc-runs", 10, "interleaved rounds of the gVisor section (runc vs runsc); 0 leaves it out")
	flag.BoolVar(&o.runscOnly, "runsc-only", false, "measure only the gVisor section (-runsc-runs rounds, every -langs language); report.md has the machine and that section")
	flag.IntVar(&o.warmups, "warmups", 2, "unmeasured rounds per language first (page cache, Go build cache)")
	flag.StringVar(&clients, "clients", "1,2,4,8,16", "concurrency sweep: clients per point")
	flag.DurationVar(&o.pointDur, "duration", 10*time.Second, "length of each sweep point")
	flag.DurationVar(&o.pacedDur, "paced-duration", 30*time.Second, "length of the paced run (its p99 needs a few hundred requests)")
	flag.StringVar(&churnPar, "churn-parallel", "1,2,4,8", "parallel create+start+remove loops for the engine's ceiling")
	flag.DurationVar(&o.churnDur, "churn-duration", 5*time.Second, "length of each churn point")
	flag.StringVar(&o.sweepLang, "sweep-lang", "python", "language of the concurrency sweep")
	flag.IntVar(&o.sweepPool, "sweep-pool", 8, "pool size of the sweep's language (others keep config.yaml's)")
	flag.IntVar(&o.liveLines, "live-lines", 300, "live output: lines per session (one every 10 ms)")
	flag.IntVar(&o.liveRounds, "live-rounds", 3, "live output: rounds, one session of each way (WebSocket, event stream, host pipe) per round")
	flag.DurationVar(&o.timeout, "timeout", 40*time.Minute, "give up (and clean up) after this long")
	flag.StringVar(&o.baselineServer, "baseline-server", "", "server binary of another build to compare with in the same run, interleaved (make bench-ab)")
	flag.StringVar(&o.baselineAgent, "baseline-agent", "", "agent binary built from the same commit as -baseline-server")
	flag.StringVar(&o.baselineName, "baseline-name", "baseline", "what the report calls the baseline (the commit it was built from)")
	render := flag.String("render", "", "only rewrite report.md and chart.svg of this folder from its report.json (no measuring)")
	flag.StringVar(&o.fleetLang, "fleet", "", "only measure the warm fleet (every language's pool as configured): its idle memory, and bursts on this language (fleet.md)")
	flag.BoolVar(&o.smoke, "smoke", false, "a quick run that proves the tool works: 3 runs, short points, python only unless -langs")
	flag.Parse()
	if *render != "" {
		if err := rerender(*render); err != nil {
			fatal(err)
		}
		return
	}
	if o.smoke {
		// Small defaults; a flag given on the command line still wins.
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("runs", func() { o.runs = 3 })
		def("runsc-runs", func() { o.runsscRuns = 0 })
		def("warmups", func() { o.warmups = 1 })
		def("duration", func() { o.pointDur = time.Second })
		def("paced-duration", func() { o.pacedDur = time.Second })
		def("churn-duration", func() { o.churnDur = time.Second })
		def("clients", func() { clients = "1,2" })
		def("churn-parallel", func() { churnPar = "1,2" })
		def("sweep-pool", func() { o.sweepPool = 2 })
		def("langs", func() { langs = o.sweepLang })
		def("live-lines", func() { o.liveLines = 50 })
		def("live-rounds", func() { o.liveRounds = 1 })
	}
	var err error
	if o.clients, err = intList(clients); err != nil {
		fatal(fmt.Errorf("-clients: %w", err))
	}
	if o.churnParallel, err = intList(churnPar); err != nil {
		fatal(fmt.Errorf("-churn-parallel: %w", err))
	}
	if langs != "" {
		o.langs = strings.Split(langs, ",")
	}
	if o.instance == "" {
		o.instance = fmt.Sprintf("bench-%d", os.Getpid())
	}
	if (o.baselineServer == "") != (o.baselineAgent == "") {
		fatal(errors.New("-baseline-server and -baseline-agent go together: the agent's protocol is the server's"))
	}
	if o.runscOnly && o.runsscRuns < 1 {
		fatal(errors.New("-runsc-only needs -runsc-runs of at least 1"))
	}
	if o.runs < 1 {
		fatal(errors.New("-runs must be at least 1"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func run(ctx context.Context, o options) (err error) {
	cfg, err := config.Load(o.config)
	if err != nil {
		return err
	}
	if o.langs == nil {
		for _, n := range cfg.LanguageNames() {
			if _, ok := hello[n]; ok {
				o.langs = append(o.langs, n)
			}
		}
	}
	// The other languages are measured when -langs names them.
	addExampleHellos(cfg, filepath.Dir(o.config))
	for _, l := range o.langs {
		if _, ok := cfg.Languages[l]; !ok {
			return fmt.Errorf("language %q is not in %s", l, o.config)
		}
		if _, ok := hello[l]; !ok {
			return fmt.Errorf("no hello program for %q: add one to bench/measure.go", l)
		}
	}
	sweepIn := false
	for _, l := range o.langs {
		sweepIn = sweepIn || l == o.sweepLang
	}
	if !sweepIn {
		return fmt.Errorf("the sweep's language %s must be among -langs", o.sweepLang)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	if o.fleetLang != "" {
		return fleet(ctx, o, cfg, cli)
	}

	rep := &Report{Schema: 2, Started: time.Now().UTC(), Smoke: o.smoke}
	rep.Machine = machineInfo(ctx, cli)
	logf("machine: %d cpus, %s, kernel %s, docker %s, runc %s, load %s", rep.Machine.CPUs, rep.Machine.Memory,
		rep.Machine.Kernel, rep.Machine.Docker, rep.Machine.Runc, rep.Machine.LoadStart)

	ours, err := startSide(ctx, cli, o, "ours", o.serverBin, o.agentBin, o.instance)
	if err != nil {
		return err
	}
	// Whatever happens next, stop the servers and prove nothing of theirs is left.
	defer func() { err = errors.Join(err, ours.close(cli)) }()
	srv := ours.srv
	var base *side
	if o.baselineServer != "" {
		// Same config copy and pool sizes, its own instance and port; started after ours is
		// full so that the two starts do not compete.
		base, err = startSide(ctx, cli, o, o.baselineName, o.baselineServer, o.baselineAgent, o.instance+"-base")
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		defer func() { err = errors.Join(err, base.close(cli)) }()
		rep.Baseline = &Baseline{Name: o.baselineName, Server: o.baselineServer, Agent: o.baselineAgent}
	}
	all := sides{ours, base}.present()
	rep.Settings = settingsOf(o, srv.cfg)
	rep.RunscOnly = o.runscOnly
	if o.runscOnly {
		if rep.Runtimes, err = measureRuntimes(ctx, o, cfg, cli, srv, ours.api); err != nil {
			return fmt.Errorf("gVisor section: %w", err)
		}
		rep.Machine.LoadEnd = loadAvg()
		rep.Finished = time.Now().UTC()
		return writeReport(o.out, rep)
	}
	cold := &coldRunner{cli: cli, instance: o.instance}
	tmp, err := os.MkdirTemp("", "codeexec-bench-floor")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = tmp
	}
	cacheDir = filepath.Join(cacheDir, "codeexec-bench")

	before, err := srv.scrape(ctx)
	if err != nil {
		return err
	}
	for _, name := range o.langs {
		l := cfg.Languages[name]
		lr := LangResult{Language: name, Image: l.Image, Version: ours.version(ctx, name)}
		var bl *BaselineLang
		if base != nil {
			bl = &BaselineLang{Language: name}
			bl.Version = base.version(ctx, name)
		}
		if err := measureLang(ctx, o, all, cold, l, cacheDir, tmp, &lr, bl); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rep.Languages = append(rep.Languages, lr)
		if bl != nil {
			rep.Baseline.Languages = append(rep.Baseline.Languages, *bl)
		}
	}
	after, err := srv.scrape(ctx)
	if err != nil {
		return err
	}
	for _, lr := range rep.Languages {
		rf := Refill{Language: lr.Language, Direct: lr.refill}
		d := after[metricStart][lr.Language].sub(before[metricStart][lr.Language])
		rf.Containers = int(d.Count)
		if d.Count > 0 {
			rf.MeanMs = 1000 * d.Sum / float64(d.Count)
			rf.P50Ms = 1000 * d.quantile(0.5)
			rf.P90Ms = 1000 * d.quantile(0.9)
		}
		rep.Refill = append(rep.Refill, rf)
	}

	if o.runsscRuns > 0 {
		if rep.Runtimes, err = measureRuntimes(ctx, o, cfg, cli, srv, ours.api); err != nil {
			return fmt.Errorf("gVisor section: %w", err)
		}
	}

	logf("live output: %d rounds of %d lines", o.liveRounds, o.liveLines)
	if rep.Live, err = measureLive(ctx, srv.url, o.liveLines, o.liveRounds); err != nil {
		return err
	}

	if err := sweep(ctx, o, all, rep); err != nil {
		return err
	}
	if rep.Baseline != nil {
		rep.Baseline.Compare = compareSweeps(rep.Sweep, rep.Baseline.Sweep)
	}

	if err := all.waitFull(ctx, time.Minute); err != nil {
		return err
	}
	for _, kind := range []string{"engine", "pool", "pool-paused"} {
		for _, par := range o.churnParallel {
			logf("churn (%s cycle): %d parallel loops for %s", kind, par, o.churnDur)
			p, err := cold.churn(ctx, o.sweepLang, kind, par, o.churnDur)
			if err != nil {
				return fmt.Errorf("churn: %w", err)
			}
			rep.Churn = append(rep.Churn, p)
			if kind == "engine" && p.PerSecond > rep.ChurnCeiling {
				rep.ChurnCeiling = p.PerSecond
			}
			if kind == "pool" && p.PerSecond > rep.PoolCeiling {
				rep.PoolCeiling = p.PerSecond
			}
		}
	}

	rep.Machine.LoadEnd = loadAvg()
	rep.Finished = time.Now().UTC()
	rep.Targets = evaluateTargets(rep, o.sweepLang)
	return writeReport(o.out, rep)
}

// scrape reads the pool's histograms from /metrics.
func (s *server) scrape(ctx context.Context) (scrape, error) {
	text, err := s.metrics(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	return parseScrape(text, metricStart, metricClaim)
}

// measureLang runs hello world sequentially through the API (every pool full before each request,
// so this is the latency of an idle server), then as a fresh container, then on the host. With a
// baseline, each round also sends the same request to the baseline's server, the two in
// alternating order, and bl gets its numbers.
func measureLang(ctx context.Context, o options, all sides, cold *coldRunner, l *config.Language,
	cacheDir, tmp string, lr *LangResult, bl *BaselineLang) error {
	code := hello[l.Name]
	img := floorImage{version: lr.Version, dir: filepath.Join(filepath.Dir(o.config), "images", strings.TrimPrefix(l.Image, "codeexec/"))}
	fp := planFloor(l, img, cacheDir)
	lr.FloorVersion, lr.FloorDropped, lr.FloorReplaced, lr.FloorMissing = fp.Version, fp.Dropped, fp.Replaced, fp.Missing
	withCLI := dockerCLI()
	what := "API, docker run via the Engine API"
	if len(all) > 1 {
		what = "API (ours and " + all[1].name + "'s, alternating which goes first), docker run via the Engine API"
	}
	if withCLI {
		what += ", docker CLI"
	}
	if fp.Missing == "" {
		what += ", host (" + fp.Version + ")"
	} else {
		logf("%s: no host floor: %s", l.Name, fp.Missing)
	}
	// The ways are interleaved, one run of each per round, so that a change in the machine's
	// speed during the run (other tenants, CPU frequency) weighs on all of them alike and the
	// ratios hold.
	logf("%s: %d rounds of %s", l.Name, o.runs, what)
	var lat, inside, refill, total, toExit, cli, floor []float64
	var baseLat, baseInside []float64
	for i := 0; i < o.warmups+o.runs; i++ {
		keep := i >= o.warmups
		for _, sd := range all.inTurn(i) {
			// Every pool full, so neither server's refill competes with the measured request.
			if err := all.waitFull(ctx, time.Minute); err != nil {
				return err
			}
			r := sd.api.execute(ctx, l.Name, code)
			if !r.ok {
				return fmt.Errorf("API run %d (%s): %s", i+1, sd.name, r.err)
			}
			t0 := time.Now()
			if err := sd.srv.waitFull(ctx, time.Minute); err != nil {
				return err
			}
			if !keep {
				continue
			}
			if sd == all[0] {
				lat = append(lat, ms(r.took))
				inside = append(inside, r.runMs+r.compileMs)
				refill = append(refill, ms(time.Since(t0)))
			} else {
				baseLat = append(baseLat, ms(r.took))
				baseInside = append(baseInside, r.runMs+r.compileMs)
			}
		}

		c, err := cold.run(ctx, l, code)
		if err != nil {
			return fmt.Errorf("docker run %d: %w", i+1, err)
		}
		if keep {
			total, toExit = append(total, ms(c.total)), append(toExit, ms(c.toExit))
		}

		if withCLI {
			d, err := cold.cliRun(ctx, l, code)
			if err != nil {
				return fmt.Errorf("docker CLI run %d: %w", i+1, err)
			}
			if keep {
				cli = append(cli, ms(d))
			}
		}

		if fp.Missing == "" {
			d, err := runFloor(ctx, fp, l, code, tmp)
			if err != nil {
				return fmt.Errorf("host run %d: %w", i+1, err)
			}
			if keep {
				floor = append(floor, ms(d))
			}
		}
	}
	lr.API, lr.InSandbox = summarize(lat), summarize(inside)
	lr.refill = summarize(refill)
	lr.Cold, lr.ColdToExit = summarize(total), summarize(toExit)
	if withCLI {
		d := summarize(cli)
		lr.CLI = &d
		lr.RatioAPICLI = lr.API.P50 / d.P50
	}
	if fp.Missing == "" {
		f := summarize(floor)
		lr.Floor = &f
	}
	lr.RatioAPICold = lr.API.P50 / lr.Cold.P50
	if lr.Floor != nil {
		d := lr.API.P50 - lr.Floor.P50
		lr.APIMinusFloorMs = &d
	}
	if bl != nil {
		bl.API, bl.InSandbox = summarize(baseLat), summarize(baseInside)
		bl.RatioAPI = lr.API.P50 / bl.API.P50
	}
	return nil
}

// sweep runs the closed-loop concurrency points (each against every server, alternating which goes
// first, the other idle meanwhile), then an open-loop run against ours at half the rate reached
// with 8 clients (or the largest point below), for the "p99 at half that rate".
func sweep(ctx context.Context, o options, all sides, rep *Report) error {
	code := hello[o.sweepLang]
	srv := all[0].srv
	for i, c := range o.clients {
		for _, sd := range all.inTurn(i) {
			if err := all.waitFull(ctx, time.Minute); err != nil {
				return err
			}
			logf("sweep: %s, %d clients for %s (%s)", o.sweepLang, c, o.pointDur, sd.name)
			before, err := sd.srv.scrape(ctx)
			if err != nil {
				return err
			}
			p := closedLoop(ctx, sd.api, o.sweepLang, code, c, o.pointDur)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			after, err := sd.srv.scrape(ctx)
			if err != nil {
				return err
			}
			p.poolDuring(before, after, o.sweepLang)
			if sd == all[0] {
				rep.Sweep = append(rep.Sweep, p)
			} else {
				rep.Baseline.Sweep = append(rep.Baseline.Sweep, p)
			}
		}
	}
	var ref *SweepPoint
	for i := range rep.Sweep {
		if rep.Sweep[i].Clients <= 8 {
			ref = &rep.Sweep[i]
		}
	}
	if ref == nil || ref.Throughput <= 0 {
		return nil
	}
	rate := ref.Throughput / 2
	if err := all.waitFull(ctx, time.Minute); err != nil {
		return err
	}
	logf("paced: %s at %.1f requests/s (half of %d clients) for %s", o.sweepLang, rate, ref.Clients, o.pacedDur)
	before, err := srv.scrape(ctx)
	if err != nil {
		return err
	}
	p := paced(ctx, all[0].api, o.sweepLang, code, rate, o.pacedDur)
	p.RefClients = ref.Clients
	after, err := srv.scrape(ctx)
	if err != nil {
		return err
	}
	var pool SweepPoint // only for its reading of the pool's metrics
	pool.Seconds = p.Seconds
	pool.poolDuring(before, after, o.sweepLang)
	p.StartsPerSec, p.StartMeanMs = pool.StartsPerSec, pool.StartMeanMs
	rep.Paced = &p
	return ctx.Err()
}
