// Command codeexec is the CodeExec server: warm pools of sandbox containers behind an HTTP API.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/api"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/execlog"
	"github.com/codeexec/codeexec/metrics"
	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/pool/docker"
	"github.com/codeexec/codeexec/queue"
	"github.com/codeexec/codeexec/runner"
)

func main() {
	configPath := flag.String("config", "config.yaml", "configuration file")
	role := flag.String("role", "all", "all: one process with an embedded queue; api: HTTP only, no Docker; worker: runs the queue's jobs on this host's engine")
	listImages := flag.Bool("list-images", false, "print each language's name and image, then exit (used by make images)")
	flag.Parse()
	if *listImages {
		cfg, err := config.Load(*configPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "codeexec:", err)
			os.Exit(1)
		}
		for _, name := range cfg.LanguageNames() {
			fmt.Println(name, cfg.Languages[name].Image)
		}
		return
	}
	switch *role {
	case roleAll, roleAPI, roleWorker:
	default:
		fmt.Fprintf(os.Stderr, "codeexec: -role %q: use all, api or worker\n", *role)
		os.Exit(2)
	}
	if err := run(*configPath, *role); err != nil {
		fmt.Fprintln(os.Stderr, "codeexec:", err)
		os.Exit(1)
	}
}

// The roles a process plays (README "Scaling out").
const (
	roleAll    = "all"
	roleAPI    = "api"
	roleWorker = "worker"
)

func run(configPath, role string) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Server.LogFormat)
	slog.SetDefault(log)
	// Caught from the start: a signal during start-up cancels it, and what was started is
	// cleaned up like at any shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s := &server{cfg: cfg, log: log, role: role}
	err = s.open(ctx)
	switch {
	case err == nil:
		err = s.serve(ctx)
	case ctx.Err() != nil:
		// Start-up was cut short by the signal, which is not a failure.
		log.Info("shutting down during start-up", "signal", context.Cause(ctx).Error(), "err", err)
		err = nil
	}
	s.shutdown()
	return err
}

// loadConfig reads the config file; env PORT overrides the port, env NATS_URL queue.url.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if p := os.Getenv("PORT"); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("PORT=%q is not a port number", p)
		}
		cfg.Server.Port = port
	}
	// LANGUAGES=python,c,rust serves only those (`make images` builds only theirs).
	if names := os.Getenv("LANGUAGES"); names != "" {
		if err := cfg.Only(strings.Split(names, ",")); err != nil {
			return nil, err
		}
	}
	if u := os.Getenv("NATS_URL"); u != "" {
		cfg.Queue.URL = u
	}
	return cfg, nil
}

func newLogger(format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// server is what run starts and must stop; shutdown stops whatever open got to.
type server struct {
	cfg  *config.Config
	log  *slog.Logger
	role string

	ln        net.Listener
	xlog      *execlog.Log
	engine    *docker.Docker
	pools     *pool.Manager
	stopLeaks context.CancelFunc
	http      *http.Server
	serving   bool
	queue     *queue.Queue
	// stopWorker stops the worker's pulling; workerDone closes when its jobs are finished.
	stopWorker context.CancelFunc
	workerDone chan struct{}
	// stopVersions stops an api process reading the workers' versions.
	stopVersions context.CancelFunc
}

// open binds the port, opens the execution log, and, as the role needs: checks the engine and
// starts the pools, opens the queue, starts the worker.
func (s *server) open(ctx context.Context) error {
	// The port first: when it is taken, nothing else has been started (no container), and the
	// error comes at once.
	addr := net.JoinHostPort(s.cfg.Server.Listen, strconv.Itoa(s.cfg.Server.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln

	// The execution log: MongoDB when DB (or execlog.db) is set, else memory. Opened before the
	// engine is touched, so a malformed DB fails fast; a database that is down now is not fatal:
	// records wait in the writer's buffer until it answers.
	xctx, xcancel := context.WithTimeout(ctx, 2*time.Second)
	s.xlog, err = execlog.Open(xctx, s.cfg.ExecLog, os.Getenv("DB"), s.log)
	xcancel()
	if err != nil {
		return err
	}

	m := metrics.New()
	if err := s.xlog.Register(m.Registry); err != nil {
		return err
	}
	deps := api.Deps{Metrics: m, ExecLog: s.xlog, Log: s.log}
	var exec *runner.Runner
	if s.role != roleAPI {
		if err := s.openEngine(ctx); err != nil {
			return err
		}
		s.startPools(m)
		obs := &observer{metrics: m, xlog: s.xlog, log: s.log}
		exec = runner.New(s.cfg.Server, s.pools, obs, s.log)
		deps.Pools, deps.Engine, deps.Local = s.pools, s.engine, exec
	}
	if err := s.openQueue(ctx, exec); err != nil {
		return err
	}
	deps.Subs = s.queue
	if rl := s.cfg.Server.RateLimit; rl.PerSecond > 0 {
		// One limit across every api process on the queue.
		lim, err := s.queue.RateLimiter(ctx, rl.PerSecond, max(rl.Burst, 1))
		if err != nil {
			return err
		}
		deps.RateLimit = lim
	}
	watchQueue(m, s.queue)
	deps.Exec = queue.Executor{Q: s.queue, TakeWait: time.Duration(s.cfg.Server.QueueWaitMs) * time.Millisecond}
	srv := api.New(s.cfg, deps)
	handler := srv.Handler()
	if s.role == roleWorker {
		handler = srv.ProbesHandler()
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// A client that sends its body too slowly is cut off. (Once the body is read, the
		// server's read deadline no longer applies, so a long execution is not cut.)
		ReadTimeout: time.Duration(s.cfg.Server.ReadTimeoutMs) * time.Millisecond,
		IdleTimeout: time.Duration(s.cfg.Server.IdleTimeoutMs) * time.Millisecond,
		// No WriteTimeout: it runs from the request's start, so it would have to outlast the
		// longest admissible batch (queue wait, then maxBatch × maxTests runs at their maximum
		// limits), hours with the defaults; a client that goes away cancels its execution
		// instead.
	}
	s.http.RegisterOnShutdown(srv.CloseSessions)
	return nil
}

// openQueue connects to the queue (the embedded server when no queue.url is set in role all)
// and, where this process runs jobs, starts the worker.
func (s *server) openQueue(ctx context.Context, exec *runner.Runner) error {
	if s.cfg.Queue.URL == "" && s.role != roleAll {
		return fmt.Errorf("-role %s needs a NATS cluster: set queue.url or env NATS_URL", s.role)
	}
	q, err := queue.Open(ctx, s.cfg.Queue, queue.Options{URL: s.cfg.Queue.URL, Name: s.cfg.Instance, Languages: s.cfg.LanguageNames(), Log: s.log})
	if err != nil {
		return err
	}
	s.queue = q
	where := s.cfg.Queue.URL
	if where == "" {
		where = "embedded, store " + s.cfg.Queue.Dir
	}
	s.log.Info("job queue", "nats", where, "role", s.role)
	if exec == nil {
		// No engine here: the versions are the workers'. Those up now are read before serving.
		s.followVersions(ctx)
		vctx, cancel := context.WithCancel(context.Background())
		s.stopVersions = cancel
		go func() {
			t := time.NewTicker(versionsEvery)
			defer t.Stop()
			for {
				select {
				case <-vctx.Done():
					return
				case <-t.C:
					s.followVersions(vctx)
				}
			}
		}()
		return nil
	}
	versions := map[string]string{}
	for name, l := range s.cfg.Languages {
		versions[name] = l.Version()
	}
	w := &queue.Worker{Q: q, Name: s.cfg.Instance, Exec: exec, Slots: s.cfg.Server.MaxConcurrent, Callback: api.Callback(s.cfg),
		Warm: warmPools{pools: s.pools, failFast: s.role == roleAll}, Versions: versions}
	wctx, cancel := context.WithCancel(context.Background())
	s.stopWorker, s.workerDone = cancel, make(chan struct{})
	go func() {
		defer close(s.workerDone)
		w.Run(wctx)
	}()
	return nil
}

// versionsEvery is how often an api process reads the workers' versions.
const versionsEvery = 2 * time.Second

// followVersions takes each language's version from the workers' heartbeats (any worker's: the
// workers of one deployment run the same images).
func (s *server) followVersions(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, versionsEvery)
	defer cancel()
	workers, err := s.queue.Workers(rctx)
	if err != nil {
		return
	}
	for _, w := range workers {
		for name, v := range w.Versions {
			if l, ok := s.cfg.Languages[name]; ok && v != "" && v != l.Version() {
				l.SetVersion(v)
			}
		}
	}
}

// watchQueue exposes the queue's numbers as metrics.
func watchQueue(m *metrics.Metrics, q *queue.Queue) {
	m.WatchQueue(func(ctx context.Context) metrics.QueueNumbers {
		depths, err := q.Depths(ctx)
		if err != nil {
			return metrics.QueueNumbers{}
		}
		workers, err := q.Workers(ctx)
		if err != nil {
			return metrics.QueueNumbers{}
		}
		n := metrics.QueueNumbers{Up: true}
		for _, d := range depths {
			n.Languages = append(n.Languages, metrics.QueueLanguage{Lang: d.Language, Pending: d.Pending, OldestSeconds: d.Oldest.Seconds()})
		}
		for _, w := range workers {
			n.Workers = append(n.Workers, metrics.QueueWorker{Name: w.Name, Slots: w.Slots, InUse: w.InUse})
		}
		return n
	}, func() metrics.QueueEvents {
		c := &q.Counters
		return metrics.QueueEvents{Published: c.Published.Load(), Acked: c.Acked.Load(), Redelivered: c.Redelivered.Load(), Dead: c.Dead.Load()}
	})
}

// warmPools tells the worker when it can start a language's job: a warm container waits. In
// role all, where no other host could take the job, it also takes a job its pool cannot serve
// (no containers configured, or their starts keep failing), so that it is answered at once as
// unavailable, as without the queue; a worker among others leaves it to them.
type warmPools struct {
	pools    *pool.Manager
	failFast bool
}

func (w warmPools) Warm(lang string) bool {
	p, ok := w.pools.Pool(lang)
	if !ok {
		return false
	}
	st := p.Stats()
	return st.Ready > 0 || w.failFast && (st.Target == 0 || st.LastError != nil)
}

// openEngine connects to the engine, checks it has the images and removes what an earlier run
// of this instance left.
func (s *server) openEngine(ctx context.Context) error {
	engine, err := docker.New(s.cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := engine.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine does not answer (is dockerd running?): %w", err)
	}
	if reg := s.cfg.Pool.Registry; reg != "" {
		// A new host gets its images from the registry; a pull may take minutes.
		pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Minute)
		err := engine.PullMissing(pctx, reg, s.log)
		pcancel()
		if err != nil {
			return err
		}
	}
	versions, err := engine.CheckImages(ctx)
	if err != nil {
		return err
	}
	// The version a language reports is the one its image was built with.
	for _, l := range s.cfg.Languages {
		if v, ok := versions[l.Image]; ok {
			l.SetVersion(v)
		}
	}
	if err := engine.CheckEngine(ctx); err != nil {
		return err
	}
	n, err := engine.RemoveStale(ctx)
	if err != nil {
		return fmt.Errorf("removing containers left by an earlier run: %w", err)
	}
	if n > 0 {
		s.log.Info("removed containers left by an earlier run", "instance", s.cfg.Instance, "count", n)
	}
	s.engine = engine
	return nil
}

// startPools starts a pool per language and the metrics that watch them.
func (s *server) startPools(m *metrics.Metrics) {
	targets := map[string]int{}
	limits := map[string]pool.Limits{}
	for name, l := range s.cfg.Languages {
		targets[name] = l.MinWarm
		if l.MaxWarm > l.MinWarm {
			limits[name] = pool.Limits{Min: l.MinWarm, Max: l.MaxWarm}
		}
	}
	s.pools = pool.NewManager(s.engine, targets, s.cfg.Pool.StartParallel, pool.Options{
		Unpaused:  s.cfg.Pool.Unpaused,
		ClaimWait: time.Duration(s.cfg.Pool.ClaimWaitMs) * time.Millisecond,
		Observer:  m,
		Logger:    s.log,
	})
	if len(limits) > 0 {
		ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
		s.pools.FollowDemand(limits, pool.DemandOptions{
			Budget: s.cfg.Pool.MaxWarm, Interval: ms(s.cfg.Pool.DemandIntervalMs), IdleAfter: ms(s.cfg.Pool.ShrinkAfterMs),
		})
	}
	statuses := make([]string, len(runner.Statuses))
	for i, st := range runner.Statuses {
		statuses[i] = string(st)
	}
	m.WatchPools(s.cfg.LanguageNames(), statuses, func() []metrics.PoolNumbers {
		stats := s.pools.Stats()
		out := make([]metrics.PoolNumbers, len(stats))
		for i, st := range stats {
			out[i] = metrics.PoolNumbers{Lang: st.Lang, Ready: st.Ready, Target: st.Target, Out: st.Out, Starting: st.Starting}
		}
		return out
	})
	var leakCtx context.Context
	leakCtx, s.stopLeaks = context.WithCancel(context.Background())
	go m.WatchLeaks(leakCtx, func(ctx context.Context) (int, error) { return s.pools.Leaked(ctx, s.engine) }, 10*time.Second, s.log)
}

// serve answers requests until a signal (nil) or a failure of the listener.
func (s *server) serve(ctx context.Context) error {
	s.log.Info("execution log", "store", s.xlog.Database)
	s.log.Info("listening", "addr", s.ln.Addr().String(), "instance", s.cfg.Instance, "languages", s.cfg.LanguageNames())
	serveErr := make(chan error, 1)
	s.serving = true
	go func() { serveErr <- s.http.Serve(s.ln) }()
	select {
	case err := <-serveErr:
		// Serve returns nothing else before Shutdown.
		return err
	case <-ctx.Done():
		s.log.Info("shutting down", "signal", context.Cause(ctx).Error())
		return nil
	}
}

// shutdown stops accepting, lets running executions finish, writes the execution log's buffer,
// then removes every container this instance made. It stops only what open started.
func (s *server) shutdown() {
	shutCtx, shutCancel := context.WithTimeout(context.Background(), time.Duration(s.cfg.Server.ShutdownTimeoutMs)*time.Millisecond)
	defer shutCancel()
	switch {
	case s.serving:
		// Closes the listener too.
		if err := s.http.Shutdown(shutCtx); err != nil {
			s.log.Warn("in-flight requests did not finish in time", "err", err)
		}
	case s.ln != nil:
		_ = s.ln.Close()
	}
	if s.stopWorker != nil {
		// No new job is pulled; the running ones finish and store their results.
		s.stopWorker()
		select {
		case <-s.workerDone:
		case <-shutCtx.Done():
			s.log.Warn("jobs still running at the shutdown timeout: the queue gives them to another worker")
		}
	}
	if s.stopVersions != nil {
		s.stopVersions()
	}
	if s.queue != nil {
		s.queue.Close()
	}
	if s.stopLeaks != nil {
		s.stopLeaks()
	}
	if s.xlog != nil {
		// Every execution has been handed to the log; write what is still buffered.
		flushCtx, flushCancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.xlog.Close(flushCtx); err != nil {
			s.log.Warn("execution log: flush at shutdown incomplete", "pending", s.xlog.Pending(), "err", err)
		}
		flushCancel()
	}
	if s.pools == nil {
		return
	}
	if err := s.pools.Close(shutCtx); err != nil {
		s.log.Warn("closing pools", "err", err)
	}
	// Whatever is still labelled ours (a start that raced the shutdown) goes too.
	cleanCtx, cleanCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cleanCancel()
	if n, err := s.engine.RemoveStale(cleanCtx); err != nil {
		s.log.Warn("final clean-up", "err", err)
	} else if n > 0 {
		s.log.Info("final clean-up removed containers", "count", n)
	}
	s.log.Info("stopped")
}

// observer is the runner's Observer: it feeds the metrics, writes one log line per execution
// (never code, stdin or output), and hands the executions that asked for it (saveMetric) to the
// execution log.
type observer struct {
	metrics *metrics.Metrics
	xlog    *execlog.Log
	log     *slog.Logger
}

func (o *observer) Queued(delta int)       { o.metrics.Queued(delta) }
func (o *observer) Running(delta int)      { o.metrics.Running(delta) }
func (o *observer) Rejected(reason string) { o.metrics.Rejected(reason) }

func (o *observer) Finished(p *runner.Plan, r *runner.Result, took time.Duration) {
	o.metrics.Executed(r.Language, string(r.Status), took, r.Run.CPU, r.Run.MemoryBytes, r.Status != runner.CompileError)
	o.log.Info("execution", "jobId", r.JobID, "language", r.Language, "status", string(r.Status),
		"wallMs", runner.Millis(r.Run.Wall), "cpuMs", runner.Millis(r.Run.CPU), "memoryBytes", r.Run.MemoryBytes,
		"totalMs", took.Milliseconds())
	if p.Save {
		o.xlog.Add(execlog.FromResult(p, r))
	}
}
