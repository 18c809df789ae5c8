package localqueue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/api/judge0"
	"github.com/codeexec/codeexec/runner"
)

// gatedExec runs plans when the test lets it: each Execute waits for a value on gate, and
// answers overloaded while refuse > 0.
type gatedExec struct {
	gate   chan struct{}
	mu     sync.Mutex
	order  []string
	refuse int
}

func (g *gatedExec) Execute(ctx context.Context, p *runner.Plan, _ runner.Sink) (*runner.Result, error) {
	g.mu.Lock()
	if g.refuse > 0 {
		g.refuse--
		g.mu.Unlock()
		return nil, runner.ErrOverloaded
	}
	g.mu.Unlock()
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	g.mu.Lock()
	g.order = append(g.order, p.JobID)
	g.mu.Unlock()
	if p.JobID == "broken" {
		return nil, errors.New("engine gone")
	}
	return &runner.Result{JobID: p.JobID, Status: runner.OK}, nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestFIFOWaitAndFull(t *testing.T) {
	ex := &gatedExec{gate: make(chan struct{})}
	q := New(ex, 1, 2, time.Hour, quiet())
	defer q.Close()
	ctx := context.Background()
	a, err := q.Submit(ctx, &runner.Plan{JobID: "a"}, []byte("meta-a"))
	if err != nil {
		t.Fatal(err)
	}
	// One worker: a runs (blocked on the gate), b and c wait, d finds the queue full.
	for q.runningNow() != 1 {
		time.Sleep(time.Millisecond)
	}
	b, _ := q.Submit(ctx, &runner.Plan{JobID: "b"}, nil)
	if _, err := q.Submit(ctx, &runner.Plan{JobID: "c"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Submit(ctx, &runner.Plan{JobID: "d"}, nil); !errors.Is(err, judge0.ErrQueueFull) {
		t.Fatalf("third waiting submission: %v, want ErrQueueFull", err)
	}
	if st, _ := q.Stats(ctx); st.Pending != 2 || st.Running != 1 || st.Workers != 1 {
		t.Errorf("stats %+v", st)
	}
	if rec, _ := q.Get(ctx, b); rec.State != judge0.Queued {
		t.Errorf("b is %s, want queued", rec.State)
	}
	if rec, _ := q.Get(ctx, a); rec.State != judge0.Running || string(rec.Meta) != "meta-a" {
		t.Errorf("a is %s with meta %q", rec.State, rec.Meta)
	}
	// Wait gives up after max with the state as it is.
	if rec, _ := q.Wait(ctx, a, time.Millisecond); rec.State != judge0.Running {
		t.Errorf("a after a short wait is %s", rec.State)
	}
	for range 3 {
		ex.gate <- struct{}{}
	}
	rec, err := q.Wait(ctx, b, time.Minute)
	if err != nil || rec.State != judge0.Done || rec.Result == nil || rec.Result.JobID != "b" || rec.FinishedAt.IsZero() {
		t.Fatalf("b: %+v %v", rec, err)
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if len(ex.order) < 2 || ex.order[0] != "a" || ex.order[1] != "b" {
		t.Errorf("ran in order %v, want a, b, c", ex.order)
	}
}

func (q *Queue) runningNow() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running
}

func TestOverloadedWaitsAndFailureIsKept(t *testing.T) {
	ex := &gatedExec{gate: make(chan struct{}, 2), refuse: 3}
	q := New(ex, 2, 10, time.Hour, quiet())
	defer q.Close()
	ctx := context.Background()
	ex.gate <- struct{}{}
	ex.gate <- struct{}{}
	ok, _ := q.Submit(ctx, &runner.Plan{JobID: "ok"}, nil)
	broken, _ := q.Submit(ctx, &runner.Plan{JobID: "broken"}, nil)
	// Refused for load three times, the submissions are retried, not failed.
	if rec, _ := q.Wait(ctx, ok, time.Minute); rec.Result == nil || rec.Failure != "" {
		t.Errorf("ok: %+v", rec)
	}
	rec, _ := q.Wait(ctx, broken, time.Minute)
	if rec.State != judge0.Done || rec.Result != nil || rec.Failure != "no sandbox could run the submission" {
		t.Errorf("broken: %+v", rec)
	}
}

func TestExpiry(t *testing.T) {
	ex := &gatedExec{gate: make(chan struct{}, 1)}
	q := New(ex, 1, 10, time.Hour, quiet())
	defer q.Close()
	ctx := context.Background()
	ex.gate <- struct{}{}
	token, _ := q.Submit(ctx, &runner.Plan{JobID: "x"}, nil)
	if rec, _ := q.Wait(ctx, token, time.Minute); rec.State != judge0.Done {
		t.Fatal("not done")
	}
	q.dropExpired(time.Now().Add(59 * time.Minute))
	if _, err := q.Get(ctx, token); err != nil {
		t.Errorf("dropped before its TTL: %v", err)
	}
	q.dropExpired(time.Now().Add(61 * time.Minute))
	if _, err := q.Get(ctx, token); !errors.Is(err, judge0.ErrNotFound) {
		t.Errorf("kept past its TTL: %v", err)
	}
	if _, err := q.Wait(ctx, "nope", time.Second); !errors.Is(err, judge0.ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
}
