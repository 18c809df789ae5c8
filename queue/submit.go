package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/codeexec/codeexec/runner"
)

// Status is where a submission is.
type Status string

// The states of a submission, in order.
const (
	Queued  Status = "queued"
	Running Status = "running"
	Done    Status = "done"
)

// Submission is a submission's state as the result store holds it, under its token.
type Submission struct {
	Token    string `json:"token"`
	Language string `json:"language"`
	Status   Status `json:"status"`
	// Result is the execution's result once done, unless it failed (Failure).
	Result  *runner.Result `json:"result,omitempty"`
	Failure *Failure       `json:"failure,omitempty"`
	// ResultBlob names the object holding a result too large to be stored inline.
	ResultBlob string `json:"resultBlob,omitempty"`
	// Callback is where the final state is posted (checked against queue.callbackAllow).
	Callback string `json:"callbackUrl,omitempty"`
	// CallbackSent is set once the callback was answered (or its retries ran out).
	CallbackSent bool `json:"callbackSent,omitempty"`
	// API and Meta are SubmitOptions' (the API that took the submission, its own attributes).
	API        string          `json:"api,omitempty"`
	Meta       json.RawMessage `json:"meta,omitempty"`
	Worker     string          `json:"worker,omitempty"`
	Attempts   int             `json:"attempts,omitempty"`
	QueuedAt   time.Time       `json:"queuedAt"`
	FinishedAt time.Time       `json:"finishedAt,omitzero"` // when it became done
}

// SubmitOptions is what a submission carries beside its plan.
type SubmitOptions struct {
	// Callback is where the final state is sent (checked against queue.callbackAllow).
	Callback string
	// API names the API that took the submission ("" ours, "judge0"): the worker's Callback
	// renders the final state as that API answers it.
	API string
	// Meta is the API's own attributes of the request (Judge0's expected_output, fields it
	// echoes), opaque to the queue: stored with the submission and returned by Get as given.
	Meta json.RawMessage
}

// Failure is an execution that ended without a result; Err turns it back into the error the
// runner returned, so each transport answers it as it would have answered the runner.
type Failure struct {
	Kind    string `json:"kind"` // input, overloaded, unavailable, internal
	Message string `json:"message"`
}

// ErrJobFailed ends a job that stopped its worker on each of queue.maxDeliver attempts.
var ErrJobFailed = errors.New("the job ended its worker on every attempt")

func failureOf(err error) *Failure {
	var input *runner.InputError
	switch {
	case errors.As(err, &input):
		return &Failure{Kind: "input", Message: input.Msg}
	case errors.Is(err, runner.ErrOverloaded):
		return &Failure{Kind: "overloaded", Message: err.Error()}
	case errors.Is(err, runner.ErrUnavailable):
		return &Failure{Kind: "unavailable", Message: err.Error()}
	}
	return &Failure{Kind: "internal", Message: err.Error()}
}

// Err is the failure as the runner's error.
func (f *Failure) Err() error {
	switch f.Kind {
	case "input":
		return &runner.InputError{Msg: f.Message}
	case "overloaded":
		return runner.ErrOverloaded
	case "unavailable":
		return fmt.Errorf("%w: %s", runner.ErrUnavailable, f.Message)
	}
	return fmt.Errorf("%w: %s", ErrJobFailed, f.Message)
}

// Submit stores the submission as queued and publishes its plan; when it returns nil the job is
// durably stored. The token is the plan's job id. Errors: ErrFull, ErrUnavailable.
func (q *Queue) Submit(ctx context.Context, p *runner.Plan, o SubmitOptions) error {
	return q.submit(ctx, p, o, false)
}

// submit is Submit; stream asks the worker to publish the run's events.
func (q *Queue) submit(ctx context.Context, p *runner.Plan, o SubmitOptions, stream bool) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	rec, err := json.Marshal(&Submission{Token: p.JobID, Language: p.Language, Status: Queued, Callback: o.Callback,
		API: o.API, Meta: o.Meta, QueuedAt: time.Now().UTC()})
	if err != nil {
		return err // Meta that is not JSON
	}
	// The state first: a worker that takes the job at once finds it.
	err = patiently(ctx, func(ctx context.Context) error {
		_, err := q.results.Create(ctx, p.JobID, rec)
		return err
	})
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return unavailable("storing the submission", err)
	}
	msg := &nats.Msg{Subject: subjectPrefix + p.Language, Data: body, Header: nats.Header{}}
	if stream {
		msg.Header.Set(streamHeader, "1")
	}
	if len(body) > q.inlineLimit() {
		name := p.JobID + ".plan"
		if _, err := q.blobs.PutBytes(ctx, name, body); err != nil {
			return unavailable("storing the plan", err)
		}
		msg.Data = nil
		msg.Header.Set(blobHeader, name)
	}
	// While a cluster elects a new stream leader (a node went away) nobody answers for a
	// moment; the token deduplicates a publish that did land.
	err = patiently(ctx, func(ctx context.Context) error {
		_, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(p.JobID), jetstream.WithExpectStream(streamName))
		return err
	})
	if err != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = q.results.Delete(dctx, p.JobID)
		cancel()
		if strings.Contains(err.Error(), "maximum messages exceeded") {
			return ErrFull
		}
		return unavailable("publishing the job", err)
	}
	q.Counters.Published.Add(1)
	return nil
}

// Get returns a submission's current state. Errors: ErrNotFound, ErrUnavailable.
func (q *Queue) Get(ctx context.Context, token string) (*Submission, error) {
	s, _, err := q.get(ctx, token)
	return s, err
}

func (q *Queue) get(ctx context.Context, token string) (*Submission, uint64, error) {
	if !validToken(token) {
		return nil, 0, ErrNotFound
	}
	var e jetstream.KeyValueEntry
	err := patiently(ctx, func(ctx context.Context) (err error) {
		e, err = q.results.Get(ctx, token)
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, 0, ErrNotFound
	case err != nil:
		return nil, 0, unavailable("reading the submission", err)
	}
	var s Submission
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, 0, fmt.Errorf("submission %s: %w", token, err)
	}
	if err := q.loadResult(ctx, &s); err != nil {
		return nil, 0, err
	}
	return &s, e.Revision(), nil
}

// loadResult reads a result stored apart from its state.
func (q *Queue) loadResult(ctx context.Context, s *Submission) error {
	if s.ResultBlob == "" || s.Result != nil {
		return nil
	}
	b, err := q.blobs.GetBytes(ctx, s.ResultBlob)
	if err != nil {
		return unavailable("reading the result", err)
	}
	return json.Unmarshal(b, &s.Result)
}

// encode is a state as stored: a result too large for a message goes to the blob store under
// a name of its own, so a losing writer's blob never replaces the winner's.
func (q *Queue) encode(ctx context.Context, s *Submission, writer string) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil || len(b) <= q.inlineLimit() || s.Result == nil {
		return b, err
	}
	rb, err := json.Marshal(s.Result)
	if err != nil {
		return nil, err
	}
	c := *s
	c.Result, c.ResultBlob = nil, fmt.Sprintf("%s.result.%s.%d", s.Token, writer, s.Attempts)
	if _, err := q.blobs.PutBytes(ctx, c.ResultBlob, rb); err != nil {
		return nil, unavailable("storing the result", err)
	}
	return json.Marshal(&c)
}

// validToken admits what a key may hold: a token from elsewhere is simply not found.
func validToken(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Wait returns the submission once it is done, or its current state when ctx ends first.
// Errors: ErrNotFound, ErrUnavailable.
func (q *Queue) Wait(ctx context.Context, token string) (*Submission, error) {
	return q.await(ctx, token, func(s *Submission) bool { return s.Status == Done })
}

// await returns the first state of token that satisfies until, or the latest when ctx ends.
func (q *Queue) await(ctx context.Context, token string, until func(*Submission) bool) (*Submission, error) {
	if err := q.watch(); err != nil {
		return nil, err
	}
	// Listening before reading: a change between the read and the wait is not missed.
	ch := make(chan *Submission, 1)
	q.mu.Lock()
	q.waiters[token] = append(q.waiters[token], ch)
	q.mu.Unlock()
	defer q.unwait(token, ch)
	s, err := q.Get(ctx, token)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	// The watcher brings each change at once; a read now and then covers a watcher that is
	// re-subscribing after NATS lost a server.
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for !until(s) {
		select {
		case next := <-ch:
			if err := q.loadResult(ctx, next); err != nil {
				return nil, err
			}
			s = next
		case <-poll.C:
			if next, err := q.Get(ctx, token); err == nil {
				s = next
			}
		case <-ctx.Done():
			return s, nil
		}
	}
	return s, nil
}

func (q *Queue) unwait(token string, ch chan *Submission) {
	q.mu.Lock()
	defer q.mu.Unlock()
	list := q.waiters[token]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(q.waiters, token)
	} else {
		q.waiters[token] = list
	}
}

// watch starts, once, the watcher of the result store that hands each new state to whoever
// waits for its token: one watcher per process, not one per request.
func (q *Queue) watch() error {
	q.watchMu.Lock()
	defer q.watchMu.Unlock()
	if q.watching {
		return nil
	}
	w, err := q.results.WatchAll(context.Background(), jetstream.UpdatesOnly())
	if err != nil {
		// The next call tries again: NATS may be back.
		return unavailable("watching results", err)
	}
	q.watching = true
	go func() {
		for e := range w.Updates() {
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				q.dispatch(e.Key(), e.Value())
			}
		}
		q.watchMu.Lock()
		q.watching = false
		q.watchMu.Unlock()
	}()
	return nil
}

// dispatch hands a new state to those waiting for its token.
func (q *Queue) dispatch(token string, value []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	list := q.waiters[token]
	if len(list) == 0 {
		return
	}
	var s Submission
	if json.Unmarshal(value, &s) != nil {
		return
	}
	for _, c := range list {
		// The newest state replaces one the waiter has not read yet.
		select {
		case <-c:
		default:
		}
		c <- &s
	}
}

// Executor runs plans through the queue, the way a runner runs them in-process: the api's
// execute path in the api and all roles.
type Executor struct {
	Q *Queue
	// TakeWait is how long a job may wait for a worker before the request gives up with
	// runner.ErrOverloaded (server.queueWaitMs, as in-process).
	TakeWait time.Duration
}

// Execute submits the plan and waits for its result; a sink gets the run's events as the worker
// sends them, before the result. A sink's error does not stop the run (it runs elsewhere).
func (e Executor) Execute(ctx context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error) {
	var events *relay
	taken := false
	if sink != nil {
		var err error
		if events, err = e.Q.relay(p.JobID, sink); err != nil {
			return nil, err
		}
		// The result is returned after the events it follows (once a worker took the job).
		defer func() { events.close(taken) }()
	}
	if err := e.Q.submit(ctx, p, SubmitOptions{}, sink != nil); err != nil {
		return nil, err
	}
	takeCtx, cancel := context.WithTimeout(ctx, e.TakeWait)
	s, err := e.Q.await(takeCtx, p.JobID, func(s *Submission) bool { return s.Status != Queued })
	cancel()
	if err != nil {
		return nil, err
	}
	if s.Status == Queued {
		// Nobody took it in time (or the client left): it is ended here, so no worker runs it
		// for nobody. A worker that took it meanwhile wins, and the wait goes on.
		reason := runner.ErrOverloaded
		if ctx.Err() != nil {
			reason = ctx.Err()
		}
		if e.Q.abandon(p.JobID, reason) {
			return nil, reason
		}
	}
	taken = true
	s, err = e.Q.Wait(ctx, p.JobID)
	switch {
	case err != nil:
		return nil, err
	case s.Status != Done:
		return nil, ctx.Err()
	case s.Failure != nil:
		return nil, s.Failure.Err()
	}
	return s.Result, nil
}

// abandon ends a job that is still queued; false when a worker took it first.
func (q *Queue) abandon(token string, reason error) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		s, rev, err := q.get(ctx, token)
		if err != nil || s.Status != Queued {
			return err != nil
		}
		s.Status, s.Failure, s.FinishedAt = Done, failureOf(reason), time.Now().UTC()
		b, _ := json.Marshal(s)
		if _, err := q.results.Update(ctx, token, b, rev); err == nil {
			return true
		} else if ctx.Err() != nil {
			return true
		}
	}
}
