package pool

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Claims that wait are served in arrival order: the tests queue claims one by one (each seen in
// Stats.Waiting before the next starts), let containers come one at a time through the fake's
// gate, and check who got each.

// claimResult is what one numbered claim returned.
type claimResult struct {
	i   int
	c   Sandbox
	err error
}

// newFairPool is a pool whose claims wait far longer than any test: a claim that ends did not
// time out.
func newFairPool(t *testing.T, e Engine, target, unpaused int) *Pool {
	p := New(e, Options{Lang: "py", Target: target, Unpaused: unpaused, ClaimWait: time.Hour, Logger: quiet,
		Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// enqueue starts claim i and waits until it waits, the waiting-th in the queue.
func enqueue(t *testing.T, p *Pool, ctx context.Context, i, waiting int, out chan<- claimResult) {
	t.Helper()
	go func() {
		c, err := p.Claim(ctx)
		out <- claimResult{i, c, err}
	}()
	eventually(t, "claim queued", func() bool { return p.Stats().Waiting == waiting })
}

// next is the next claim to return; the bound only keeps a broken pool from hanging the test.
func next(t *testing.T, results <-chan claimResult) claimResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no claim returned")
		return claimResult{}
	}
}

// settledAndKnown reports whether no start is in flight and the pool accounts for every
// container the engine holds.
func settledAndKnown(p *Pool, e *fakeEngine) bool {
	live, _ := e.count()
	st := p.Stats()
	return st.Starting == 0 && st.Ready+st.Starting+st.Out == live
}

func TestWaitersAreServedInArrivalOrder(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := newFairPool(t, e, 2, 0)
	results := make(chan claimResult, 50)
	for i := range 50 {
		enqueue(t, p, context.Background(), i, i+1, results)
	}
	for i := range 50 {
		e.gate <- struct{}{} // one start finishes
		r := next(t, results)
		if r.err != nil {
			t.Fatalf("claim %d: %v", r.i, r.err)
		}
		if r.i != i {
			t.Fatalf("container %d went to claim %d, want %d", i, r.i, i)
		}
		p.Release(r.c)
	}
	e.mu.Lock()
	pauses := e.pauses
	e.mu.Unlock()
	if pauses != 0 {
		t.Fatalf("%d containers paused while claims waited for them", pauses)
	}
	close(e.gate)
	eventually(t, "every container accounted for", func() bool { return settledAndKnown(p, e) && p.Stats().Out == 0 })
}

// A claim that arrives while another waits queues behind it, whether it comes before the
// container or as it becomes warm: in each round the previous newcomer, now the oldest, gets the
// container.
func TestNewcomerDoesNotOvertakeAWaiter(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := newFairPool(t, e, 1, 1)
	results := make(chan claimResult, 2)
	enqueue(t, p, context.Background(), 0, 1, results)
	for round := 1; round <= 20; round++ {
		if round%2 == 0 {
			enqueue(t, p, context.Background(), round, 2, results)
		} else {
			go func() {
				c, err := p.Claim(context.Background())
				results <- claimResult{round, c, err}
			}()
		}
		e.gate <- struct{}{}
		r := next(t, results)
		if r.err != nil || r.i != round-1 {
			t.Fatalf("round %d: claim %d got the container (%v), want the waiting claim %d", round, r.i, r.err, round-1)
		}
		p.Release(r.c)
		eventually(t, "newcomer queued", func() bool { return p.Stats().Waiting == 1 })
	}
	e.gate <- struct{}{}
	p.Release(next(t, results).c)
}

func TestCancelledWaitersLeaveNoHole(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := newFairPool(t, e, 2, 0)
	results := make(chan claimResult, 10)
	cancels := make([]context.CancelFunc, 10)
	for i := range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		enqueue(t, p, ctx, i, i+1, results)
	}
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	// Waiters 2, 5 and 7 (counting from 1) give up.
	for _, i := range []int{1, 4, 6} {
		cancels[i]()
		if r := next(t, results); r.i != i || !errors.Is(r.err, context.Canceled) {
			t.Fatalf("claim %d returned %v after claim %d was cancelled", r.i, r.err, i)
		}
	}
	if w := p.Stats().Waiting; w != 7 {
		t.Fatalf("%d waiting after 3 of 10 gave up, want 7", w)
	}
	for _, want := range []int{0, 2, 3, 5, 7, 8, 9} {
		e.gate <- struct{}{}
		r := next(t, results)
		if r.err != nil || r.i != want {
			t.Fatalf("claim %d got the container (%v), want claim %d", r.i, r.err, want)
		}
		p.Release(r.c)
	}
	close(e.gate)
	eventually(t, "refilled; every container accounted for", func() bool {
		return p.Stats().Ready == 2 && p.Stats().Out == 0 && settledAndKnown(p, e)
	})
}

// A container that comes as the oldest waiter gives up goes to the next waiter: whichever of
// the container and the cancellation the pool sees first, the outcome is the same.
func TestContainerOfAWaiterThatGaveUpGoesToTheNext(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := newFairPool(t, e, 1, 0)
	results := make(chan claimResult, 2)
	for round := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		enqueue(t, p, ctx, 0, 1, results)
		enqueue(t, p, context.Background(), 1, 2, results)
		cancel()
		e.gate <- struct{}{} // the container comes after the cancellation
		var gaveUp, served claimResult
		for range 2 {
			if r := next(t, results); r.i == 0 {
				gaveUp = r
			} else {
				served = r
			}
		}
		if !errors.Is(gaveUp.err, context.Canceled) || served.err != nil {
			t.Fatalf("round %d: the cancelled claim ended with %v, the next with %v; want it served", round, gaveUp.err, served.err)
		}
		p.Release(served.c)
		// Only the replacement's start, held at the gate, is left: nothing warm, out or live.
		eventually(t, "the one container removed, none lost", func() bool {
			live, _ := e.count()
			st := p.Stats()
			return live == 0 && st.Out == 0 && st.Ready == 0 && st.Starting == 1
		})
	}
}

// A claim handed a container it cannot use waits again in its place, ahead of later claims.
func TestClaimKeepsItsPlaceAfterALostContainer(t *testing.T) {
	e := &lostOnArrival{faultEngine: &faultEngine{fakeEngine: newFake()}}
	e.gate = make(chan struct{})
	p := newFairPool(t, e, 1, 0)
	results := make(chan claimResult, 2)
	enqueue(t, p, context.Background(), 0, 1, results)
	enqueue(t, p, context.Background(), 1, 2, results)
	e.lostNext.Store(true)
	e.gate <- struct{}{} // a container that is lost when claim 0 gets it
	eventually(t, "claim 0 waits again", func() bool {
		live, starts := e.count()
		return starts == 1 && live == 0 && p.Stats().Waiting == 2
	})
	e.gate <- struct{}{}
	if r := next(t, results); r.err != nil || r.i != 0 {
		t.Fatalf("claim %d got the container (%v), want claim 0", r.i, r.err)
	} else {
		p.Release(r.c)
	}
	e.gate <- struct{}{}
	p.Release(next(t, results).c)
}

// lostOnArrival makes the next started container one whose line to the agent is gone.
type lostOnArrival struct {
	*faultEngine
	lostNext atomic.Bool
}

func (e *lostOnArrival) Start(ctx context.Context, lang string) (Sandbox, error) {
	c, err := e.faultEngine.Start(ctx, lang)
	if err == nil && e.lostNext.CompareAndSwap(true, false) {
		c.(*lossy).gone.Store(true)
	}
	return c, err
}

// With claims waiting and every start failing, the claims get the start error as soon as the
// pool counts the engine down, not after the claim wait.
func TestEngineDownFailsTheWaitersFast(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := newFairPool(t, e, 1, 0)
	results := make(chan claimResult, 5)
	for i := range 5 {
		enqueue(t, p, context.Background(), i, i+1, results)
	}
	e.setFail(errors.New("cannot connect to the Docker daemon"))
	close(e.gate)
	for range 5 {
		r := next(t, results)
		if !errors.Is(r.err, ErrNoContainer) || !strings.Contains(r.err.Error(), "Docker daemon") {
			t.Fatalf("claim %d: %v, want ErrNoContainer with the start error", r.i, r.err)
		}
	}
	if w := p.Stats().Waiting; w != 0 {
		t.Fatalf("%d still waiting", w)
	}
	// A claim that comes now fails at once too.
	if _, err := p.Claim(context.Background()); !errors.Is(err, ErrNoContainer) {
		t.Fatalf("claim while the engine is down: %v, want ErrNoContainer", err)
	}
}

// A claim that waited ClaimWait in vain leaves the queue; the container that comes later stays
// warm for the next claim.
func TestTimedOutWaiterLeavesTheQueue(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := New(e, Options{Lang: "py", Target: 1, ClaimWait: 20 * time.Millisecond, Logger: quiet})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	if _, err := p.Claim(context.Background()); !errors.Is(err, ErrNoContainer) {
		t.Fatalf("err = %v, want ErrNoContainer", err)
	}
	if w := p.Stats().Waiting; w != 0 {
		t.Fatalf("%d waiting after the claim gave up", w)
	}
	e.gate <- struct{}{}
	eventually(t, "the container warm, nothing out", func() bool {
		st := p.Stats()
		return st.Ready == 1 && st.Out == 0 && settledAndKnown(p, e)
	})
	close(e.gate)
}

func TestCloseFailsTheWaiters(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := New(e, Options{Lang: "py", Target: 1, ClaimWait: time.Hour, Logger: quiet})
	results := make(chan claimResult, 3)
	for i := range 3 {
		enqueue(t, p, context.Background(), i, i+1, results)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := next(t, results); !errors.Is(r.err, ErrClosed) {
			t.Fatalf("claim %d: %v, want ErrClosed", r.i, r.err)
		}
	}
}
