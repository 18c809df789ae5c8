package pool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
)

// faultEngine is the fake engine with the faults of an engine that goes away: removals fail
// while removeFails is set, and containers can lose their line to the agent.
type faultEngine struct {
	*fakeEngine
	removeFails atomic.Bool
	removeCalls atomic.Int32
}

// lossy is a container that can lose its attach connection.
type lossy struct {
	id   string
	gone atomic.Bool
}

func (l *lossy) ID() string                             { return l.id }
func (l *lossy) Lost() bool                             { return l.gone.Load() }
func (l *lossy) SetMemory(context.Context, int64) error { return nil }
func (l *lossy) Run(context.Context, *agentproto.Job, <-chan agentproto.Input, func(agentproto.Event) error) error {
	return nil
}

func (e *faultEngine) Start(ctx context.Context, lang string) (Sandbox, error) {
	c, err := e.fakeEngine.Start(ctx, lang)
	if err != nil {
		return nil, err
	}
	return &lossy{id: c.ID()}, nil
}

func (e *faultEngine) Remove(ctx context.Context, c Sandbox) error {
	e.removeCalls.Add(1)
	if e.removeFails.Load() {
		return errors.New("cannot connect to the Docker daemon")
	}
	return e.fakeEngine.Remove(ctx, c)
}

func (e *faultEngine) isLive(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.live[id]
}

func TestReleaseRetriesWhileTheEngineIsAway(t *testing.T) {
	e := &faultEngine{fakeEngine: newFake()}
	p := newPool(t, e, 1)
	c, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.removeFails.Store(true)
	p.Release(c)
	eventually(t, "removal tried again", func() bool { return e.removeCalls.Load() >= 3 })
	if !e.isLive(c.ID()) {
		t.Fatal("removed while the engine was away")
	}
	e.removeFails.Store(false)
	eventually(t, "removed once the engine is back", func() bool { return !e.isLive(c.ID()) })
}

func TestLostWarmContainersAreReplaced(t *testing.T) {
	e := &faultEngine{fakeEngine: newFake()}
	p := newPool(t, e, 2)
	eventually(t, "pool full", func() bool { return p.Stats().Ready == 2 })
	// The warm containers' connections die (the engine restarted) while nobody claims.
	var old []*lossy
	p.mu.Lock()
	for _, c := range p.paused {
		old = append(old, c.(*lossy))
		c.(*lossy).gone.Store(true)
	}
	p.mu.Unlock()
	// Without any claim, the pool drops them and starts new ones.
	eventually(t, "lost containers removed", func() bool { return !e.isLive(old[0].id) && !e.isLive(old[1].id) })
	eventually(t, "replaced", func() bool { return p.Stats().Ready == 2 })
	c, err := p.Claim(context.Background())
	if err != nil || c.(*lossy).Lost() {
		t.Fatalf("claim after the loss: %v %v", c, err)
	}
	p.Release(c)
}

func TestClaimSkipsALostContainer(t *testing.T) {
	e := &faultEngine{fakeEngine: newFake()}
	p := newPool(t, e, 2)
	eventually(t, "pool full", func() bool { return p.Stats().Ready == 2 })
	// Mark one lost between sweeps: whichever the claim meets first, it returns a live one.
	p.mu.Lock()
	a, b := p.paused[0].(*lossy), p.paused[1].(*lossy)
	a.gone.Store(true)
	p.mu.Unlock()
	c, err := p.Claim(context.Background())
	if err != nil || c.ID() != b.id {
		t.Fatalf("claimed %v (%v), want the live %s", c, err, b.id)
	}
	p.Release(c)
}

func TestClaimFailsFastWhileStartsFail(t *testing.T) {
	e := newFake()
	e.setFail(errors.New("cannot connect to the Docker daemon"))
	// A claim wait far longer than the test: the claim must give up because starts fail.
	p := New(e, Options{Lang: "py", Target: 1, ClaimWait: time.Hour, Logger: quiet,
		Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	defer p.Close(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.Claim(context.Background()); done <- err }()
	var err error
	eventually(t, "claim gave up", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if !errors.Is(err, ErrNoContainer) {
		t.Fatalf("err = %v, want ErrNoContainer", err)
	}
	// Once the engine is back, claims wait for (and get) a container again.
	e.setFail(nil)
	eventually(t, "refilled", func() bool { return p.Stats().Ready == 1 })
	c, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Release(c)
}
