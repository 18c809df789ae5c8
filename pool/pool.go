// Package pool keeps warm, paused sandbox containers per language and hands them out.
//
// A Pool owns one language. It keeps Target containers created and started; all but Unpaused of
// them are paused. Claim takes one (waiting a bounded time if none is ready), preferring one that
// is not paused, and resumes it if it is; claims that wait are served in arrival order, like the
// connection requests of database/sql. Release removes a container in the background. A refill
// loop starts the replacement when the claimed container is released (at once if the pool ran
// dry), with engine slots shared by all pools and exponential backoff while the engine fails.
// The engine is an interface so that this logic is tested with a fake.
package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoContainer is returned by Claim when no warm container became ready in time.
var ErrNoContainer = errors.New("no warm container became ready in time")

// ErrClosed is returned by Claim after Close.
var ErrClosed = errors.New("pool is shutting down")

// errLost is why a claim cannot use a container whose line to the agent died.
var errLost = errors.New("its line to the agent is gone")

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
	Lang string
	// Target is how many warm containers the pool keeps at first; SetTarget changes it.
	Target int
	// Unpaused is how many warm containers stay running (their agent blocked on its stdin, using
	// no CPU) instead of paused, so that a claim need not unpause. The pool unpauses a paused
	// one whenever fewer are left; a container that is claimed as soon as it is warm is never
	// paused at all, which saves the engine a pause and an unpause per execution under load.
	// 0: every warm container is paused.
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
	wake   chan struct{} // pokes the refill loop

	mu sync.Mutex // protects the following fields
	// target is how many containers the pool keeps warm or starting (Options.Target at first).
	target int
	// hot and paused are the warm containers, oldest first. While a claim waits both are empty:
	// a container that becomes warm goes to the oldest waiter instead (putLocked).
	hot    []Sandbox // not paused
	paused []Sandbox
	// waiters are the claims waiting for a container, in arrival order (waiter.seq).
	waiters  []*waiter
	arrivals int64     // claims so far: the next waiter.seq
	starting int       // being started (and paused), not yet warm
	thawing  int       // taken from paused, being unpaused
	keeping  int       // being started and to stay unpaused (see stayUnpausedLocked)
	closed   bool      // Close was called: nothing enters the warm set any more
	failures int       // consecutive failed starts
	lastErr  error     // last start error, for /ready and logs
	retryAt  time.Time // no start before this (backoff)
	// claims counts the claims so far, waited those of them that had to queue: the demand that
	// FollowDemand sizes the pool by.
	claims, waited int64

	ctx      context.Context // ends on Close; start calls use it
	cancel   context.CancelFunc
	loopDone chan struct{}
	work     sync.WaitGroup // starts and removals in flight

	// out counts containers that left the warm set (claimed, lost, or closed) and whose removal
	// has not finished: with the warm and starting ones it is every container the pool knows,
	// which the leak detector compares with what the engine lists. Containers leave the warm set
	// under mu, so Stats sees them in exactly one place; the removal ends the count without it.
	out atomic.Int64
}

// waiter is a claim waiting for a container.
type waiter struct {
	seq    int64 // arrival order; a claim keeps it when it must wait again
	queued bool  // it has waited before (counted once in Pool.waited)
	// got receives one handoff, sent under mu; its room for one means the pool never blocks.
	got chan handoff
}

// handoff is what a waiter receives: a container (already counted in out), or the reason none
// will come.
type handoff struct {
	c      Sandbox
	paused bool
	err    error
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
		target:   opt.Target,
		engine:   engine,
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

// Stats is a snapshot of a pool's state, taken under one lock.
type Stats struct {
	Lang   string
	Target int
	// Ready is how many warm containers wait, paused or not; Unpaused how many of them are not
	// paused (or are being unpaused).
	Ready, Unpaused int
	// Starting is how many are being started.
	Starting int
	// Out is how many left the warm set (claimed, or found lost) and are not removed yet.
	Out int
	// Waiting is how many claims wait for a container.
	Waiting int
	// LastError is the error of the last failed start while starts keep failing, else nil.
	LastError error
	// Claims counts the claims so far, Waited those that found no warm container and queued.
	Claims, Waited int64
}

// Stats returns a snapshot of the pool's state.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Stats{
		Lang: p.opt.Lang, Target: p.target, Ready: p.warmLocked(), Unpaused: len(p.hot) + p.thawing,
		Starting: p.starting, Out: int(p.out.Load()), Waiting: len(p.waiters), Claims: p.claims, Waited: p.waited,
	}
	if p.failures > 0 {
		st.LastError = p.lastErr
	}
	return st
}

// SetTarget changes how many containers the pool keeps warm or starting. Above it, the pool
// starts more; below it, warm containers beyond the target are removed, paused ones first (starts
// under way finish, and their containers are removed if still surplus).
func (p *Pool) SetTarget(n int) {
	p.mu.Lock()
	p.target = max(n, 0)
	p.mu.Unlock()
	p.poke()
}

// warmLocked counts the warm containers, those being unpaused included.
func (p *Pool) warmLocked() int { return len(p.hot) + len(p.paused) + p.thawing }

// unpausedPlacesLocked is how many more containers may be kept unpaused.
func (p *Pool) unpausedPlacesLocked() int {
	return p.opt.Unpaused - len(p.hot) - p.thawing - p.keeping
}

// stayUnpausedLocked reports whether a container just started should skip the pause: fewer than
// Unpaused are kept unpaused, or a claim waits that no container already on its way (kept
// unpaused, or thawing) will serve. The waiter may give up meanwhile; the container then waits
// unpaused, one over Unpaused, until a claim takes it.
func (p *Pool) stayUnpausedLocked() bool {
	return p.unpausedPlacesLocked() > 0 || len(p.waiters) > p.keeping+p.thawing
}

// Claim takes a warm container, an unpaused one if there is one, else a paused one that it
// resumes. When none is warm, or other claims already wait, it queues behind them and gets a
// container in arrival order, waiting up to the pool's ClaimWait (or until ctx ends). A container
// that cannot be used (the engine lost it) is removed and the claim waits again in its place.
// The caller must Release the container.
func (p *Pool) Claim(ctx context.Context) (Sandbox, error) {
	begin := time.Now()
	expired := time.NewTimer(p.opt.ClaimWait)
	defer expired.Stop()
	w := &waiter{got: make(chan handoff, 1)}
	for {
		h, err := p.await(ctx, w, expired.C)
		if err != nil {
			return nil, err
		}
		if err := p.usable(ctx, h); err != nil {
			if ctx.Err() == nil {
				p.opt.Logger.Warn("warm container lost; trying the next", "lang", p.opt.Lang, "container", ShortID(h.c), "err", err)
			}
			p.Release(h.c)
			continue
		}
		p.opt.Observer.Claimed(p.opt.Lang, time.Since(begin))
		return h.c, nil
	}
}

// await returns a container for w: a warm one at once if no claim waits ahead, else the one the
// pool hands over when w is the oldest waiter.
func (p *Pool) await(ctx context.Context, w *waiter, expired <-chan time.Time) (handoff, error) {
	if err := ctx.Err(); err != nil {
		return handoff{}, err
	}
	p.mu.Lock()
	if err := p.refuseLocked(); err != nil {
		p.mu.Unlock()
		return handoff{}, err
	}
	if w.seq == 0 {
		p.arrivals++
		w.seq = p.arrivals
		p.claims++
	}
	if len(p.waiters) == 0 && len(p.hot)+len(p.paused) > 0 {
		h := p.takeLocked()
		p.mu.Unlock()
		return h, nil
	}
	p.enqueueLocked(w)
	p.mu.Unlock()
	select {
	case h := <-w.got:
		if h.err == nil && ctx.Err() != nil {
			// Served as it gave up: the container is still of use to the next claim.
			p.mu.Lock()
			p.passOnLocked(h)
			p.mu.Unlock()
			return handoff{}, ctx.Err()
		}
		return h, h.err
	case <-ctx.Done():
		return handoff{}, p.leave(w, ctx.Err())
	case <-expired:
		return handoff{}, p.leave(w, p.noContainer())
	}
}

// refuseLocked is why a claim gets no container now: the pool is closed, or the engine is down
// (see engineDownLocked) and a request should get its 503 now rather than after the claim wait.
func (p *Pool) refuseLocked() error {
	if p.closed {
		return ErrClosed
	}
	if err := p.engineDownLocked(); err != nil {
		return fmt.Errorf("%w: %v", ErrNoContainer, err)
	}
	return nil
}

// noContainer is the error of a claim that waited ClaimWait in vain.
func (p *Pool) noContainer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures > 0 {
		return fmt.Errorf("%w: %v", ErrNoContainer, p.lastErr)
	}
	return ErrNoContainer
}

// takeLocked takes a warm container, an unpaused one first, for a claim with nobody ahead of it.
func (p *Pool) takeLocked() handoff {
	var h handoff
	if len(p.hot) > 0 {
		h.c = popFront(&p.hot)
	} else {
		h.c, h.paused = popFront(&p.paused), true
	}
	p.out.Add(1)
	// Starting the replacement (and unpausing the next) costs the engine CPU: done now, it
	// competes with this execution for the cores. While other warm containers wait, it waits for
	// the Release; the last one is replaced at once.
	if p.warmLocked() == 0 {
		p.poke()
	}
	return h
}

// enqueueLocked queues w by arrival: a claim that lost the container it was handed goes back
// to its place, not to the end.
func (p *Pool) enqueueLocked(w *waiter) {
	if !w.queued {
		w.queued = true
		p.waited++
	}
	i := len(p.waiters)
	for i > 0 && p.waiters[i-1].seq > w.seq {
		i--
	}
	p.waiters = slices.Insert(p.waiters, i, w)
}

// leave takes w, which gives up with err, out of the queue. A container handed to it meanwhile
// goes to the next waiter (or back to the warm set): a claim that gives up leaves no hole.
func (p *Pool) leave(w *waiter, err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.waiters, w); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		return err
	}
	// Out of the queue means served: the handoff was sent under mu, so it is there.
	p.passOnLocked(<-w.got)
	return err
}

// passOnLocked gives the container of a handoff that came too late for its claim to the next
// waiter, or back to the warm set.
func (p *Pool) passOnLocked(h handoff) {
	if h.c != nil {
		p.out.Add(-1) // back in the warm set, or counted again if handed on
		p.putLocked(h.c, h.paused)
	}
}

// putLocked gives a container that became warm to the oldest waiter, else adds it to the warm
// set; after Close it removes it.
func (p *Pool) putLocked(c Sandbox, paused bool) {
	switch {
	case p.closed:
		p.out.Add(1)
		p.Release(c)
	case len(p.waiters) > 0:
		p.out.Add(1)
		popFront(&p.waiters).got <- handoff{c: c, paused: paused}
	case paused:
		p.paused = append(p.paused, c)
	default:
		p.hot = append(p.hot, c)
	}
}

// popFront removes and returns the oldest element of a queue.
func popFront[T any](q *[]T) T {
	x := (*q)[0]
	*q = slices.Delete(*q, 0, 1) // clears the last place: no reference stays behind
	return x
}

// failWaitersLocked ends every waiting claim with err.
func (p *Pool) failWaitersLocked(err error) {
	for _, w := range p.waiters {
		w.got <- handoff{err: err}
	}
	p.waiters = nil
}

// failFastLocked fails the waiting claims while the engine is down (see engineDownLocked): they
// get their error now rather than after the claim wait.
func (p *Pool) failFastLocked() {
	if err := p.engineDownLocked(); err != nil {
		p.failWaitersLocked(fmt.Errorf("%w: %v", ErrNoContainer, err))
	}
}

// usable readies a claimed container for a job: it must still reach its agent, and a paused one
// is resumed.
func (p *Pool) usable(ctx context.Context, h handoff) error {
	if h.c.Lost() {
		return errLost
	}
	if h.paused {
		return p.engine.Resume(ctx, h.c)
	}
	return nil
}

// Release removes a claimed container in the background, and refills the pool.
func (p *Pool) Release(c Sandbox) {
	p.poke() // refill: see takeLocked
	p.work.Add(1)
	go func() {
		defer p.work.Done()
		// Done, even if removal failed: a container still there is then a leak, and counted so.
		defer p.out.Add(-1)
		// Retried while the engine fails (until Close): a failed removal would leak the container.
		remove := func(ctx context.Context) error {
			// Removals share the engine's slots with starts (each attempt, not the backoff in
			// between): unbounded, they slow every start down and with it the whole turnover.
			if s := p.opt.StartSlots; s != nil {
				select {
				case s <- struct{}{}:
					defer func() { <-s }()
				case <-p.ctx.Done(): // shutting down: no more starts to make room for
				}
			}
			return p.engine.Remove(ctx, c)
		}
		if err := RemoveUntilGone(remove, p.opt.Backoff, p.opt.MaxBackoff, 10*time.Minute, p.ctx.Done()); err != nil {
			p.opt.Logger.Warn("removing container", "lang", p.opt.Lang, "container", ShortID(c), "err", err)
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
	for p.unpausedPlacesLocked() > 0 && len(p.paused) > 0 {
		p.thawing++
		p.work.Add(1)
		go p.thaw(popFront(&p.paused))
	}
	// While starts fail, probe with one at a time rather than a burst.
	limit := p.target
	if p.failures > 0 {
		limit = p.warmLocked() + 1
	}
	for p.warmLocked()+p.starting < min(limit, p.target) {
		p.starting++
		p.work.Add(1)
		go p.startOne()
	}
	p.trimLocked()
	return 0
}

// trimLocked removes the warm containers beyond the target (SetTarget lowered it), paused ones
// first: they are the ones a claim would take last.
func (p *Pool) trimLocked() {
	for len(p.waiters) == 0 && len(p.hot)+len(p.paused) > 0 && p.warmLocked() > p.target {
		var c Sandbox
		if len(p.paused) > 0 {
			c = popFront(&p.paused)
		} else {
			c = popFront(&p.hot)
		}
		p.out.Add(1)
		p.Release(c)
	}
}

// thaw unpauses a warm container ahead of the claim that will take it.
func (p *Pool) thaw(c Sandbox) {
	defer p.work.Done()
	ctx, cancel := context.WithTimeout(p.ctx, p.opt.StartTimeout)
	err := p.engine.Resume(ctx, c)
	cancel()
	p.mu.Lock()
	p.thawing--
	if err == nil {
		p.putLocked(c, false)
	} else {
		p.out.Add(1)
		p.Release(c)
		p.failFastLocked() // it may have been the last warm one
	}
	p.mu.Unlock()
	if err != nil && p.ctx.Err() == nil {
		p.opt.Logger.Warn("unpausing a warm container; replacing it", "lang", p.opt.Lang, "container", ShortID(c), "err", err)
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
	closed := p.closed
	if err != nil {
		p.failures++
		p.lastErr = err
		p.retryAt = time.Now().Add(backoffDelay(p.opt.Backoff, p.opt.MaxBackoff, p.failures))
		p.failFastLocked()
	} else {
		p.failures = 0
		p.lastErr = nil
		p.putLocked(c.Sandbox, c.paused) // to the oldest waiter, if one waits
	}
	p.mu.Unlock()

	switch {
	case err != nil:
		if p.ctx.Err() == nil {
			p.opt.Logger.Warn("starting container", "lang", p.opt.Lang, "err", err)
			p.opt.Observer.ContainerStartFailed(p.opt.Lang, err)
		}
	case !closed:
		p.opt.Observer.ContainerStarted(p.opt.Lang, took)
	}
	p.poke()
}

// started is a container Start returned, and whether the pool paused it.
type started struct {
	Sandbox
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
	// Stay running only while fewer than Unpaused are or a claim waits for this one: a
	// container claimed as soon as it is warm is never paused.
	p.mu.Lock()
	hot := p.stayUnpausedLocked()
	if hot {
		p.keeping++ // startOne hands it on unpaused
	}
	p.mu.Unlock()
	if hot {
		return started{Sandbox: c}, time.Since(begin), nil
	}
	if err := p.engine.Pause(ctx, c); err != nil {
		p.out.Add(1)
		p.Release(c)
		return started{}, time.Since(begin), fmt.Errorf("pause: %w", err)
	}
	return started{Sandbox: c, paused: true}, time.Since(begin), nil
}

// Close stops refilling, fails the waiting claims, removes the warm containers and waits (until
// ctx ends) for starts and removals in flight. Containers claimed and not yet released are the
// caller's to release first.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.failWaitersLocked(ErrClosed)
	for _, c := range slices.Concat(p.hot, p.paused) {
		p.out.Add(1)
		p.Release(c)
	}
	p.hot, p.paused = nil, nil
	p.mu.Unlock()
	p.cancel()
	<-p.loopDone
	done := make(chan struct{})
	go func() { p.work.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pool %s: %w", p.opt.Lang, ctx.Err())
	}
}

// ShortID is a sandbox's ID cut to the length docker shows.
func ShortID(c Sandbox) string {
	id := c.ID()
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
