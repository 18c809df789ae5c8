package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/runner"
)

// engine is a fake pool.Engine and Lister: it lists what it created and did not remove, plus
// strays (containers of this instance that no pool made: the leaks).
type engine struct {
	mu     sync.Mutex
	n      int
	live   map[string]bool
	strays int
}

type ctr string

func (c ctr) ID() string { return string(c) }

func (e *engine) Start(ctx context.Context, lang string) (pool.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	id := fmt.Sprintf("%s-%d", lang, e.n)
	e.live[id] = true
	return ctr(id), nil
}
func (e *engine) Pause(ctx context.Context, c pool.Container) error  { return nil }
func (e *engine) Resume(ctx context.Context, c pool.Container) error { return nil }
func (e *engine) Remove(ctx context.Context, c pool.Container) error {
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
			m.checkLeaks(context.Background(), e, mgr, quiet)
			if got := testutil.ToFloat64(m.leaked); got != tc.want {
				t.Fatalf("codeexec_leaked_containers = %v, want %v", got, tc.want)
			}
		})
	}
	mgr.Release("python", c)
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
	r := &runner.Result{Language: "python", Status: runner.OK}
	r.Run.CPUTimeMs, r.Run.MemoryBytes = 15, 8<<20
	for b.Loop() {
		m.Finished(r, 50*time.Millisecond)
		m.ObserveHTTP("/api/v1/execute", 200, 50*time.Millisecond)
	}
}

func BenchmarkScrape(b *testing.B) {
	m := New()
	r := &runner.Result{Language: "python", Status: runner.OK}
	m.Finished(r, time.Millisecond)
	h := m.Handler()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	}
}
