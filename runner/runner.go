package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/pool"
)

// Pools is what the runner needs from the warm pools.
type Pools interface {
	Claim(ctx context.Context, lang string) (pool.Sandbox, error)
	Release(lang string, s pool.Sandbox)
}

// Observer is told about admissions and finished executions, for metrics and logs.
type Observer interface {
	Queued(delta int)
	Running(delta int)
	Rejected(reason string)
	Finished(p *Plan, r *Result, took time.Duration)
}

// Runner runs executions.
type Runner struct {
	pools       Pools
	obs         Observer
	log         *slog.Logger
	slots       int // executions that run at once
	heavySlots  int // of those, executions of more than one run (Plan.Heavy)
	queueLength int64
	queueWait   time.Duration
	answerBytes int64 // output an answer keeps (a Budget's size when the caller gives none)

	admitMu sync.Mutex // protects the following fields
	running int        // executions holding a slot
	heavy   int        // of those, heavy ones
	// waiting are the executions queued for a slot, oldest first; each one's channel receives the
	// slot handed over to it (see dispatchLocked).
	waiting []*waiter
}

// waiter is an execution queued for a slot.
type waiter struct {
	turn  chan struct{}
	heavy bool
}

// New makes a runner with the server's admission settings.
func New(srv config.Server, pools Pools, obs Observer, log *slog.Logger) *Runner {
	slots := max(srv.MaxConcurrent, 1)
	heavy := srv.HeavyShare
	if heavy < 1 || heavy > slots {
		heavy = max(slots-1, 1)
	}
	answerBytes := srv.MaxAnswerBytes
	if answerBytes <= 0 {
		answerBytes = math.MaxInt64
	}
	return &Runner{
		pools: pools, obs: obs, log: log,
		slots: slots, heavySlots: heavy,
		queueLength: int64(srv.QueueLength),
		queueWait:   ms(int64(srv.QueueWaitMs)),
		answerBytes: answerBytes,
	}
}

// canRunLocked reports whether an execution of the class could take a slot now: heavy ones only
// while their share is not used up, so a slot is always left for single runs.
func (r *Runner) canRunLocked(heavy bool) bool {
	return r.running < r.slots && (!heavy || r.heavy < r.heavySlots)
}

// admit waits for an execution slot: at most queueLength wait, each at most queueWait. Slots go
// to the waiting executions in arrival order, skipping only heavy ones whose share is used up:
// those keep their place among the heavy ones, and a single run is never queued behind them.
func (r *Runner) admit(ctx context.Context, heavy bool) (func(), error) {
	r.admitMu.Lock()
	// dispatchLocked leaves no waiter that could run: a newcomer that can run overtakes only
	// waiters that cannot.
	if r.canRunLocked(heavy) {
		r.takeLocked(heavy)
		r.admitMu.Unlock()
		return r.admitted(heavy), nil
	}
	if int64(len(r.waiting)) >= r.queueLength {
		r.admitMu.Unlock()
		r.obs.Rejected("queue_full")
		return nil, ErrOverloaded
	}
	w := &waiter{turn: make(chan struct{}, 1), heavy: heavy}
	r.waiting = append(r.waiting, w)
	r.admitMu.Unlock()
	r.obs.Queued(1)
	timer := time.NewTimer(r.queueWait)
	defer timer.Stop()
	select {
	case <-w.turn:
		if ctx.Err() != nil {
			// Handed a slot as the client left: the slot goes on to the next.
			return nil, r.leaveQueue(w, "client_gone", ctx.Err())
		}
		r.obs.Queued(-1)
		return r.admitted(heavy), nil
	case <-timer.C:
		return nil, r.leaveQueue(w, "queue_timeout", ErrOverloaded)
	case <-ctx.Done():
		return nil, r.leaveQueue(w, "client_gone", ctx.Err())
	}
}

// leaveQueue takes w, whose execution gives up for reason, out of the queue. A slot handed to it
// meanwhile goes on to the next waiter: one that gives up leaves no hole.
func (r *Runner) leaveQueue(w *waiter, reason string, err error) error {
	r.admitMu.Lock()
	if i := slices.Index(r.waiting, w); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
	} else {
		r.freeSlotLocked(w.heavy) // out of the queue means served
	}
	r.admitMu.Unlock()
	r.obs.Rejected(reason)
	r.obs.Queued(-1)
	return err
}

func (r *Runner) takeLocked(heavy bool) {
	r.running++
	if heavy {
		r.heavy++
	}
}

// admitted counts an execution that holds a slot as running, and returns what frees the slot.
func (r *Runner) admitted(heavy bool) func() {
	r.obs.Running(1)
	return func() {
		r.admitMu.Lock()
		r.freeSlotLocked(heavy)
		r.admitMu.Unlock()
		r.obs.Running(-1)
	}
}

// freeSlotLocked frees a slot of the class and hands what can run to the waiters.
func (r *Runner) freeSlotLocked(heavy bool) {
	r.running--
	if heavy {
		r.heavy--
	}
	r.dispatchLocked()
}

// dispatchLocked hands free slots to the oldest waiters that can run, in arrival order.
func (r *Runner) dispatchLocked() {
	for i := 0; i < len(r.waiting) && r.running < r.slots; {
		w := r.waiting[i]
		if !r.canRunLocked(w.heavy) {
			i++
			continue
		}
		r.takeLocked(w.heavy)
		w.turn <- struct{}{} // room for one: never blocks
		r.waiting = slices.Delete(r.waiting, i, i+1)
	}
}

// Execute admits and runs a plan, sending its events to sink as they happen (sink may be nil),
// and returns the result. Errors: ErrOverloaded, ErrUnavailable (wrapping the cause), an error
// of the sink (which ends the run), or the context's error.
func (r *Runner) Execute(ctx context.Context, p *Plan, sink Sink) (*Result, error) {
	done, err := r.admit(ctx, p.Heavy())
	if err != nil {
		return nil, err
	}
	defer done()
	begin := time.Now()
	res, err := r.execute(ctx, p, sink)
	if err != nil {
		return nil, err
	}
	r.obs.Finished(p, res, time.Since(begin))
	return res, nil
}

func (r *Runner) execute(ctx context.Context, p *Plan, sink Sink) (*Result, error) {
	answer := r.answerBytes
	if p.AnswerBytes > 0 {
		answer = p.AnswerBytes
	}
	c := newCollector(p, sink, newBudget(answer))
	job := &p.Job
	for {
		ended, typed, err := r.runIn(ctx, p, job, c, sink)
		if err != nil {
			return nil, err
		}
		if c.agentErr != "" {
			// The agent could not place the files (the tmpfs is too small for them, say).
			return nil, inputErr("the files could not be written in the sandbox: %s", c.agentErr)
		}
		if ended {
			if rest := c.rest(); rest != nil {
				// A judge test ended its whole sandbox (gVisor): the tests after it run in a
				// fresh one, after the same compile, as they would have in the first.
				job = rest
				continue
			}
		}
		res := c.result()
		res.Typed = typed
		return res, nil
	}
}

// runIn runs job, the plan's or what is left of it, in a sandbox of its own, collecting into c.
// ended says the sandbox ended whole with the step that was running (gVisor), which c has
// finished with the limit it met.
func (r *Runner) runIn(ctx context.Context, p *Plan, job *agentproto.Job, c *collector, sink Sink) (ended bool, typed []byte, err error) {
	sb, err := r.pools.Claim(ctx, p.Language)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil, ctx.Err()
		}
		return false, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Removing the sandbox happens in the background, off the response path.
	defer r.pools.Release(p.Language, sb)
	if p.MemoryBytes != p.PoolMemoryBytes {
		if err := sb.SetMemory(ctx, p.MemoryBytes); err != nil {
			return false, nil, fmt.Errorf("%w: setting the memory limit: %w", ErrUnavailable, err)
		}
	}
	// The agent enforces every step's limits; this deadline only guards against a lost sandbox.
	jobCtx, cancel := context.WithTimeout(ctx, p.Deadline+10*time.Second)
	defer cancel()
	input, typedInput := r.input(jobCtx, p, sink)
	err = sb.Run(jobCtx, job, input, c.handle)
	cancel() // ends the input's copy, if any, before typed is read
	if err != nil {
		switch {
		case c.sinkErr != nil:
			return false, nil, c.sinkErr
		case ctx.Err() != nil:
			return false, nil, ctx.Err()
		case (errors.Is(err, pool.ErrOutOfMemory) || errors.Is(err, pool.ErrProcessLimit) || errors.Is(err, pool.ErrSandboxKilled)) && c.open:
			// The sandbox ended with the step (gVisor): the step met the limit, and the steps
			// after it cannot run in this sandbox.
			if err := c.sandboxEnded(errors.Is(err, pool.ErrOutOfMemory)); err != nil {
				return false, nil, err
			}
			return true, nil, nil
		}
		return false, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return false, typedInput.bytes(), nil
}

// MaxTypedBytes bounds what is kept of an interactive run's typed input for the execution log.
const MaxTypedBytes = 64 << 10

// input is the stdin of an interactive plan: its Console's input, copied on its way when the
// execution is to be saved, so the log keeps what was typed.
func (r *Runner) input(ctx context.Context, p *Plan, sink Sink) (<-chan agentproto.Input, *typedInput) {
	console, ok := sink.(Console)
	if !ok || !p.Job.Interactive {
		return nil, nil
	}
	if !p.Save {
		return console.Input(), nil
	}
	t := &typedInput{done: make(chan struct{})}
	out := make(chan agentproto.Input)
	go t.copy(ctx, console.Input(), out)
	return out, t
}

// typedInput keeps the stdin typed into a run while passing it on.
type typedInput struct {
	buf  []byte
	done chan struct{} // closed when copy returns; buf is then the copy's no more
}

func (t *typedInput) copy(ctx context.Context, in <-chan agentproto.Input, out chan<- agentproto.Input) {
	defer close(t.done)
	for {
		select {
		case v, ok := <-in:
			if !ok {
				close(out)
				return
			}
			if v.Kind == agentproto.KindStdin {
				t.buf = append(t.buf, v.Data[:min(len(v.Data), MaxTypedBytes-len(t.buf))]...)
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// bytes waits for the copy to end and returns what was typed (nil for nil).
func (t *typedInput) bytes() []byte {
	if t == nil {
		return nil
	}
	<-t.done
	return t.buf
}
