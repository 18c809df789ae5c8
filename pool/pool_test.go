package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
)

// fakeEngine records what the pool does. Start fails while fail is set.
type fakeEngine struct {
	mu       sync.Mutex
	next     int
	live     map[string]bool // created and not removed
	paused   map[string]bool
	starts   int
	pauses   int
	resumes  int
	fail     error
	lostNext bool          // the next Resume fails (the engine lost the container)
	gate     chan struct{} // when set, Start waits for a receive on it
}

type fakeContainer string

func (f fakeContainer) ID() string                             { return string(f) }
func (f fakeContainer) Lost() bool                             { return false }
func (f fakeContainer) SetMemory(context.Context, int64) error { return nil }
func (f fakeContainer) Run(context.Context, *agentproto.Job, <-chan agentproto.Input, func(agentproto.Event) error) error {
	return nil
}

func newFake() *fakeEngine {
	return &fakeEngine{live: map[string]bool{}, paused: map[string]bool{}}
}

func (f *fakeEngine) Start(ctx context.Context, lang string) (Sandbox, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	if f.fail != nil {
		return nil, f.fail
	}
	f.next++
	id := fmt.Sprintf("%s-%d", lang, f.next)
	f.live[id] = true
	return fakeContainer(id), nil
}

func (f *fakeEngine) Pause(ctx context.Context, c Sandbox) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[c.ID()] || f.paused[c.ID()] {
		return fmt.Errorf("%s is not running", c.ID())
	}
	f.paused[c.ID()] = true
	f.pauses++
	return nil
}

func (f *fakeEngine) Resume(ctx context.Context, c Sandbox) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lostNext {
		f.lostNext = false
		return errors.New("no such container")
	}
	if !f.paused[c.ID()] {
		return fmt.Errorf("%s is not paused", c.ID())
	}
	f.paused[c.ID()] = false
	f.resumes++
	return nil
}

func (f *fakeEngine) Remove(ctx context.Context, c Sandbox) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, c.ID())
	delete(f.paused, c.ID())
	return nil
}

func (f *fakeEngine) count() (live, starts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.live), f.starts
}

func (f *fakeEngine) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// eventually polls cond until it holds; it fails the test after a generous bound. It makes no
// claim about speed: the bound only keeps a broken pool from hanging the test run.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newPool(t *testing.T, e Engine, target int) *Pool {
	p := New(e, Options{Lang: "py", Target: target, ClaimWait: 5 * time.Second, Logger: quiet,
		Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func TestPoolFillsToTarget(t *testing.T) {
	e := newFake()
	p := newPool(t, e, 3)
	eventually(t, "3 ready", func() bool { return p.Stats().Ready == 3 })
	// And no more than the target, however long we look.
	time.Sleep(20 * time.Millisecond)
	if live, _ := e.count(); live != 3 {
		t.Fatalf("%d containers live, want 3", live)
	}
}

func TestClaimResumesAndRefills(t *testing.T) {
	e := newFake()
	p := newPool(t, e, 2)
	eventually(t, "2 ready", func() bool { return p.Stats().Ready == 2 })
	c, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	paused := e.paused[c.ID()]
	e.mu.Unlock()
	if paused {
		t.Fatal("claimed container is still paused")
	}
	p.Release(c)
	eventually(t, "refilled to 2 ready", func() bool { return p.Stats().Ready == 2 })
	eventually(t, "released container removed", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return !e.live[c.ID()]
	})
	if live, _ := e.count(); live != 2 {
		t.Fatalf("%d live, want the 2 warm ones", live)
	}
}

func TestClaimWaitsForAStart(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := newPool(t, e, 1)
	got := make(chan error, 1)
	go func() {
		_, err := p.Claim(context.Background())
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("claim returned before any container existed: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	e.gate <- struct{}{} // let one start finish
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	close(e.gate)
}

func TestClaimGivesUpAfterClaimWait(t *testing.T) {
	e := newFake()
	e.setFail(errors.New("engine down"))
	p := New(e, Options{Lang: "py", Target: 1, ClaimWait: 30 * time.Millisecond, Logger: quiet,
		Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	defer p.Close(context.Background())
	_, err := p.Claim(context.Background())
	if !errors.Is(err, ErrNoContainer) {
		t.Fatalf("err = %v, want ErrNoContainer", err)
	}
	if p.Stats().LastError == nil {
		t.Fatal("LastError is nil while starts fail")
	}
}

func TestClaimHonoursContext(t *testing.T) {
	e := newFake()
	e.setFail(errors.New("engine down"))
	p := newPool(t, e, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Claim(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestBackoffDelay(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {7, 5 * time.Second}, {80, 5 * time.Second}} {
		if got := backoffDelay(100*time.Millisecond, 5*time.Second, c.n); got != c.want {
			t.Errorf("failure %d: %v, want %v", c.n, got, c.want)
		}
	}
}

func TestFailingStartsProbeOneAtATimeThenRecover(t *testing.T) {
	e := &countingEngine{fakeEngine: newFake()}
	e.setFail(errors.New("engine down"))
	p := New(e, Options{Lang: "py", Target: 4, ClaimWait: 5 * time.Second, Logger: quiet,
		Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	defer p.Close(context.Background())
	// The first round may start the whole target at once; after that, one probe at a time.
	eventually(t, "many failed starts", func() bool { _, s := e.count(); return s >= 20 })
	e.mu.Lock()
	probes := e.maxLate
	e.mu.Unlock()
	if probes > 1 {
		t.Fatalf("%d starts at once while the engine fails; want one probe at a time", probes)
	}
	e.setFail(nil)
	eventually(t, "pool refilled after recovery", func() bool { return p.Stats().Ready == 4 })
	if p.Stats().LastError != nil {
		t.Fatal("LastError still set after recovery")
	}
}

func TestLostContainerIsSkipped(t *testing.T) {
	e := newFake()
	p := newPool(t, e, 2)
	eventually(t, "2 ready", func() bool { return p.Stats().Ready == 2 })
	e.mu.Lock()
	e.lostNext = true
	e.mu.Unlock()
	c, err := p.Claim(context.Background())
	if err != nil {
		t.Fatalf("claim should move on to the next container: %v", err)
	}
	p.Release(c)
}

func TestCloseRemovesEverything(t *testing.T) {
	e := newFake()
	p := New(e, Options{Lang: "py", Target: 3, ClaimWait: time.Second, Logger: quiet})
	eventually(t, "3 ready", func() bool { return p.Stats().Ready == 3 })
	c, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Release(c)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live, _ := e.count(); live != 0 {
		t.Fatalf("%d containers left after Close", live)
	}
	if _, err := p.Claim(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("claim after close: %v", err)
	}
}

func TestCloseDuringStartsLeavesNothing(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := New(e, Options{Lang: "py", Target: 4, ClaimWait: time.Second, Logger: quiet})
	e.gate <- struct{}{} // one start completes; the others wait in Start
	eventually(t, "1 ready", func() bool { return p.Stats().Ready == 1 })
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live, _ := e.count(); live != 0 {
		t.Fatalf("%d containers left after Close", live)
	}
}

func TestStartSlotsBoundParallelStarts(t *testing.T) {
	e := &countingEngine{fakeEngine: newFake()}
	slots := make(chan struct{}, 2)
	var pools []*Pool
	for _, lang := range []string{"a", "b", "c"} {
		pools = append(pools, New(e, Options{Lang: lang, Target: 4, ClaimWait: time.Second, StartSlots: slots, Logger: quiet}))
	}
	for _, p := range pools {
		eventually(t, "filled", func() bool { return p.Stats().Ready == 4 })
		_ = p.Close(context.Background())
	}
	if e.maxActive > 2 {
		t.Fatalf("%d starts ran at once; the slots allow 2", e.maxActive)
	}
}

type countingEngine struct {
	*fakeEngine
	mu        sync.Mutex
	active    int
	maxActive int
	maxLate   int // maxActive among starts after the 8th, when a first burst is long over
}

func (c *countingEngine) Start(ctx context.Context, lang string) (Sandbox, error) {
	c.mu.Lock()
	c.active++
	c.maxActive = max(c.maxActive, c.active)
	if _, n := c.fakeEngine.count(); n >= 8 {
		c.maxLate = max(c.maxLate, c.active)
	}
	c.mu.Unlock()
	time.Sleep(time.Millisecond) // let others try to start meanwhile
	defer func() { c.mu.Lock(); c.active--; c.mu.Unlock() }()
	return c.fakeEngine.Start(ctx, lang)
}

func newPoolUnpaused(t *testing.T, e Engine, target, unpaused int) *Pool {
	p := New(e, Options{Lang: "py", Target: target, Unpaused: unpaused, ClaimWait: 5 * time.Second, Logger: quiet,
		Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// states counts the live containers that are paused and running.
func (f *fakeEngine) states() (paused, running int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.live {
		if f.paused[id] {
			paused++
		} else {
			running++
		}
	}
	return paused, running
}

func TestUnpausedAreKeptAheadOfClaims(t *testing.T) {
	for _, c := range []struct{ target, unpaused, wantRunning int }{
		{3, 0, 0}, {3, 1, 1}, {3, 2, 2}, {2, 5, 2}, {1, 1, 1},
	} {
		t.Run(fmt.Sprintf("target %d unpaused %d", c.target, c.unpaused), func(t *testing.T) {
			e := newFake()
			p := newPoolUnpaused(t, e, c.target, c.unpaused)
			settled := func() bool {
				paused, running := e.states()
				return p.Stats().Ready == c.target && running == c.wantRunning && paused == c.target-c.wantRunning &&
					p.Stats().Unpaused == c.wantRunning
			}
			eventually(t, "filled with the right mix", settled)
			// Claims take the running ones first (no unpause) and the pool thaws the next.
			for range 3 * c.target {
				e.mu.Lock()
				resumes := e.resumes
				e.mu.Unlock()
				cl, err := p.Claim(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				e.mu.Lock()
				stillPaused := e.paused[cl.ID()]
				resumedByClaim := e.resumes > resumes
				e.mu.Unlock()
				if stillPaused {
					t.Fatal("claimed container is paused")
				}
				// Whether this claim had to unpause depends on whether the thaw ahead of it
				// finished; with no unpaused ones it always must.
				if c.unpaused == 0 && !resumedByClaim {
					t.Fatal("claim from an all-paused pool did not unpause")
				}
				p.Release(cl)
				eventually(t, "back to the right mix", settled)
			}
		})
	}
}

// A container claimed as soon as it is warm is never paused: under load the engine is spared a
// pause and an unpause per execution.
func TestWaitingClaimGetsAFreshContainerUnpaused(t *testing.T) {
	e := newFake()
	e.gate = make(chan struct{})
	p := newPoolUnpaused(t, e, 2, 1)
	got := make(chan Sandbox, 1)
	go func() {
		c, err := p.Claim(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	e.gate <- struct{}{}
	c := <-got
	close(e.gate)
	e.mu.Lock()
	pauses, resumes := e.pauses, e.resumes
	e.mu.Unlock()
	if pauses != 0 || resumes != 0 {
		t.Fatalf("%d pauses and %d unpauses before the first claim; want none", pauses, resumes)
	}
	p.Release(c)
}

func TestPauseFailureIsAFailedStart(t *testing.T) {
	e := &pauseFailing{fakeEngine: newFake(), failures: 3}
	p := newPoolUnpaused(t, e, 3, 1)
	eventually(t, "filled despite failed pauses", func() bool {
		paused, running := e.states()
		return p.Stats().Ready == 3 && paused == 2 && running == 1
	})
	if live, _ := e.count(); live != 3 {
		t.Fatalf("%d live; containers whose pause failed must be removed", live)
	}
}

type pauseFailing struct {
	*fakeEngine
	failures int
}

func (f *pauseFailing) Pause(ctx context.Context, c Sandbox) error {
	f.mu.Lock()
	fail := f.failures > 0
	if fail {
		f.failures--
	}
	f.mu.Unlock()
	if fail {
		return errors.New("pause failed")
	}
	return f.fakeEngine.Pause(ctx, c)
}

// After the running one is claimed and released, a paused one is unpaused at once, without
// waiting for the replacement's start.
func TestClaimThawsAPausedOneAhead(t *testing.T) {
	e := newFake()
	p := newPoolUnpaused(t, e, 3, 1)
	eventually(t, "filled", func() bool { return p.Stats().Ready == 3 && p.Stats().Unpaused == 1 })
	e.mu.Lock()
	e.gate = make(chan struct{}) // replacements hang in Start from now on
	e.mu.Unlock()
	c, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Release(c)
	eventually(t, "a paused one unpaused while the start hangs", func() bool {
		paused, running := e.states()
		return paused == 1 && running == 1 && p.Stats().Unpaused == 1 && p.Stats().Ready == 2
	})
	close(e.gate)
}

// While other warm containers wait, the replacement starts at the Release, so that its start does
// not compete with the execution for the CPU; the last warm container is replaced at once.
func TestRefillWaitsForReleaseUnlessPoolIsEmpty(t *testing.T) {
	e := newFake()
	p := newPoolUnpaused(t, e, 2, 0)
	eventually(t, "2 ready", func() bool { return p.Stats().Ready == 2 })
	c1, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // far less than the 1 s sweep, which would refill anyway
	if _, starts := e.count(); starts != 2 {
		t.Fatalf("%d starts while the claimed container runs and another waits; want the refill at release", starts)
	}
	p.Release(c1)
	eventually(t, "refilled after the release", func() bool { _, s := e.count(); return s == 3 && p.Stats().Ready == 2 })

	c2, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c3, err := p.Claim(context.Background()) // the last one: replaced without waiting for releases
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "refilled with both still claimed", func() bool { return p.Stats().Ready == 2 })
	p.Release(c2)
	p.Release(c3)
}

// Removals wait for an engine slot like starts: the engine's turnover is the bottleneck.
func TestRemovalsShareTheStartSlots(t *testing.T) {
	e := newFake()
	slots := make(chan struct{}, 1)
	p := New(e, Options{Lang: "py", Target: 1, ClaimWait: 5 * time.Second, StartSlots: slots, Logger: quiet})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	eventually(t, "1 ready", func() bool { return p.Stats().Ready == 1 })
	e.mu.Lock()
	e.gate = make(chan struct{}) // the replacement's start holds the only slot
	e.mu.Unlock()
	c, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "replacement started", func() bool { return p.Stats().Starting == 1 })
	p.Release(c)
	time.Sleep(50 * time.Millisecond)
	e.mu.Lock()
	live := e.live[c.ID()]
	e.mu.Unlock()
	if !live {
		t.Fatal("removed while a start held the only engine slot")
	}
	e.gate <- struct{}{}
	eventually(t, "removed once the start let go of the slot", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return !e.live[c.ID()]
	})
	close(e.gate)
}
