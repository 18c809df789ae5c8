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
	timeout                                    time.Duration
	smoke                                      bool
	fleetLang                                  string // -fleet: measure the warm fleet and bursts on this language only
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
	flag.IntVar(&o.warmups, "warmups", 2, "unmeasured rounds per language first (page cache, Go build cache)")
	flag.StringVar(&clients, "clients", "1,2,4,8,16", "concurrency sweep: clients per point")
	flag.DurationVar(&o.pointDur, "duration", 10*time.Second, "length of each sweep point")
	flag.DurationVar(&o.pacedDur, "paced-duration", 30*time.Second, "length of the paced run (its p99 needs a few hundred requests)")
	flag.StringVar(&churnPar, "churn-parallel", "1,2,4,8", "parallel create+start+remove loops for the engine's ceiling")
	flag.DurationVar(&o.churnDur, "churn-duration", 5*time.Second, "length of each churn point")
	flag.StringVar(&o.sweepLang, "sweep-lang", "python", "language of the concurrency sweep")
	flag.IntVar(&o.sweepPool, "sweep-pool", 8, "pool size of the sweep's language (others keep config.yaml's)")
	flag.DurationVar(&o.timeout, "timeout", 40*time.Minute, "give up (and clean up) after this long")
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
		def("warmups", func() { o.warmups = 1 })
		def("duration", func() { o.pointDur = time.Second })
		def("paced-duration", func() { o.pacedDur = time.Second })
		def("churn-duration", func() { o.churnDur = time.Second })
		def("clients", func() { clients = "1,2" })
		def("churn-parallel", func() { churnPar = "1,2" })
		def("sweep-pool", func() { o.sweepPool = 2 })
		def("langs", func() { langs = o.sweepLang })
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

	rep := &Report{Schema: 1, Started: time.Now().UTC(), Smoke: o.smoke}
	rep.Machine = machineInfo(ctx, cli)
	logf("machine: %d cpus, %s, kernel %s, docker %s, runc %s, load %s", rep.Machine.CPUs, rep.Machine.Memory,
		rep.Machine.Kernel, rep.Machine.Docker, rep.Machine.Runc, rep.Machine.LoadStart)

	logf("starting the server (instance %s)", o.instance)
	srv, err := startServer(ctx, serverOptions{binary: o.serverBin, agent: o.agentBin, config: o.config,
		instance: o.instance, langs: o.langs, poolSize: map[string]int{o.sweepLang: o.sweepPool}})
	if err != nil {
		return err
	}
	// Whatever happens next, stop the server and prove nothing of ours is left.
	defer func() {
		serr := srv.stop()
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		left, lerr := ourContainers(cctx, cli, o.instance)
		switch {
		case lerr != nil:
			serr = errors.Join(serr, fmt.Errorf("listing containers after the run: %w", lerr))
		case len(left) > 0:
			removeOurs(cctx, cli, o.instance)
			serr = errors.Join(serr, fmt.Errorf("%d containers were left behind (now removed): %s", len(left), strings.Join(left, ", ")))
		}
		if serr != nil {
			err = errors.Join(err, serr, fmt.Errorf("server log tail:\n%s", srv.logs.tail(2000)))
		}
	}()
	rep.Settings = settingsOf(o, srv.cfg)
	api := newAPIClient(srv.url)
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
	versions, _ := srv.languages(ctx)
	for _, name := range o.langs {
		l := cfg.Languages[name]
		lr := LangResult{Language: name, Image: l.Image}
		for _, v := range versions {
			if v.Name == name {
				lr.Version = v.Version
			}
		}
		if err := measureLang(ctx, o, srv, api, cold, l, cacheDir, tmp, &lr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rep.Languages = append(rep.Languages, lr)
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

	if err := sweep(ctx, o, srv, api, rep); err != nil {
		return err
	}

	if err := srv.waitFull(ctx, time.Minute); err != nil {
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

// measureLang runs hello world sequentially through the API (the pool full before each request,
// so this is the latency of an idle server), then as a fresh container, then on the host.
func measureLang(ctx context.Context, o options, srv *server, api *apiClient, cold *coldRunner, l *config.Language,
	cacheDir, tmp string, lr *LangResult) error {
	code := hello[l.Name]
	fp := planFloor(l, cacheDir)
	lr.FloorVersion, lr.FloorDropped, lr.FloorMissing = fp.Version, fp.Dropped, fp.Missing
	withCLI := dockerCLI()
	what := "API, docker run via the Engine API"
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
	for i := 0; i < o.warmups+o.runs; i++ {
		keep := i >= o.warmups
		if err := srv.waitFull(ctx, time.Minute); err != nil {
			return err
		}
		r := api.execute(ctx, l.Name, code)
		if !r.ok {
			return fmt.Errorf("API run %d: %s", i+1, r.err)
		}
		t0 := time.Now()
		if err := srv.waitFull(ctx, time.Minute); err != nil {
			return err
		}
		if keep {
			lat = append(lat, ms(r.took))
			inside = append(inside, r.runMs+r.compileMs)
			refill = append(refill, ms(time.Since(t0)))
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
	return nil
}

// sweep runs the closed-loop concurrency points, then an open-loop run at half the rate
// reached with 8 clients (or the largest point below), for the "p99 at half that rate".
func sweep(ctx context.Context, o options, srv *server, api *apiClient, rep *Report) error {
	code := hello[o.sweepLang]
	for _, c := range o.clients {
		if err := srv.waitFull(ctx, time.Minute); err != nil {
			return err
		}
		logf("sweep: %s, %d clients for %s", o.sweepLang, c, o.pointDur)
		before, err := srv.scrape(ctx)
		if err != nil {
			return err
		}
		p := closedLoop(ctx, api, o.sweepLang, code, c, o.pointDur)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		after, err := srv.scrape(ctx)
		if err != nil {
			return err
		}
		p.poolDuring(before, after, o.sweepLang)
		rep.Sweep = append(rep.Sweep, p)
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
	if err := srv.waitFull(ctx, time.Minute); err != nil {
		return err
	}
	logf("paced: %s at %.1f requests/s (half of %d clients) for %s", o.sweepLang, rate, ref.Clients, o.pacedDur)
	before, err := srv.scrape(ctx)
	if err != nil {
		return err
	}
	p := paced(ctx, api, o.sweepLang, code, rate, o.pacedDur)
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
