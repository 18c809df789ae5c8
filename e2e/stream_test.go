//go:build integration

package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/pool/docker"
	"github.com/codeexec/codeexec/runner"
)

// inProcess builds the core (engine, pools, runner) in the test process over the real engine,
// for what no HTTP endpoint shows yet: the events a sink receives while the program runs.
func inProcess(t *testing.T, langs ...string) (*runner.Runner, *config.Config) {
	t.Helper()
	cfg, err := config.Load(filepath.Join(repoRoot, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Instance = fmt.Sprintf("e2e-stream-%d", time.Now().UnixNano())
	cfg.Pool.Agent = filepath.Join(binDir, "codeexec-agent")
	engine, err := docker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]int{}
	for _, l := range langs {
		targets[l] = 1
	}
	pools := pool.NewManager(engine, targets, cfg.Pool.StartParallel, pool.Options{ClaimWait: time.Minute, Logger: quietLog})
	t.Cleanup(func() {
		_ = pools.Close(context.Background())
		RemoveContainers(cfg.Instance)
	})
	return runner.New(cfg.Server, pools, nopObserver{}, quietLog), cfg
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

type nopObserver struct{}

func (nopObserver) Queued(int)                                           {}
func (nopObserver) Running(int)                                          {}
func (nopObserver) Rejected(string)                                      {}
func (nopObserver) Finished(*runner.Plan, *runner.Result, time.Duration) {}

// Output reaches the sink while the program still runs: the program prints, sleeps, then prints
// the time (by the clock the container shares with the host) just before its second write. The
// first chunk must have reached the sink before that time.
func TestStreamReachesTheSinkWhileTheProgramRuns(t *testing.T) {
	r, cfg := inProcess(t, "python")
	code := "import sys, time\nprint('first', flush=True)\ntime.sleep(0.5)\nprint(time.time_ns(), flush=True)\n"
	p, err := runner.NewPlan(cfg, &runner.Request{Language: "python", Code: []byte(code)})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		firstAt  time.Time
		chunks   []string
		sawStart bool
	)
	res, err := r.Execute(context.Background(), p, runner.SinkFunc(func(ev runner.Event) error {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Type {
		case runner.StageStarted:
			sawStart = true
		case runner.Stdout:
			if firstAt.IsZero() && strings.Contains(string(ev.Data), "first") {
				firstAt = time.Now()
			}
			chunks = append(chunks, string(ev.Data))
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != runner.OK || !sawStart {
		t.Fatalf("status %s (stage event seen: %v), stdout %q stderr %q", res.Status, sawStart, res.Run.Stdout, res.Run.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(res.Run.Stdout)), "\n")
	if len(lines) != 2 || lines[0] != "first" {
		t.Fatalf("stdout %q", res.Run.Stdout)
	}
	secondNs, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	second := time.Unix(0, secondNs)
	if firstAt.IsZero() || !firstAt.Before(second) {
		t.Fatalf("the first chunk reached the sink at %v, the second was written at %v: not streamed (chunks %q)",
			firstAt.Format(time.RFC3339Nano), second.Format(time.RFC3339Nano), chunks)
	}
	if len(chunks) < 2 {
		t.Errorf("stdout arrived in %d chunk(s), want the two writes apart", len(chunks))
	}
}
