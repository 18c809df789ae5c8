// Package pool keeps warm, paused sandbox containers per language and hands them out.
//
// A Pool owns one language. It keeps Target containers created and started; all but Unpaused of
// them are paused. Claim takes one (waiting a bounded time if none is ready), preferring one that
// is not paused, and resumes it if it is; Release removes it in the background. A refill loop
// starts the replacement when the claimed container is released (at once if the pool ran dry),
// with engine slots shared by all pools and exponential backoff while the engine fails.
// The engine is an interface so that this logic is tested with a fake.
package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Container is a warm container as the pool sees it.
type Container interface {
	ID() string
}

// Engine creates and destroys containers. Implementations must be safe for concurrent use.
type Engine interface {
	// Start creates a container for the language, starts it and waits until it is warm: its
	// agent then waits for a job and uses no CPU. On error nothing is left behind.
	Start(ctx context.Context, lang string) (Container, error)
	// Pause freezes a started container.
	Pause(ctx context.Context, c Container) error
	// Resume unpauses a paused container.
	Resume(ctx context.Context, c Container) error
	// Remove destroys a container, whatever its state.
	Remove(ctx context.Context, c Container) error
}

// ErrNoContainer is returned by Claim when no warm container became ready in time.
var ErrNoContainer = errors.New("no warm container became ready in time")

// ErrClosed is returned by Claim after Close.
var ErrClosed = errors.New("pool is shutting down")

// Observer receives pool events, for metrics. Any method may be called concurrently.
type Observer interface {
	ContainerStarted(lang string, took time.Duration)
	ContainerStartFailed(lang string, err error)
	Claimed(lang string, waited time.Duration)
}

type nopObserver struct{}

func (nopObserver) ContainerStarted(string, time.Duration) {}
func (nopObserver) ContainerStartFailed(string, error)     {}
func (nopObserver) Claimed(string, time.Duration)          {}

// Options are a pool's settings.
type Options struct {
	Lang   string
	Target int
	// Unpaused is how many warm containers stay running (their agent blocked on its stdin, using
	// no CPU) instead of paused, so that a claim need not unpause (about 11 ms on runc). The
	// pool unpauses a paused one whenever fewer are left; a container that is claimed as soon as
	// it is warm is never paused at all, which saves the engine a pause and an unpause per
	// execution under load. 0: every warm container is paused.
	Unpaused  int
	ClaimWait time.Duration
	// StartSlots bounds container starts and removals across pools (the engine's work at once);
	// nil means no bound.
	StartSlots chan struct{}
	// StartTimeout bounds one Start call.
	StartTimeout time.Duration
	// Backoff is the first delay after a failed start; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	Observer            Observer
	Logger              *slog.Logger
}

// Pool is the warm pool of one language.
type Pool struct {
	opt    Options
	engine Engine
	ready  chan Container // paused
	hot    chan Container // not paused
	wake   chan struct{}

	mu       sync.Mutex
	starting int // being started (and paused), not yet in ready or hot
	thawing  int // taken from ready, being unpaused for hot
	keeping  int // being started and to stay unpaused (a place in hot is kept for them)
	closed   bool
	failures int       // consecutive failed starts
	lastErr  error     // last start error, for /ready and logs
	retryAt  time.Time // no start before this (backoff)

	ctx      context.Context // ends on Close; start calls use it
	cancel   context.CancelFunc
	loopDone chan struct{}
	work     sync.WaitGroup // starts and removals in flight

	// out counts containers that left the warm set (claimed, lost, or closed) and whose removal
	// has not finished: with ready and starting it is every container the pool knows, which the
	// leak detector compares with what the engine lists.
	out atomic.Int64
}

// New makes a pool and starts its refill loop.
func New(engine Engine, opt Options) *Pool {
	if opt.Observer == nil {
		opt.Observer = nopObserver{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.StartTimeout == 0 {
		opt.StartTimeout = time.Minute
	}
	if opt.Backoff == 0 {
		opt.Backoff = 100 * time.Millisecond
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{
		opt:      opt,
		engine:   engine,
		ready:    make(chan Container, max(opt.Target, 1)),
		hot:      make(chan Container, max(opt.Unpaused, 1)),
		wake:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		loopDone: make(chan struct{}),
	}
	go p.refillLoop()
	return p
}

// Lang is the pool's language.
func (p *Pool) Lang() string { return p.opt.Lang }

// Target is how many warm containers the pool keeps.
func (p *Pool) Target() int { return p.opt.Target }

// Ready is how many warm containers wait now, paused or not.
func (p *Pool) Ready() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.warm()
}

// Unpaused is how many warm containers wait unpaused now (or are being unpaused).
func (p *Pool) Unpaused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.hot) + p.thawing
}

// warm counts the warm containers; p.mu is held.
func (p *Pool) warm() int { return len(p.ready) + len(p.hot) + p.thawing }

// unpausedPlaces is how many more containers may be kept unpaused; p.mu is held.
func (p *Pool) unpausedPlaces() int { return p.opt.Unpaused - len(p.hot) - p.thawing - p.keeping }

// Starting is how many containers are being started now.
func (p *Pool) Starting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starting
}

// Out is how many containers left the warm set (claimed, or found lost) and are not removed yet.
func (p *Pool) Out() int { return int(p.out.Load()) }

// LastError is the error of the last failed start while starts keep failing, else nil.
func (p *Pool) LastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures == 0 {
		return nil
	}
	return p.lastErr
}

// Claim takes a warm container, an unpaused one if there is one, else a paused one that it
// resumes. It waits up to the pool's ClaimWait (or until ctx ends). A container that cannot be
// resumed (the engine lost it) is removed and the next one tried. The caller must Release the
// container.
func (p *Pool) Claim(ctx context.Context) (Container, error) {
	begin := time.Now()
	timer := time.NewTimer(p.opt.ClaimWait)
	defer timer.Stop()
	// While starts keep failing (the engine is down) there is no point in waiting: see engineDown.
	recheck := time.NewTicker(50 * time.Millisecond)
	defer recheck.Stop()
	for {
		var c Container
		if err := p.engineDown(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoContainer, err)
		}
		paused := false
		select {
		case c = <-p.hot: // not paused: the fast path
			p.out.Add(1)
		default:
		}
		if c == nil {
			select {
			case c = <-p.hot:
			case c = <-p.ready:
				paused = true
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-timer.C:
				if err := p.LastError(); err != nil {
					return nil, fmt.Errorf("%w: %v", ErrNoContainer, err)
				}
				return nil, ErrNoContainer
			case <-p.ctx.Done():
				return nil, ErrClosed
			case <-recheck.C:
				continue
			}
			p.out.Add(1)
		}
		// Starting the replacement (and unpausing the next) costs the engine ~100 ms of CPU: done
		// now, it competes with this execution for the cores (python hello 11 -> 18 ms in the
		// sandbox on 2 cores). While other warm containers wait, it waits for the Release; the
		// last one is replaced at once.
		if p.Ready() == 0 {
			p.poke()
		}
		if lost(c) {
			p.opt.Logger.Warn("warm container lost its connection; trying the next", "lang", p.opt.Lang, "container", shortID(c))
			p.Release(c)
			continue
		}
		if !paused {
			p.opt.Observer.Claimed(p.opt.Lang, time.Since(begin))
			return c, nil
		}
		if err := p.engine.Resume(ctx, c); err != nil {
			p.opt.Logger.Warn("warm container lost; trying the next", "lang", p.opt.Lang, "container", shortID(c), "err", err)
			p.Release(c)
			continue
		}
		p.opt.Observer.Claimed(p.opt.Lang, time.Since(begin))
		return c, nil
	}
}

// Release removes a claimed container in the background, and refills the pool.
func (p *Pool) Release(c Container) {
	p.poke() // refill: see Claim
	p.work.Add(1)
	go func() {
		defer p.work.Done()
		// Done, even if removal failed: a container still there is then a leak, and counted so.
		defer p.out.Add(-1)
		// Retried while the engine fails (until Close): a failed removal would leak the container.
		remove := func(ctx context.Context) error {
			// Removals share the engine's slots with starts (each attempt, not the backoff in
			// between): unbounded, they slow every start down and with it the whole turnover
			// (python at 8 clients: 11.3 -> 12.4 executions/s).
			if s := p.opt.StartSlots; s != nil {
				select {
				case s <- struct{}{}:
					defer func() { <-s }()
				case <-p.ctx.Done(): // shutting down: no more starts to make room for
				}
			}
			return p.engine.Remove(ctx, c)
		}
		if err := removeUntilGone(remove, p.opt.Backoff, p.opt.MaxBackoff, 10*time.Minute, p.ctx.Done()); err != nil {
			p.opt.Logger.Warn("removing container", "lang", p.opt.Lang, "container", shortID(c), "err", err)
		}
	}()
}

func (p *Pool) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// refillLoop starts containers whenever warm+starting is below target, and unpauses warm ones
// whenever fewer than Unpaused are.
func (p *Pool) refillLoop() {
	defer close(p.loopDone)
	// Warm containers can die while they wait (the engine restarts): look every second.
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	for {
		wait := p.startWanted()
		var timer <-chan time.Time
		if wait > 0 {
			timer = time.After(wait)
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		case <-timer:
		case <-sweep.C:
			p.dropLost()
		}
	}
}

// startWanted launches the starts the pool is short of and returns how long to wait before
// looking again when backoff holds starts back (0: wait for a wake-up).
func (p *Pool) startWanted() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0
	}
	if d := time.Until(p.retryAt); d > 0 {
		return d
	}
	for p.unpausedPlaces() > 0 && len(p.ready) > 0 {
		c := <-p.ready
		p.thawing++
		p.work.Add(1)
		go p.thaw(c)
	}
	// While starts fail, probe with one at a time rather than a burst.
	limit := p.opt.Target
	if p.failures > 0 {
		limit = p.warm() + 1
	}
	for p.warm()+p.starting < min(limit, p.opt.Target) {
		p.starting++
		p.work.Add(1)
		go p.startOne()
	}
	return 0
}

// thaw unpauses a warm container ahead of the claim that will take it.
func (p *Pool) thaw(c Container) {
	defer p.work.Done()
	ctx, cancel := context.WithTimeout(p.ctx, p.opt.StartTimeout)
	err := p.engine.Resume(ctx, c)
	cancel()
	p.mu.Lock()
	p.thawing--
	keep := err == nil && !p.closed
	if keep {
		// hot holds Unpaused at most: thawing was counted against it.
		p.hot <- c
	}
	p.mu.Unlock()
	if !keep {
		if err != nil && p.ctx.Err() == nil {
			p.opt.Logger.Warn("unpausing a warm container; replacing it", "lang", p.opt.Lang, "container", shortID(c), "err", err)
		}
		p.out.Add(1)
		p.Release(c)
	}
	p.poke()
}

func (p *Pool) startOne() {
	defer p.work.Done()
	c, took, err := p.startWithSlot()
	p.mu.Lock()
	p.starting--
	if err == nil && !c.paused {
		p.keeping--
	}
	if err != nil {
		p.failures++
		p.lastErr = err
		p.retryAt = time.Now().Add(backoffDelay(p.opt.Backoff, p.opt.MaxBackoff, p.failures))
	} else {
		p.failures = 0
		p.lastErr = nil
	}
	closed := p.closed
	if err == nil && !closed {
		// Capacities are Unpaused and Target, and warm+starting never exceeds them, so neither
		// send blocks. A claim waiting on hot takes the container at once.
		if c.paused {
			p.ready <- c.Container
		} else {
			p.hot <- c.Container
		}
	}
	p.mu.Unlock()

	switch {
	case err != nil:
		if p.ctx.Err() == nil {
			p.opt.Logger.Warn("starting container", "lang", p.opt.Lang, "err", err)
			p.opt.Observer.ContainerStartFailed(p.opt.Lang, err)
		}
	case closed:
		p.out.Add(1)
		p.Release(c.Container)
	default:
		p.opt.Observer.ContainerStarted(p.opt.Lang, took)
	}
	p.poke()
}

// started is a container Start returned, and whether the pool paused it.
type started struct {
	Container
	paused bool
}

// backoffDelay is the pause after the n-th consecutive failed start: base doubled each time, at
// most max.
func backoffDelay(base, max time.Duration, n int) time.Duration {
	d := base << min(n-1, 30)
	if d > max || d <= 0 {
		return max
	}
	return d
}

func (p *Pool) startWithSlot() (started, time.Duration, error) {
	if s := p.opt.StartSlots; s != nil {
		select {
		case s <- struct{}{}:
			defer func() { <-s }()
		case <-p.ctx.Done():
			return started{}, 0, ErrClosed
		}
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.opt.StartTimeout)
	defer cancel()
	begin := time.Now()
	c, err := p.engine.Start(ctx, p.opt.Lang)
	if err != nil {
		return started{}, time.Since(begin), err
	}
	// Stay running only while fewer than Unpaused are (or a claim is waiting for this one).
	p.mu.Lock()
	hot := p.unpausedPlaces() > 0
	if hot {
		p.keeping++ // startOne puts it in hot
	}
	p.mu.Unlock()
	if hot {
		return started{Container: c}, time.Since(begin), nil
	}
	if err := p.engine.Pause(ctx, c); err != nil {
		p.out.Add(1)
		p.Release(c)
		return started{}, time.Since(begin), fmt.Errorf("pause: %w", err)
	}
	return started{Container: c, paused: true}, time.Since(begin), nil
}

// Close stops refilling, removes the warm containers and waits (until ctx ends) for starts and
// removals in flight. Containers claimed and not yet released are the caller's to release first.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	<-p.loopDone
	p.mu.Lock()
	for _, ch := range []chan Container{p.ready, p.hot} {
		for len(ch) > 0 {
			c := <-ch
			p.out.Add(1)
			p.Release(c)
		}
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.work.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pool %s: %w", p.opt.Lang, ctx.Err())
	}
}

func shortID(c Container) string {
	id := c.ID()
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
