package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/codeexec/codeexec/runner"
)

// heartbeatEvery is how often a worker says it is alive; the registry forgets it after three
// missed beats.
const heartbeatEvery = 2 * time.Second

// Runner runs a plan; *runner.Runner is one.
type Runner interface {
	Execute(ctx context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error)
}

// Warm tells whether a warm container of a language waits; *pool.Manager's stats answer it.
type Warm interface {
	Warm(lang string) bool
}

// Worker takes jobs from the queue and runs them: for each language, it pulls one job only while
// it has a free execution slot and a warm container of that language, so jobs go to the hosts
// that can start them now.
type Worker struct {
	Q     *Queue
	Name  string // instance name, unique among workers
	Exec  Runner
	Warm  Warm
	Slots int // executions at once (server.maxConcurrent)
	// Versions are this host's toolchain versions by language (from its images), which the
	// heartbeat tells the api processes: they have no engine to read them from.
	Versions map[string]string
	// Callback renders a final submission as its callback, as the API that took it sends one.
	Callback func(*Submission) (Notice, error)

	inUse atomic.Int64
	jobs  sync.WaitGroup
}

// InUse is how many jobs run now.
func (w *Worker) InUse() int { return int(w.inUse.Load()) }

// Run pulls and runs jobs until ctx ends, then waits for the jobs it started.
func (w *Worker) Run(ctx context.Context) {
	var loops sync.WaitGroup
	for _, lang := range w.Q.langs {
		loops.Add(1)
		go func() {
			defer loops.Done()
			w.pull(ctx, lang)
		}()
	}
	loops.Add(1)
	go func() {
		defer loops.Done()
		w.heartbeat(ctx)
	}()
	loops.Wait()
	w.jobs.Wait()
}

// pull is one language's loop. A job that arrives while another language's job has just taken
// the last slot waits in the runner's admission queue: at most one per language.
func (w *Worker) pull(ctx context.Context, lang string) {
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		if int(w.inUse.Load()) >= w.Slots || !w.Warm.Warm(lang) {
			sleep(ctx, 5*time.Millisecond)
			continue
		}
		if cons == nil {
			c, err := w.Q.stream.Consumer(ctx, consumerName(lang))
			if err != nil {
				w.Q.log.Warn("queue: consumer not reachable", "language", lang, "err", err)
				sleep(ctx, time.Second)
				continue
			}
			cons = c
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				w.Q.log.Warn("queue: pulling jobs", "language", lang, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for m := range batch.Messages() {
			w.inUse.Add(1)
			w.jobs.Add(1)
			go func() {
				defer w.jobs.Done()
				// The slot is free once the run is over (a callback may still be on its way).
				var once sync.Once
				release := func() { once.Do(func() { w.inUse.Add(-1) }) }
				defer release()
				// A job runs to its end even when the worker is told to stop: its result is
				// what the client waits for.
				w.handle(context.WithoutCancel(ctx), m, release)
			}()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// handle runs one delivered job and stores its one final state.
func (w *Worker) handle(ctx context.Context, m jetstream.Msg, release func()) {
	q := w.Q
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	data := m.Data()
	if name := m.Headers().Get(blobHeader); name != "" {
		gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		data, err = q.blobs.GetBytes(gctx, name)
		cancel()
		if err != nil {
			q.log.Warn("queue: reading a plan", "blob", name, "err", err)
			return // comes back after the ack wait
		}
	}
	var p runner.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		q.log.Error("queue: a job that is not a plan", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	if md.NumDelivered > 1 {
		q.Counters.Redelivered.Add(1)
	}
	// Until it is acknowledged, the job's ack deadline is pushed back (storing a large result
	// or a callback's retries take time too): only a silent worker loses it.
	defer w.keepAlive(m)()
	// Attempts count the runs a worker started (not deliveries: a delivery that met NATS
	// trouble before it started anything is no attempt).
	var attempt int
	var dead bool
	s, took, err := q.update(ctx, p.JobID, w.Name, func(s *Submission) bool {
		if s.Status == Done {
			return false
		}
		s.Worker = w.Name
		if dead = s.Attempts >= q.cfg.MaxDeliver; dead {
			s.Status, s.Failure = Done, failureOf(fmt.Errorf("%w (%d attempts)", ErrJobFailed, s.Attempts))
			s.FinishedAt = time.Now().UTC()
		} else {
			s.Attempts++
			s.Status = Running
		}
		attempt = s.Attempts
		return true
	})
	switch {
	case errors.Is(err, ErrNotFound):
		// Its state expired or was never stored: nobody can read a result.
		_ = m.Term()
		return
	case err != nil:
		// NATS trouble: the job comes back soon.
		q.log.Warn("queue: taking a job", "token", p.JobID, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	case !took:
		// Finished already (a run that another worker completed, or a request that gave up);
		// its callback too, unless the worker that finished it died first.
		release()
		w.finished(ctx, m, s)
		return
	case dead:
		q.Counters.Dead.Add(1)
		q.log.Error("queue: job ended after its attempts", "token", p.JobID, "attempts", attempt)
		w.finished(ctx, m, s)
		return
	}

	var sink runner.Sink
	var events eventPublisher
	if m.Headers().Get(streamHeader) != "" {
		events = eventPublisher{nc: q.nc, subject: eventsPrefix + p.JobID}
		sink = events
	}
	res, runErr := w.Exec.Execute(ctx, &p, sink)
	// No container came in time on this host (its engine slow or down): the job goes back to the
	// queue, for a host that has one, and ends with that error only on its last attempt. Its
	// events stay open for the attempt that runs it.
	requeued := errors.Is(runErr, runner.ErrUnavailable) && attempt < q.cfg.MaxDeliver && w.requeue(ctx, p.JobID)
	if sink != nil && !requeued {
		events.end()
	}
	release()
	if requeued {
		q.log.Warn("queue: no sandbox in time, job queued again", "token", p.JobID, "attempt", attempt)
		_ = m.NakWithDelay(time.Second)
		return
	}

	s, won, err := q.update(ctx, p.JobID, w.Name, func(s *Submission) bool {
		if s.Status == Done {
			return false
		}
		s.Status, s.Worker, s.Attempts, s.FinishedAt = Done, w.Name, attempt, time.Now().UTC()
		if runErr != nil {
			s.Failure = failureOf(runErr)
		} else {
			s.Result = res
		}
		return true
	})
	if err != nil {
		q.log.Warn("queue: storing a result", "token", p.JobID, "err", err)
		return // redelivered; the next attempt stores it
	}
	if !won {
		_ = m.Ack()
		return
	}
	w.finished(ctx, m, s)
}

// requeue puts a job back to queued; false when it was finished meanwhile or NATS failed (the
// caller then stores its end as usual).
func (w *Worker) requeue(ctx context.Context, token string) bool {
	_, ok, err := w.Q.update(ctx, token, w.Name, func(s *Submission) bool {
		if s.Status == Done {
			return false
		}
		s.Status, s.Worker = Queued, ""
		return true
	})
	return err == nil && ok
}

// keepAlive pushes the job's ack deadline back until stop is called.
func (w *Worker) keepAlive(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(w.Q.ackWait() / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = m.InProgress()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// finished posts the callback of a job whose final state is stored, if it has one not sent yet,
// then acknowledges the job. The job stays unacknowledged until the callback is through, so a
// worker that dies meanwhile leaves it to another, which sends it: a callback is sent at least
// once (twice only if a worker dies between a callback's answer and recording it).
func (w *Worker) finished(ctx context.Context, m jetstream.Msg, s *Submission) {
	q := w.Q
	if s.Status == Done && s.Callback != "" && !s.CallbackSent && w.Callback != nil {
		if n, err := w.Callback(s); err == nil {
			q.callbacks.Send(ctx, s.Token, s.Callback, n, q.log)
		} else {
			q.log.Error("queue: rendering a callback", "token", s.Token, "err", err)
		}
		if _, _, err := q.update(ctx, s.Token, w.Name, func(s *Submission) bool {
			if s.CallbackSent {
				return false
			}
			s.CallbackSent = true
			return true
		}); err != nil {
			q.log.Warn("queue: recording a callback", "token", s.Token, "err", err)
		}
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := m.DoubleAck(actx)
	cancel()
	if err != nil {
		q.log.Warn("queue: ack", "token", s.Token, "err", err)
	}
	q.Counters.Acked.Add(1)
}

// update applies change to a submission's state with compare-and-set, retrying when another
// process wrote in between. It reports false when change declined (and wrote nothing).
func (q *Queue) update(ctx context.Context, token, writer string, change func(*Submission) bool) (*Submission, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		s, rev, err := q.get(ctx, token)
		if err != nil {
			return nil, false, err
		}
		if !change(s) {
			return s, false, nil
		}
		b, err := q.encode(ctx, s, writer)
		if err != nil {
			return nil, false, err
		}
		err = patiently(ctx, func(ctx context.Context) error {
			_, err := q.results.Update(ctx, token, b, rev)
			return err
		})
		switch {
		case err == nil:
			return s, true, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			continue // another write came first: decide again on the new state
		}
		return nil, false, unavailable("updating the submission", err)
	}
}

// WorkerInfo is what a worker's heartbeat says.
type WorkerInfo struct {
	Name      string            `json:"name"`
	Slots     int               `json:"slots"`
	InUse     int               `json:"inUse"`
	Languages []string          `json:"languages"`
	Versions  map[string]string `json:"versions,omitempty"`
	At        time.Time         `json:"at"`
}

func (w *Worker) heartbeat(ctx context.Context) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		b, _ := json.Marshal(WorkerInfo{Name: w.Name, Slots: w.Slots, InUse: w.InUse(), Languages: w.Q.langs, Versions: w.Versions, At: time.Now().UTC()})
		pctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
		_, _ = w.Q.workers.Put(pctx, w.Name, b)
		cancel()
		select {
		case <-t.C:
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = w.Q.workers.Delete(dctx, w.Name)
			cancel()
			return
		}
	}
}

// Workers lists the workers whose heartbeat is recent.
func (q *Queue) Workers(ctx context.Context) ([]WorkerInfo, error) {
	keys, err := q.workers.ListKeys(ctx)
	if err != nil {
		return nil, unavailable("listing workers", err)
	}
	var out []WorkerInfo
	for k := range keys.Keys() {
		e, err := q.workers.Get(ctx, k)
		if err != nil {
			continue
		}
		var wi WorkerInfo
		if json.Unmarshal(e.Value(), &wi) == nil {
			out = append(out, wi)
		}
	}
	return out, nil
}

// Depth is a language's queue: jobs no worker took yet, and the age of the oldest job in it.
type Depth struct {
	Language string
	Pending  int
	Oldest   time.Duration
}

// Depths reads each language's queue from the stream.
func (q *Queue) Depths(ctx context.Context) ([]Depth, error) {
	var out []Depth
	for _, lang := range q.langs {
		d := Depth{Language: lang}
		c, err := q.stream.Consumer(ctx, consumerName(lang))
		if err != nil {
			return nil, unavailable("reading the queue", err)
		}
		// Not yet delivered to a worker; the oldest may be running already.
		d.Pending = int(c.CachedInfo().NumPending)
		if d.Pending > 0 {
			if m, err := q.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subjectPrefix+lang)); err == nil {
				d.Oldest = time.Since(m.Time)
			}
		}
		out = append(out, d)
	}
	return out, nil
}
