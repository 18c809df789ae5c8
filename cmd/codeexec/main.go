// Command codeexec is the CodeExec server: warm pools of sandbox containers behind an HTTP API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/api"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/metrics"
	"github.com/codeexec/codeexec/metrics/execlog"
	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/runner"
)

func main() {
	configPath := flag.String("config", "config.yaml", "configuration file")
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
	if err := run(*configPath); err != nil {
		fmt.Fprintln(os.Stderr, "codeexec:", err)
		os.Exit(1)
	}
}

func run(configPath string) error {
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	if p := os.Getenv("PORT"); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return fmt.Errorf("PORT=%q is not a port number", p)
		}
		cfg.Server.Port = port
	}
	log := newLogger(cfg.Server.LogFormat)
	slog.SetDefault(log)

	// The execution log: MongoDB when DB (or execlog.db) is set, else memory. Opened before the
	// engine is touched, so a malformed DB fails fast; a database that is down now is not fatal:
	// records wait in the writer's buffer until it answers.
	xctx, xcancel := context.WithTimeout(context.Background(), 2*time.Second)
	xlog, err := execlog.Open(xctx, cfg.ExecLog, os.Getenv("DB"), log)
	xcancel()
	if err != nil {
		return err
	}

	engine, err := pool.NewDocker(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := engine.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine does not answer (is dockerd running?): %w", err)
	}
	if err := engine.CheckImages(ctx); err != nil {
		return err
	}
	if n, err := engine.RemoveStale(ctx); err != nil {
		return fmt.Errorf("removing containers left by an earlier run: %w", err)
	} else if n > 0 {
		log.Info("removed containers left by an earlier run", "instance", cfg.Instance, "count", n)
	}

	m := metrics.New()
	if err := xlog.Register(m.Registry); err != nil {
		return err
	}
	targets := map[string]int{}
	for name, l := range cfg.Languages {
		targets[name] = l.PoolSize
	}
	pools := pool.NewManager(engine, targets, cfg.Pool.StartParallel, pool.Options{
		Unpaused:  cfg.Pool.Unpaused,
		ClaimWait: time.Duration(cfg.Pool.ClaimWaitMs) * time.Millisecond,
		Observer:  m,
		Logger:    log,
	})
	m.WatchPools(pools)
	leakCtx, stopLeaks := context.WithCancel(context.Background())
	defer stopLeaks()
	go m.WatchLeaks(leakCtx, engine, pools, 10*time.Second, log)
	run := runner.New(cfg, pools, &logObserver{Metrics: m, log: log}, log)
	srv := api.New(cfg, run, pools, engine, m, log)
	srv.SetExecutionLog(xlog)

	addr := net.JoinHostPort(cfg.Server.Listen, strconv.Itoa(cfg.Server.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = pools.Close(context.Background())
		return err
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("execution log", "store", xlog.Database)
	log.Info("listening", "addr", ln.Addr().String(), "instance", cfg.Instance, "languages", cfg.LanguageNames())

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-serveErr:
		_ = pools.Close(context.Background())
		flushCtx, flushCancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = xlog.Close(flushCtx)
		flushCancel()
		return err
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	}
	// Stop accepting, let running executions finish, then remove every container we made.
	shutCtx, shutCancel := context.WithTimeout(context.Background(), time.Duration(cfg.Server.ShutdownTimeoutMs)*time.Millisecond)
	defer shutCancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		log.Warn("in-flight requests did not finish in time", "err", err)
	}
	// Every execution has been handed to the log; write what is still buffered.
	flushCtx, flushCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer flushCancel()
	if err := xlog.Close(flushCtx); err != nil {
		log.Warn("execution log: flush at shutdown incomplete", "pending", xlog.Pending(), "err", err)
	}
	if err := pools.Close(shutCtx); err != nil {
		log.Warn("closing pools", "err", err)
	}
	// Whatever is still labelled ours (a start that raced the shutdown) goes too.
	cleanCtx, cleanCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cleanCancel()
	if n, err := engine.RemoveStale(cleanCtx); err != nil {
		log.Warn("final clean-up", "err", err)
	} else if n > 0 {
		log.Info("final clean-up removed containers", "count", n)
	}
	log.Info("stopped")
	if errors.Is(<-serveErr, http.ErrServerClosed) {
		return nil
	}
	return nil
}

func newLogger(format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// logObserver writes one log line per execution (no code or output) and feeds the metrics.
type logObserver struct {
	*metrics.Metrics
	log *slog.Logger
}

func (o *logObserver) Finished(r *runner.Result, took time.Duration) {
	o.Metrics.Finished(r, took)
	o.log.Info("execution", "jobId", r.JobID, "language", r.Language, "status", string(r.Status),
		"wallMs", r.Run.WallTimeMs, "cpuMs", r.Run.CPUTimeMs, "memoryBytes", r.Run.MemoryBytes,
		"totalMs", took.Milliseconds())
}
