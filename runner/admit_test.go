package runner

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
)

// Executions that wait for a slot are admitted in arrival order: the tests queue them one by one
// (each seen in the Queued gauge before the next starts), free slots one at a time and check who
// got each.

// admitObserver keeps the admission gauges and the rejections.
type admitObserver struct {
	mu       sync.Mutex
	queued   int
	running  int
	rejected []string
}

func (o *admitObserver) Queued(d int)                           { o.mu.Lock(); o.queued += d; o.mu.Unlock() }
func (o *admitObserver) Running(d int)                          { o.mu.Lock(); o.running += d; o.mu.Unlock() }
func (o *admitObserver) Finished(*Plan, *Result, time.Duration) {}
func (o *admitObserver) Rejected(reason string) {
	o.mu.Lock()
	o.rejected = append(o.rejected, reason)
	o.mu.Unlock()
}

func (o *admitObserver) gauges() (queued, running int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queued, o.running
}

// admitResult is what one numbered admission returned.
type admitResult struct {
	i    int
	done func()
	err  error
}

// newAdmitRunner is a runner with one slot whose executions wait in the queue far longer than
// any test (unless queueWait says otherwise).
func newAdmitRunner(queueLength int, queueWait time.Duration) (*Runner, *admitObserver) {
	obs := &admitObserver{}
	srv := config.Server{MaxConcurrent: 1, QueueLength: queueLength, QueueWaitMs: int(queueWait / time.Millisecond)}
	return New(srv, nil, obs, slog.New(slog.DiscardHandler)), obs
}

// admitEventually polls cond until it holds; the generous bound only keeps a broken admission
// from hanging the test run.
func admitEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// queueAdmit starts admission i and waits until it is queued, the queued-th.
func queueAdmit(t *testing.T, r *Runner, obs *admitObserver, ctx context.Context, i, queued int, out chan<- admitResult) {
	t.Helper()
	go func() {
		done, err := r.admit(ctx, false)
		out <- admitResult{i, done, err}
	}()
	admitEventually(t, "execution queued", func() bool { q, _ := obs.gauges(); return q == queued })
}

func nextAdmitted(t *testing.T, results <-chan admitResult) admitResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no admission returned")
		return admitResult{}
	}
}

// holdSlot takes the runner's only slot.
func holdSlot(t *testing.T, r *Runner) func() {
	t.Helper()
	done, err := r.admit(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

// checkIdle checks that the gauges are back to zero and that the slot is free.
func checkIdle(t *testing.T, r *Runner, obs *admitObserver) {
	t.Helper()
	if q, run := obs.gauges(); q != 0 || run != 0 {
		t.Fatalf("queued %d, running %d at the end; want 0 and 0", q, run)
	}
	holdSlot(t, r)()
}

func TestAdmitServesWaitersInArrivalOrder(t *testing.T) {
	r, obs := newAdmitRunner(100, time.Hour)
	done := holdSlot(t, r)
	results := make(chan admitResult, 50)
	for i := range 50 {
		queueAdmit(t, r, obs, context.Background(), i, i+1, results)
	}
	for i := range 50 {
		done() // the slot goes to the oldest waiter
		a := nextAdmitted(t, results)
		if a.err != nil || a.i != i {
			t.Fatalf("slot %d went to execution %d (%v), want %d", i, a.i, a.err, i)
		}
		done = a.done
	}
	done()
	checkIdle(t, r, obs)
}

// An execution that arrives while another waits queues behind it, whether it comes before the
// slot frees or as it frees: in each round the previous newcomer, now the oldest, gets the slot.
func TestAdmitNewcomerDoesNotOvertakeAWaiter(t *testing.T) {
	r, obs := newAdmitRunner(100, time.Hour)
	done := holdSlot(t, r)
	results := make(chan admitResult, 2)
	queueAdmit(t, r, obs, context.Background(), 0, 1, results)
	for round := 1; round <= 20; round++ {
		if round%2 == 0 {
			queueAdmit(t, r, obs, context.Background(), round, 2, results)
		} else {
			go func() {
				d, err := r.admit(context.Background(), false)
				results <- admitResult{round, d, err}
			}()
		}
		done()
		a := nextAdmitted(t, results)
		if a.err != nil || a.i != round-1 {
			t.Fatalf("round %d: execution %d got the slot (%v), want the waiting %d", round, a.i, a.err, round-1)
		}
		done = a.done
		admitEventually(t, "newcomer queued", func() bool { q, _ := obs.gauges(); return q == 1 })
	}
	done()
	nextAdmitted(t, results).done()
	checkIdle(t, r, obs)
}

func TestAdmitCancelledWaitersLeaveNoHole(t *testing.T) {
	r, obs := newAdmitRunner(100, time.Hour)
	done := holdSlot(t, r)
	results := make(chan admitResult, 10)
	cancels := make([]context.CancelFunc, 10)
	for i := range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		queueAdmit(t, r, obs, ctx, i, i+1, results)
	}
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	// Waiters 2, 5 and 7 (counting from 1) give up.
	for _, i := range []int{1, 4, 6} {
		cancels[i]()
		if a := nextAdmitted(t, results); a.i != i || !errors.Is(a.err, context.Canceled) {
			t.Fatalf("execution %d returned %v after %d was cancelled", a.i, a.err, i)
		}
	}
	for _, want := range []int{0, 2, 3, 5, 7, 8, 9} {
		done()
		a := nextAdmitted(t, results)
		if a.err != nil || a.i != want {
			t.Fatalf("execution %d got the slot (%v), want %d", a.i, a.err, want)
		}
		done = a.done
	}
	done()
	checkIdle(t, r, obs)
	if len(obs.rejected) != 3 || obs.rejected[0] != "client_gone" {
		t.Fatalf("rejections %v, want 3 client_gone", obs.rejected)
	}
}

// A slot that frees as the oldest waiter gives up goes to the next waiter: whichever of the two
// admit sees first, the outcome is the same.
func TestAdmitSlotOfAWaiterThatGaveUpGoesToTheNext(t *testing.T) {
	r, obs := newAdmitRunner(100, time.Hour)
	done := holdSlot(t, r)
	results := make(chan admitResult, 2)
	for round := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		queueAdmit(t, r, obs, ctx, 0, 1, results)
		queueAdmit(t, r, obs, context.Background(), 1, 2, results)
		cancel()
		done() // the slot frees after the cancellation
		var gaveUp, served admitResult
		for range 2 {
			if a := nextAdmitted(t, results); a.i == 0 {
				gaveUp = a
			} else {
				served = a
			}
		}
		if !errors.Is(gaveUp.err, context.Canceled) || served.err != nil {
			t.Fatalf("round %d: the cancelled execution ended with %v, the next with %v; want it admitted", round, gaveUp.err, served.err)
		}
		done = served.done
	}
	done()
	checkIdle(t, r, obs)
}

func TestAdmitQueueFull(t *testing.T) {
	r, obs := newAdmitRunner(2, time.Hour)
	done := holdSlot(t, r)
	results := make(chan admitResult, 2)
	queueAdmit(t, r, obs, context.Background(), 0, 1, results)
	queueAdmit(t, r, obs, context.Background(), 1, 2, results)
	if _, err := r.admit(context.Background(), false); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("admit with a full queue: %v, want ErrOverloaded", err)
	}
	obs.mu.Lock()
	rejected := append([]string(nil), obs.rejected...)
	obs.mu.Unlock()
	if len(rejected) != 1 || rejected[0] != "queue_full" {
		t.Fatalf("rejections %v, want [queue_full]", rejected)
	}
	for want := range 2 {
		done()
		a := nextAdmitted(t, results)
		if a.err != nil || a.i != want {
			t.Fatalf("execution %d got the slot (%v), want %d", a.i, a.err, want)
		}
		done = a.done
	}
	done()
	checkIdle(t, r, obs)
}

// An execution that waited queueWait in vain leaves the queue; the slot that frees later is free.
func TestAdmitQueueTimeout(t *testing.T) {
	r, obs := newAdmitRunner(100, 20*time.Millisecond)
	done := holdSlot(t, r)
	if _, err := r.admit(context.Background(), false); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("err = %v, want ErrOverloaded", err)
	}
	obs.mu.Lock()
	rejected := append([]string(nil), obs.rejected...)
	obs.mu.Unlock()
	if len(rejected) != 1 || rejected[0] != "queue_timeout" {
		t.Fatalf("rejections %v, want [queue_timeout]", rejected)
	}
	done()
	checkIdle(t, r, obs)
}

// newClassRunner is a runner with slots slots, heavy of them for heavy executions.
func newClassRunner(slots, heavy int) (*Runner, *admitObserver) {
	obs := &admitObserver{}
	srv := config.Server{MaxConcurrent: slots, HeavyShare: heavy, QueueLength: 100, QueueWaitMs: int(time.Hour / time.Millisecond)}
	return New(srv, nil, obs, slog.New(slog.DiscardHandler)), obs
}

// queueClass starts admission i of the class and waits until it is queued, the queued-th.
func queueClass(t *testing.T, r *Runner, obs *admitObserver, i, queued int, heavy bool, out chan<- admitResult) {
	t.Helper()
	go func() {
		done, err := r.admit(context.Background(), heavy)
		out <- admitResult{i, done, err}
	}()
	admitEventually(t, "execution queued", func() bool { q, _ := obs.gauges(); return q == queued })
}

// Heavy executions hold at most their share; a single run arriving behind heavy ones that
// cannot run is admitted at once to the slot left over.
func TestAdmitHeavyShareLeavesASlot(t *testing.T) {
	r, obs := newClassRunner(3, 2)
	results := make(chan admitResult, 10)
	var heavyDone []func()
	for range 2 {
		d, err := r.admit(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		heavyDone = append(heavyDone, d)
	}
	// A third heavy one waits although a slot is free.
	queueClass(t, r, obs, 0, 1, true, results)
	// A single run passes it.
	light, err := r.admit(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if q, run := obs.gauges(); q != 1 || run != 3 {
		t.Fatalf("queued %d running %d, want 1 and 3", q, run)
	}
	// The next single run finds every slot taken and queues behind the heavy one.
	queueClass(t, r, obs, 1, 2, false, results)
	// The single run's slot frees: the heavy waiter still may not run (the share is used), so
	// the slot goes to the single run behind it.
	light()
	if a := nextAdmitted(t, results); a.i != 1 || a.err != nil {
		t.Fatalf("slot went to %d (%v), want the single run 1", a.i, a.err)
	}
	// A heavy slot frees: the heavy waiter gets it.
	heavyDone[0]()
	a := nextAdmitted(t, results)
	if a.i != 0 || a.err != nil {
		t.Fatalf("heavy slot went to %d (%v), want the heavy waiter 0", a.i, a.err)
	}
	a.done()
	heavyDone[1]()
	// Every slot is free again: one of them is still the single run 1's.
	if q, run := obs.gauges(); q != 0 || run != 1 {
		t.Fatalf("queued %d running %d, want 0 and 1", q, run)
	}
}

// Among themselves, waiters keep arrival order: when a freed slot may go to either class, the
// oldest waiter gets it, heavy or not.
func TestAdmitClassesKeepArrivalOrder(t *testing.T) {
	r, obs := newClassRunner(2, 1)
	results := make(chan admitResult, 10)
	heavy, err := r.admit(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	light, err := r.admit(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	// Queue: single 0, heavy 1, single 2, heavy 3.
	for i, h := range []bool{false, true, false, true} {
		queueClass(t, r, obs, i, i+1, h, results)
	}
	// The single slot frees: the oldest waiter that can run is single 0.
	light()
	a := nextAdmitted(t, results)
	if a.i != 0 {
		t.Fatalf("got %d, want 0", a.i)
	}
	light = a.done
	// The heavy slot frees: heavy 1, the oldest, gets it (single 2 could run too).
	heavy()
	a = nextAdmitted(t, results)
	if a.i != 1 {
		t.Fatalf("got %d, want 1", a.i)
	}
	heavy = a.done
	// The single slot frees: single 2 gets it; heavy 3 waits for the heavy share.
	light()
	a = nextAdmitted(t, results)
	if a.i != 2 {
		t.Fatalf("got %d, want 2", a.i)
	}
	a.done()
	if q, _ := obs.gauges(); q != 1 {
		t.Fatalf("queued %d, want heavy 3 still waiting", q)
	}
	heavy()
	a = nextAdmitted(t, results)
	if a.i != 3 {
		t.Fatalf("got %d, want 3", a.i)
	}
	a.done()
	checkIdle(t, r, obs)
}

// With one slot there is no share to leave: heavy executions may use it.
func TestAdmitOneSlotTakesHeavy(t *testing.T) {
	r, _ := newClassRunner(1, 0)
	done, err := r.admit(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	done()
}
