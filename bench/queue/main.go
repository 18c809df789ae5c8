// Command queue measures what the job queue costs and how far one coordinator goes (make bench
// runs it after the main report; bench/README.md):
//
//   - latency: python hello through the HTTP API with and without the queue in the path, on the
//     same warm pools and the same runner, requests interleaved one by one so both see the same
//     machine;
//   - ceiling: the API + embedded NATS path with a worker whose executor answers at once (no
//     Docker), executions per second at 1 to 64 clients.
//
// Everything listens on 127.0.0.1 and runs in this process; it writes bench/results/queue/report.md.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeexec/codeexec/api"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/metrics"
	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/pool/docker"
	"github.com/codeexec/codeexec/queue"
	"github.com/codeexec/codeexec/runner"
)

func main() {
	cfgPath := flag.String("config", "config.yaml", "the repository's config")
	mode := flag.String("mode", "both", "latency (needs Docker and the images), ceiling (no Docker), or both")
	runs := flag.Int("runs", 200, "latency: interleaved rounds (one request each way per round)")
	pause := flag.Duration("pause", 200*time.Millisecond, "latency: idle time after each round, so the pool has refilled (each request uses up a container) and the warm path is what is measured")
	clientList := flag.String("clients", "1,2,4,8,16,32,64", "ceiling: clients per point")
	dur := flag.Duration("duration", 3*time.Second, "ceiling: length of each point")
	out := flag.String("out", "bench/results/queue/report.md", "report file")
	flag.Parse()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fail(err)
	}
	var report strings.Builder
	fmt.Fprintf(&report, "# The job queue's cost and ceiling\n\n%s, `go run ./bench/queue -mode %s`. Everything in one process on 127.0.0.1, embedded NATS (file store).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), *mode)
	if *mode == "latency" || *mode == "both" {
		if err := latency(cfg, *runs, *pause, &report); err != nil {
			fail(err)
		}
	}
	if *mode == "ceiling" || *mode == "both" {
		var clients []int
		for _, c := range strings.Split(*clientList, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil || n < 1 {
				fail(fmt.Errorf("-clients: %q", c))
			}
			clients = append(clients, n)
		}
		if err := ceiling(cfg, clients, *dur, &report); err != nil {
			fail(err)
		}
	}
	fmt.Print(report.String())
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
		err = os.WriteFile(*out, []byte(report.String()), 0o644)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/queue:", err)
	os.Exit(1)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// serve starts an API server on 127.0.0.1 with exec as its execute path.
func serve(cfg *config.Config, exec api.Executor, subs api.Submissions) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	srv := &http.Server{Handler: api.New(cfg, api.Deps{Exec: exec, Subs: subs, Metrics: metrics.New(), Log: quiet}).Handler()}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }
}

// openQueue starts an embedded queue in a temporary folder and a worker on exec.
func openQueue(cfg *config.Config, exec queue.Runner, warm queue.Warm, slots int) (*queue.Queue, func()) {
	dir, err := os.MkdirTemp("", "codeexec-bench-queue")
	if err != nil {
		fail(err)
	}
	qc := cfg.Queue
	qc.URL, qc.Dir, qc.MaxPending = "", dir, 1_000_000
	q, err := queue.Open(context.Background(), qc, queue.Options{Name: "bench", Languages: cfg.LanguageNames(), Log: quiet})
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &queue.Worker{Q: q, Name: "bench", Exec: exec, Warm: warm, Slots: slots}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return q, func() { cancel(); <-done; q.Close(); os.RemoveAll(dir) }
}

var hello = []byte(`{"language":"python","code":"print('hello')"}`)

func post(c *http.Client, url string) (time.Duration, error) {
	begin := time.Now()
	resp, err := c.Post(url+"/api/v1/execute", "application/json", bytes.NewReader(hello))
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(begin)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"stdout":"hello\n"`)) {
		return 0, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	return took, nil
}

// latency: the same runner and pools behind two API servers, one executing in-process, one
// through the queue; requests alternate, the order flipping each round.
func latency(cfg *config.Config, runs int, pause time.Duration, report *strings.Builder) error {
	cfg.Instance = fmt.Sprintf("bench-queue-%d", os.Getpid())
	engine, err := docker.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := engine.Ping(ctx); err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	if err := engine.CheckImages(ctx); err != nil {
		return err
	}
	pools := pool.NewManager(engine, map[string]int{"python": 2}, cfg.Pool.StartParallel, pool.Options{
		Unpaused: cfg.Pool.Unpaused, ClaimWait: time.Duration(cfg.Pool.ClaimWaitMs) * time.Millisecond, Logger: quiet})
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = pools.Close(cctx)
		_, _ = engine.RemoveStale(cctx)
		ccancel()
	}()
	run := runner.New(cfg.Server, pools, nopObserver{}, quiet)
	q, closeQ := openQueue(cfg, run, warmPools{pools}, cfg.Server.MaxConcurrent)
	defer closeQ()
	direct, stopA := serve(cfg, run, nil)
	defer stopA()
	queued, stopB := serve(cfg, queue.Executor{Q: q, TakeWait: 10 * time.Second}, q)
	defer stopB()
	for deadline := time.Now().Add(2 * time.Minute); pools.AllReady() != nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pools not ready: %v", pools.AllReady())
		}
	}
	c := &http.Client{}
	var a, b []float64
	for i := -10; i < runs; i++ { // 10 unmeasured rounds first
		order := []string{direct, queued}
		if i%2 != 0 {
			order[0], order[1] = order[1], order[0]
		}
		for _, url := range order {
			took, err := post(c, url)
			if err != nil {
				return err
			}
			if i < 0 {
				continue
			}
			if url == direct {
				a = append(a, ms(took))
			} else {
				b = append(b, ms(took))
			}
		}
		time.Sleep(pause)
	}
	sort.Float64s(a)
	sort.Float64s(b)
	fmt.Fprintf(report, "## Latency the queue adds (python hello, %d interleaved rounds, %v apart)\n\n", runs, pause)
	fmt.Fprintf(report, "| path | p50 ms | p90 ms | p99 ms |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(report, "| in-process (no queue) | %.2f | %.2f | %.2f |\n", q50(a), quant(a, .9), quant(a, .99))
	fmt.Fprintf(report, "| through the queue (role all) | %.2f | %.2f | %.2f |\n", q50(b), quant(b, .9), quant(b, .99))
	fmt.Fprintf(report, "\nAdded at p50: **%.2f ms** (ratio %.2f; target ≤ 3 ms).\n\n", q50(b)-q50(a), q50(b)/q50(a))
	return nil
}

// ceiling: the API and the queue with a worker that answers at once.
func ceiling(cfg *config.Config, clients []int, dur time.Duration, report *strings.Builder) error {
	q, closeQ := openQueue(cfg, instant{}, always{}, 1024)
	defer closeQ()
	url, stop := serve(cfg, queue.Executor{Q: q, TakeWait: 10 * time.Second}, q)
	defer stop()
	fmt.Fprintf(report, "## The coordinator's ceiling (API + NATS, a worker whose executor answers at once, %v per point)\n\n", dur)
	fmt.Fprintf(report, "| clients | executions/s | p50 ms | p99 ms | errors |\n|---:|---:|---:|---:|---:|\n")
	tr := &http.Transport{MaxIdleConnsPerHost: 128}
	c := &http.Client{Transport: tr}
	best := 0.0
	for _, n := range clients {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var lat []float64
		var errs atomic.Int64
		end := time.Now().Add(dur)
		begin := time.Now()
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []float64
				for time.Now().Before(end) {
					took, err := post(c, url)
					if err != nil {
						errs.Add(1)
						continue
					}
					mine = append(mine, ms(took))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		el := time.Since(begin).Seconds()
		sort.Float64s(lat)
		rate := float64(len(lat)) / el
		best = max(best, rate)
		fmt.Fprintf(report, "| %d | %.0f | %.2f | %.2f | %d |\n", n, rate, q50(lat), quant(lat, .99), errs.Load())
	}
	fmt.Fprintf(report, "\nBest: **%.0f executions/s** (target ≥ 1,000/s).\n\n", best)
	return nil
}

type instant struct{}

func (instant) Execute(_ context.Context, p *runner.Plan, _ runner.Sink) (*runner.Result, error) {
	return &runner.Result{JobID: p.JobID, Language: p.Language, Version: p.Version, Status: runner.OK,
		Run: runner.Step{Status: runner.OK, Stdout: []byte("hello\n")}, TimeLimit: p.TimeLimit, MemoryLimitBytes: p.MemoryBytes}, nil
}

type always struct{}

func (always) Warm(string) bool { return true }

type warmPools struct{ m *pool.Manager }

func (w warmPools) Warm(lang string) bool {
	p, ok := w.m.Pool(lang)
	return ok && p.Stats().Ready > 0
}

type nopObserver struct{}

func (nopObserver) Queued(int)                                           {}
func (nopObserver) Running(int)                                          {}
func (nopObserver) Rejected(string)                                      {}
func (nopObserver) Finished(*runner.Plan, *runner.Result, time.Duration) {}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func q50(s []float64) float64 { return quant(s, .5) }

func quant(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
