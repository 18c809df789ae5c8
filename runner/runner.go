package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

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
	queueLength int64
	queueWait   time.Duration

	admitMu sync.Mutex // protects the following fields
	running int        // executions holding a slot
	// waiting are the executions queued for a slot, oldest first; each channel receives the slot
	// handed over to it (see freeSlotLocked).
	waiting []chan struct{}
}

// New makes a runner with the server's admission settings.
func New(srv config.Server, pools Pools, obs Observer, log *slog.Logger) *Runner {
	return &Runner{
		pools: pools, obs: obs, log: log,
		slots:       max(srv.MaxConcurrent, 1),
		queueLength: int64(srv.QueueLength),
		queueWait:   ms(int64(srv.QueueWaitMs)),
	}
}

// admit waits for an execution slot: at most queueLength wait, each at most queueWait. Slots go
// to the waiting executions in arrival order, and one that arrives queues behind them.
func (r *Runner) admit(ctx context.Context) (func(), error) {
	r.admitMu.Lock()
	// A freed slot goes straight to a waiter: with anyone waiting, none is free.
	if r.running < r.slots && len(r.waiting) == 0 {
		r.running++
		r.admitMu.Unlock()
		return r.admitted(), nil
	}
	if int64(len(r.waiting)) >= r.queueLength {
		r.admitMu.Unlock()
		r.obs.Rejected("queue_full")
		return nil, ErrOverloaded
	}
	turn := make(chan struct{}, 1)
	r.waiting = append(r.waiting, turn)
	r.admitMu.Unlock()
	r.obs.Queued(1)
	timer := time.NewTimer(r.queueWait)
	defer timer.Stop()
	select {
	case <-turn:
		if ctx.Err() != nil {
			// Handed a slot as the client left: the slot goes on to the next.
			return nil, r.leaveQueue(turn, "client_gone", ctx.Err())
		}
		r.obs.Queued(-1)
		return r.admitted(), nil
	case <-timer.C:
		return nil, r.leaveQueue(turn, "queue_timeout", ErrOverloaded)
	case <-ctx.Done():
		return nil, r.leaveQueue(turn, "client_gone", ctx.Err())
	}
}

// leaveQueue takes turn, whose execution gives up for reason, out of the queue. A slot handed to
// it meanwhile goes on to the next waiter: one that gives up leaves no hole.
func (r *Runner) leaveQueue(turn chan struct{}, reason string, err error) error {
	r.admitMu.Lock()
	if i := slices.Index(r.waiting, turn); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
	} else {
		r.freeSlotLocked() // out of the queue means served
	}
	r.admitMu.Unlock()
	r.obs.Rejected(reason)
	r.obs.Queued(-1)
	return err
}

// admitted counts an execution that holds a slot as running, and returns what frees the slot.
func (r *Runner) admitted() func() {
	r.obs.Running(1)
	return func() {
		r.admitMu.Lock()
		r.freeSlotLocked()
		r.admitMu.Unlock()
		r.obs.Running(-1)
	}
}

// freeSlotLocked hands a slot that frees to the oldest waiter, or frees it if nobody waits.
func (r *Runner) freeSlotLocked() {
	if len(r.waiting) == 0 {
		r.running--
		return
	}
	r.waiting[0] <- struct{}{} // room for one: never blocks
	r.waiting = slices.Delete(r.waiting, 0, 1)
}

// Execute admits and runs a plan, sending its events to sink as they happen (sink may be nil),
// and returns the result. Errors: ErrOverloaded, ErrUnavailable (wrapping the cause), an error
// of the sink (which ends the run), or the context's error.
func (r *Runner) Execute(ctx context.Context, p *Plan, sink Sink) (*Result, error) {
	done, err := r.admit(ctx)
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
	sb, err := r.pools.Claim(ctx, p.Language)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Removing the sandbox happens in the background, off the response path.
	defer r.pools.Release(p.Language, sb)
	if p.MemoryBytes != p.PoolMemoryBytes {
		if err := sb.SetMemory(ctx, p.MemoryBytes); err != nil {
			return nil, fmt.Errorf("%w: setting the memory limit: %w", ErrUnavailable, err)
		}
	}
	// The agent enforces every step's limits; this deadline only guards against a lost sandbox.
	jobCtx, cancel := context.WithTimeout(ctx, p.Deadline+10*time.Second)
	defer cancel()
	c := newCollector(p, sink)
	if err := sb.Run(jobCtx, &p.Job, nil, c.handle); err != nil {
		switch {
		case c.sinkErr != nil:
			return nil, c.sinkErr
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case (errors.Is(err, pool.ErrOutOfMemory) || errors.Is(err, pool.ErrProcessLimit) || errors.Is(err, pool.ErrSandboxKilled)) && c.open:
			// The sandbox ended with the step (gVisor): the step met the limit, and the steps
			// after it cannot run.
			if err := c.sandboxEnded(errors.Is(err, pool.ErrOutOfMemory)); err != nil {
				return nil, err
			}
			return c.result(), nil
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if c.agentErr != "" {
		// The agent could not place the files (the tmpfs is too small for them, say).
		return nil, inputErr("the files could not be written in the sandbox: %s", c.agentErr)
	}
	return c.result(), nil
}
