package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/pool"
)

// The package itself knows none of the service's types; this test wires the leak detector to
// pool.Manager.Leaked as the server does, so that a container the pools account for is shown
// not to be a leak, end to end.

// engine is a fake pool.Engine and Lister: it lists what it created and did not remove, plus
// strays (containers of this instance that no pool made: the leaks).
type engine struct {
	mu     sync.Mutex
	n      int
	live   map[string]bool
	strays int
}

type ctr string

func (c ctr) ID() string                             { return string(c) }
func (c ctr) Lost() bool                             { return false }
func (c ctr) SetMemory(context.Context, int64) error { return nil }
func (c ctr) Run(context.Context, *agentproto.Job, <-chan agentproto.Input, func(agentproto.Event) error) error {
	return nil
}

func (e *engine) Start(ctx context.Context, lang string) (pool.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	id := fmt.Sprintf("%s-%d", lang, e.n)
	e.live[id] = true
	return ctr(id), nil
}
func (e *engine) Pause(ctx context.Context, c pool.Sandbox) error  { return nil }
func (e *engine) Resume(ctx context.Context, c pool.Sandbox) error { return nil }
func (e *engine) Remove(ctx context.Context, c pool.Sandbox) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.live, c.ID())
	return nil
}
func (e *engine) Owned(ctx context.Context) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for id := range e.live {
		ids = append(ids, id)
	}
	for i := range e.strays {
		ids = append(ids, fmt.Sprintf("stray-%d", i))
	}
	return ids, nil
}

func TestLeakDetector(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &engine{live: map[string]bool{}}
	m := New()
	mgr := pool.NewManager(e, map[string]int{"python": 2}, 1, pool.Options{Unpaused: 1, ClaimWait: 5 * time.Second, Observer: m, Logger: quiet})
	t.Cleanup(func() { _ = mgr.Close(context.Background()) })
	if err := waitReady(mgr); err != nil {
		t.Fatal(err)
	}
	c, err := mgr.Claim(context.Background(), "python")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		strays int
		want   float64
	}{
		{"claimed container is not a leak", 0, 0},
		{"strays are", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.mu.Lock()
			e.strays = tc.strays
			e.mu.Unlock()
			// Wait for the refill, so the counts are quiet.
			if err := waitReady(mgr); err != nil {
				t.Fatal(err)
			}
			m.checkLeaks(context.Background(), func(ctx context.Context) (int, error) { return mgr.Leaked(ctx, e) }, quiet)
			if got := testutil.ToFloat64(m.leaked); got != tc.want {
				t.Fatalf("codeexec_leaked_containers = %v, want %v", got, tc.want)
			}
		})
	}
	mgr.Release("python", c)
	// An engine that does not answer leaves the gauge as it was and counts an error.
	m.checkLeaks(context.Background(), func(context.Context) (int, error) { return 0, errors.New("engine down") }, quiet)
	if got, errs := testutil.ToFloat64(m.leaked), testutil.ToFloat64(m.leakChecks.WithLabelValues("error")); got != 3 || errs != 1 {
		t.Fatalf("after a failed check: leaked %v, error checks %v; want 3 and 1", got, errs)
	}
}

// The pools' counts are read at scrape time, under the same names and labels as ever.
func TestWatchPools(t *testing.T) {
	m := New()
	n := PoolNumbers{Lang: "python", Ready: 2, Target: 3, Out: 1, Starting: 1}
	m.WatchPools([]string{"python"}, []string{"ok", "compile_error"}, func() []PoolNumbers { return []PoolNumbers{n} })
	want := `# HELP codeexec_pool_ready_containers Warm containers waiting, by language.
# TYPE codeexec_pool_ready_containers gauge
codeexec_pool_ready_containers{language="python"} 2
# HELP codeexec_pool_target_containers Warm containers the pool keeps, by language.
# TYPE codeexec_pool_target_containers gauge
codeexec_pool_target_containers{language="python"} 3
# HELP codeexec_pool_claimed_containers Containers claimed or being removed, by language.
# TYPE codeexec_pool_claimed_containers gauge
codeexec_pool_claimed_containers{language="python"} 1
# HELP codeexec_pool_starting_containers Containers being started, by language.
# TYPE codeexec_pool_starting_containers gauge
codeexec_pool_starting_containers{language="python"} 1
# HELP codeexec_executions_total Executions finished, by language and status.
# TYPE codeexec_executions_total counter
codeexec_executions_total{language="python",status="compile_error"} 0
codeexec_executions_total{language="python",status="ok"} 1
`
	m.Executed("python", "ok", 50*time.Millisecond, 15*time.Millisecond, 8<<20, true)
	m.Executed("python", "compile_error", time.Second, 0, 0, false)
	// A compile error is counted but has no run to measure.
	if got := testutil.CollectAndCount(m.execCPU); got != 1 {
		t.Errorf("%d cpu histograms, want 1", got)
	}
	want = strings.Replace(want, `status="compile_error"} 0`, `status="compile_error"} 1`, 1)
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "codeexec_pool_ready_containers",
		"codeexec_pool_target_containers", "codeexec_pool_claimed_containers", "codeexec_pool_starting_containers",
		"codeexec_executions_total"); err != nil {
		t.Error(err)
	}
	n.Ready = 0
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(strings.Replace(want, `{language="python"} 2`, `{language="python"} 0`, 1)),
		"codeexec_pool_ready_containers"); err != nil {
		t.Errorf("not read at scrape time: %v", err)
	}
}

func waitReady(mgr *pool.Manager) error {
	deadline := time.Now().Add(10 * time.Second)
	for mgr.AllReady() != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("pools not ready: %w", mgr.AllReady())
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// The cost the metrics add on the request path (one execution, one HTTP request) and of a scrape.
func BenchmarkFinished(b *testing.B) {
	m := New()
	for b.Loop() {
		m.Executed("python", "ok", 50*time.Millisecond, 15*time.Millisecond, 8<<20, true)
		m.ObserveHTTP("/api/v1/execute", 200, 50*time.Millisecond)
	}
}

func BenchmarkScrape(b *testing.B) {
	m := New()
	m.Executed("python", "ok", time.Millisecond, 0, 0, true)
	h := m.Handler()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	}
}

func TestQueueCollector(t *testing.T) {
	m := New()
	up := true
	m.WatchQueue(func(ctx context.Context) QueueNumbers {
		if !up {
			return QueueNumbers{}
		}
		return QueueNumbers{Up: true,
			Languages: []QueueLanguage{{Lang: "python", Pending: 3, OldestSeconds: 12.5}},
			Workers:   []QueueWorker{{Name: "w1", Slots: 4, InUse: 2}}}
	}, func() QueueEvents { return QueueEvents{Published: 7, Acked: 5, Redelivered: 1, Dead: 1} })
	want := `
# HELP codeexec_queue_jobs_pending Jobs in the queue that no worker took yet, by language.
# TYPE codeexec_queue_jobs_pending gauge
codeexec_queue_jobs_pending{language="python"} 3
# HELP codeexec_queue_jobs_total Jobs this process published, acknowledged (final result stored), saw redelivered, or ended after queue.maxDeliver attempts (dead).
# TYPE codeexec_queue_jobs_total counter
codeexec_queue_jobs_total{event="acked"} 5
codeexec_queue_jobs_total{event="dead"} 1
codeexec_queue_jobs_total{event="published"} 7
codeexec_queue_jobs_total{event="redelivered"} 1
# HELP codeexec_queue_up 1 when the job queue (NATS JetStream) answered this scrape's reads.
# TYPE codeexec_queue_up gauge
codeexec_queue_up 1
# HELP codeexec_queue_worker_slots_in_use Execution slots each worker is using.
# TYPE codeexec_queue_worker_slots_in_use gauge
codeexec_queue_worker_slots_in_use{worker="w1"} 2
# HELP codeexec_queue_workers Workers whose heartbeat is recent.
# TYPE codeexec_queue_workers gauge
codeexec_queue_workers 1
`
	names := []string{"codeexec_queue_jobs_pending", "codeexec_queue_jobs_total", "codeexec_queue_up", "codeexec_queue_worker_slots_in_use", "codeexec_queue_workers"}
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	up = false
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP codeexec_queue_up 1 when the job queue (NATS JetStream) answered this scrape's reads.
# TYPE codeexec_queue_up gauge
codeexec_queue_up 0
`), "codeexec_queue_up", "codeexec_queue_jobs_pending"); err != nil {
		t.Fatal(err)
	}
}
