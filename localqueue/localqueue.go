// Package localqueue holds the async submissions (Judge0's tokens) of a server that has no job
// queue: a bounded FIFO of plans, run by as many workers as the server has execution slots on
// the local executor, with each result kept for a TTL. It is the Judge0 dialect's Store. A
// token answers Get at once and Wait until its submission is done. Nothing survives a restart;
// a shared queue (NATS JetStream) is what makes submissions durable and spreads them over hosts.
package localqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/codeexec/codeexec/api/judge0"
	"github.com/codeexec/codeexec/runner"
)

// Executor runs a plan; *runner.Runner is one.
type Executor interface {
	Execute(ctx context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error)
}

// retryWait is how long a submission that the executor refused for load waits before it tries
// again: async submissions wait for capacity instead of failing.
const retryWait = 200 * time.Millisecond

type entry struct {
	token string
	sub   judge0.Record
	plan  *runner.Plan
	done  chan struct{}
}

// Queue is the in-process submissions store.
type Queue struct {
	exec       Executor
	log        *slog.Logger
	maxPending int
	ttl        time.Duration
	workers    int

	mu      sync.Mutex
	entries map[string]*entry
	pending []*entry // oldest first
	running int
	wake    chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts workers that run submissions on exec, at most maxPending waiting, results kept for
// ttl.
func New(exec Executor, workers, maxPending int, ttl time.Duration, log *slog.Logger) *Queue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		exec: exec, log: log, maxPending: maxPending, ttl: ttl, workers: max(workers, 1),
		entries: map[string]*entry{}, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
	}
	for range q.workers {
		q.wg.Add(1)
		go q.work()
	}
	q.wg.Add(1)
	go q.expire()
	return q
}

// Close stops the workers; running submissions are cancelled.
func (q *Queue) Close() {
	q.cancel()
	q.wg.Wait()
}

// Submit queues a plan with meta; its token is the plan's job id (as in the execution log).
func (q *Queue) Submit(_ context.Context, p *runner.Plan, meta []byte) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) >= q.maxPending {
		return "", judge0.ErrQueueFull
	}
	token := p.JobID
	if _, dup := q.entries[token]; dup || token == "" {
		return "", fmt.Errorf("localqueue: plan %q submitted twice", token)
	}
	e := &entry{token: token, sub: judge0.Record{State: judge0.Queued, Meta: meta}, plan: p, done: make(chan struct{})}
	q.entries[token] = e
	q.pending = append(q.pending, e)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return token, nil
}

// Get returns the submission as it is now.
func (q *Queue) Get(_ context.Context, token string) (judge0.Record, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.entries[token]
	if !ok {
		return judge0.Record{}, judge0.ErrNotFound
	}
	return e.sub, nil
}

// Wait returns the submission once it is done, or as it is after max (or when ctx ends).
func (q *Queue) Wait(ctx context.Context, token string, max time.Duration) (judge0.Record, error) {
	q.mu.Lock()
	e, ok := q.entries[token]
	q.mu.Unlock()
	if !ok {
		return judge0.Record{}, judge0.ErrNotFound
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-e.done:
	case <-t.C:
	case <-ctx.Done():
	}
	return q.Get(ctx, token)
}

// Stats says how many submissions wait and run, and how many workers there are.
func (q *Queue) Stats(context.Context) (judge0.QueueStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return judge0.QueueStats{Pending: len(q.pending), Running: q.running, Workers: q.workers}, nil
}

func (q *Queue) work() {
	defer q.wg.Done()
	for {
		e := q.next()
		if e == nil {
			return
		}
		res, err := q.exec.Execute(q.ctx, e.plan, nil)
		if errors.Is(err, runner.ErrOverloaded) && q.ctx.Err() == nil {
			// The executor's slots are taken by synchronous requests: wait at the head.
			q.requeue(e)
			select {
			case <-time.After(retryWait):
			case <-q.ctx.Done():
			}
			continue
		}
		q.finish(e, res, err)
	}
}

// next takes the oldest pending submission, waiting for one; nil when the queue is closed.
func (q *Queue) next() *entry {
	for {
		q.mu.Lock()
		if len(q.pending) > 0 {
			e := q.pending[0]
			q.pending = q.pending[1:]
			e.sub.State = judge0.Running
			q.running++
			more := len(q.pending) > 0
			q.mu.Unlock()
			if more {
				select { // another worker may take the next one
				case q.wake <- struct{}{}:
				default:
				}
			}
			return e
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-q.ctx.Done():
			return nil
		}
	}
}

func (q *Queue) requeue(e *entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e.sub.State = judge0.Queued
	q.running--
	q.pending = append([]*entry{e}, q.pending...)
}

func (q *Queue) finish(e *entry, res *runner.Result, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running--
	e.sub.State = judge0.Done
	e.sub.FinishedAt = time.Now()
	e.plan = nil
	switch {
	case err == nil:
		e.sub.Result = res
	case q.ctx.Err() != nil:
		e.sub.Failure = "the server shut down while the submission ran"
	default:
		var input *runner.InputError
		if errors.As(err, &input) {
			e.sub.Failure = input.Msg
		} else {
			// The cause (the engine's error) is for the server's log, not for the client.
			q.log.Error("submission failed", "token", e.token, "err", err)
			e.sub.Failure = "no sandbox could run the submission"
		}
	}
	close(e.done)
}

// expire drops finished submissions older than the TTL.
func (q *Queue) expire() {
	defer q.wg.Done()
	tick := time.NewTicker(min(q.ttl, time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-q.ctx.Done():
			return
		}
		q.dropExpired(time.Now())
	}
}

// dropExpired forgets the submissions that finished more than the TTL before now.
func (q *Queue) dropExpired(now time.Time) {
	cutoff := now.Add(-q.ttl)
	q.mu.Lock()
	defer q.mu.Unlock()
	for token, e := range q.entries {
		if e.sub.State == judge0.Done && e.sub.FinishedAt.Before(cutoff) {
			delete(q.entries, token)
		}
	}
}

var _ judge0.Store = (*Queue)(nil)
