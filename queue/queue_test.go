package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/runner"
)

// These tests run a real embedded NATS server with JetStream on a temporary store.

func testConfig(dir string) config.Queue {
	return config.Queue{Dir: dir, ResultTTL: config.Duration(time.Hour), MaxPending: 5, MaxDeliver: 2, AckWaitMs: 1000, SyncWaitMs: 5000}
}

func open(t *testing.T, cfg config.Queue) *Queue {
	t.Helper()
	q, err := Open(context.Background(), cfg, Options{Name: "test", Languages: []string{"python", "go"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// echo answers each plan at once with its language as stdout; it counts runs per job.
type echo struct {
	mu   sync.Mutex
	runs map[string]int
	err  error
	// unavailable is how many of a job's first runs find no sandbox.
	unavailable int
}

func (e *echo) Execute(_ context.Context, p *runner.Plan, _ runner.Sink) (*runner.Result, error) {
	e.mu.Lock()
	if e.runs == nil {
		e.runs = map[string]int{}
	}
	e.runs[p.JobID]++
	run := e.runs[p.JobID]
	e.mu.Unlock()
	if e.err != nil {
		return nil, e.err
	}
	if run <= e.unavailable {
		return nil, runner.ErrUnavailable
	}
	return &runner.Result{JobID: p.JobID, Language: p.Language, Status: runner.Status("success"), Run: runner.Step{Stdout: []byte(p.Language)}}, nil
}

type allWarm struct{}

func (allWarm) Warm(string) bool { return true }

func plan(lang string) *runner.Plan {
	return &runner.Plan{JobID: "job-" + lang + "-" + time.Now().Format("150405.000000000")[7:], Language: lang}
}

func startWorker(t *testing.T, q *Queue, exec Runner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{Q: q, Name: "w1", Exec: exec, Warm: allWarm{}, Slots: 4}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestSubmitRunWait(t *testing.T) {
	q := open(t, testConfig(t.TempDir()))
	defer q.Close()
	ex := &echo{}
	startWorker(t, q, ex)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := plan("go")
	if err := q.Submit(ctx, p, SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := q.Wait(ctx, p.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != Done || s.Result == nil || string(s.Result.Run.Stdout) != "go" || s.Worker != "w1" {
		t.Fatalf("state %+v", s)
	}
	// Published twice with the same token: deduplicated, run once.
	if err := q.Submit(ctx, p, SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := Executor{Q: q, TakeWait: 5 * time.Second}.Execute(ctx, plan("python"), nil)
	if err != nil || string(res.Run.Stdout) != "python" {
		t.Fatalf("sync execute: %v %+v", err, res)
	}
	time.Sleep(500 * time.Millisecond)
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.runs[p.JobID] != 1 {
		t.Fatalf("job ran %d times, want 1", ex.runs[p.JobID])
	}
	if _, err := q.Get(ctx, "no-such-token"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestFailureTravels(t *testing.T) {
	q := open(t, testConfig(t.TempDir()))
	defer q.Close()
	startWorker(t, q, &echo{err: &runner.InputError{Msg: "the files could not be written"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Executor{Q: q, TakeWait: 5 * time.Second}.Execute(ctx, plan("python"), nil)
	var input *runner.InputError
	if !errors.As(err, &input) || input.Msg != "the files could not be written" {
		t.Fatalf("err = %v, want the worker's input error", err)
	}
}

// A run that finds no sandbox in time goes back to the queue; only its last attempt ends with
// that error.
func TestNoSandboxQueuesAgain(t *testing.T) {
	for _, c := range []struct {
		unavailable int
		ok          bool
	}{{1, true}, {2, false}} {
		t.Run(fmt.Sprint(c.unavailable, " runs without a sandbox"), func(t *testing.T) {
			q := open(t, testConfig(t.TempDir())) // two attempts
			defer q.Close()
			ex := &echo{unavailable: c.unavailable}
			startWorker(t, q, ex)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p := plan("python")
			if err := q.Submit(ctx, p, SubmitOptions{}); err != nil {
				t.Fatal(err)
			}
			s, err := q.Wait(ctx, p.JobID)
			if err != nil {
				t.Fatal(err)
			}
			ex.mu.Lock()
			runs := ex.runs[p.JobID]
			ex.mu.Unlock()
			switch {
			case c.ok && (s.Result == nil || string(s.Result.Run.Stdout) != "python"):
				t.Fatalf("state %+v, want the second run's result", s)
			case !c.ok && (s.Failure == nil || !errors.Is(s.Failure.Err(), runner.ErrUnavailable)):
				t.Fatalf("state %+v, want no sandbox as the failure", s)
			case runs != 2 || s.Attempts != 2:
				t.Fatalf("%d runs, %d attempts, want 2", runs, s.Attempts)
			}
		})
	}
}

func TestFullQueueAndNoWorker(t *testing.T) {
	q := open(t, testConfig(t.TempDir()))
	defer q.Close()
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := q.Submit(ctx, plan("python"), SubmitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p := plan("python")
	if err := q.Submit(ctx, p, SubmitOptions{}); !errors.Is(err, ErrFull) {
		t.Fatalf("6th submission: %v, want ErrFull", err)
	}
	if _, err := q.Get(ctx, p.JobID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused submission is stored: %v", err)
	}
	// No worker: a synchronous request gives up with the runner's overload error.
	_, err := Executor{Q: q, TakeWait: 300 * time.Millisecond}.Execute(ctx, plan("go"), nil)
	if !errors.Is(err, runner.ErrOverloaded) && !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v", err)
	}
}

func TestRestartKeepsJobsAndResults(t *testing.T) {
	dir := t.TempDir()
	q := open(t, testConfig(dir))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done, queued := plan("go"), plan("python")
	ex := &echo{}
	wctx, wcancel := context.WithCancel(ctx)
	w := &Worker{Q: q, Name: "w1", Exec: ex, Warm: allWarm{}, Slots: 1}
	wdone := make(chan struct{})
	go func() { w.Run(wctx); close(wdone) }()
	if err := q.Submit(ctx, done, SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	if s, err := q.Wait(ctx, done.JobID); err != nil || s.Status != Done {
		t.Fatalf("%v %+v", err, s)
	}
	wcancel()
	<-wdone
	if err := q.Submit(ctx, queued, SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	q.Close()

	q = open(t, testConfig(dir))
	defer q.Close()
	if s, err := q.Get(ctx, done.JobID); err != nil || s.Status != Done || string(s.Result.Run.Stdout) != "go" {
		t.Fatalf("stored result after restart: %v %+v", err, s)
	}
	if s, err := q.Get(ctx, queued.JobID); err != nil || s.Status != Queued {
		t.Fatalf("queued job after restart: %v %+v", err, s)
	}
	startWorker(t, q, ex)
	if s, err := q.Wait(ctx, queued.JobID); err != nil || s.Status != Done {
		t.Fatalf("queued job after restart: %v %+v", err, s)
	}
}

// startElsewhere takes the job's next delivery as a worker would, marks its run started, and
// drops it: a worker killed (or stalled) mid-run. It returns the delivery's number.
func startElsewhere(t *testing.T, ctx context.Context, q *Queue, p *runner.Plan) int {
	t.Helper()
	cons, err := q.stream.Consumer(ctx, consumerName(p.Language))
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n, delivery := 0, 0
	for m := range b.Messages() {
		md, _ := m.Metadata()
		delivery = int(md.NumDelivered)
		n++
	}
	if n != 1 {
		t.Fatalf("%d messages delivered, want 1", n)
	}
	if _, ok, err := q.update(ctx, p.JobID, "elsewhere", func(s *Submission) bool {
		s.Status, s.Attempts = Running, s.Attempts+1
		return true
	}); !ok || err != nil {
		t.Fatalf("marking the run started: %v", err)
	}
	return delivery
}

// A job whose worker goes silent is redelivered after the ack wait; past maxDeliver attempts
// it ends as an internal error.
func TestRedeliveryAndMaxDeliver(t *testing.T) {
	q := open(t, testConfig(t.TempDir()))
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := plan("python")
	if err := q.Submit(ctx, p, SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	// Two deliveries started and dropped, as by workers killed mid-run.
	for i := 1; i <= 2; i++ {
		if d := startElsewhere(t, ctx, q, p); d != i {
			t.Fatalf("delivery %d numbered %d", i, d)
		}
	}
	ex := &echo{}
	startWorker(t, q, ex)
	s, err := q.Wait(ctx, p.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Failure == nil || !errors.Is(s.Failure.Err(), ErrJobFailed) || s.Attempts != 2 {
		t.Fatalf("state %+v, want an internal error after 2 attempts", s)
	}
	if ex.runs[p.JobID] != 0 {
		t.Fatalf("the job ran %d times after its attempts", ex.runs[p.JobID])
	}
	// Counted once its worker is past the store (the waiter may see the state first).
	for end := time.Now().Add(5 * time.Second); q.Counters.Dead.Load() == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if q.Counters.Dead.Load() != 1 {
		t.Fatalf("dead = %d", q.Counters.Dead.Load())
	}
}

func TestCallbackCheck(t *testing.T) {
	off, _ := NewCallbacks(nil)
	if err := off.Check("http://127.0.0.1:9/x"); err == nil {
		t.Fatal("callbacks off, yet a URL passed")
	}
	c, err := NewCallbacks([]string{"hooks.example.com", "10.1.0.0/16", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for url, ok := range map[string]bool{
		"http://hooks.example.com/done":    true,
		"https://10.1.2.3:8443/x":          true,
		"http://127.0.0.1:8080/cb":         true,
		"http://127.0.0.2/cb":              false,
		"http://169.254.169.254/latest":    false,
		"ftp://hooks.example.com/x":        false,
		"http://user:pw@hooks.example.com": false,
		"http://[::ffff:127.0.0.1]/cb":     true,
		"not a url at all":                 false,
		"http:///nohost":                   false,
	} {
		if err := c.Check(url); (err == nil) != ok {
			t.Errorf("Check(%q) = %v, want allowed=%v", url, err, ok)
		}
	}
	if _, err := NewCallbacks([]string{"http://x"}); err == nil {
		t.Fatal("a URL in the allow list was accepted")
	}
}

// TestMetaAndNotices: a submission's API and Meta come back from Get as given, with the time it
// finished; its callback goes with the method, body and retries the worker's Callback says: an
// AnyAnswer notice (Judge0's) ends at the first answer whatever its status, another retries
// until a 2xx.
func TestMetaAndNotices(t *testing.T) {
	type call struct{ method, body string }
	calls := make(chan call, 10)
	var mu sync.Mutex
	failures := map[string]int{} // per path: answers 500 this many times first
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- call{r.Method, string(b)}
		mu.Lock()
		defer mu.Unlock()
		if failures[r.URL.Path] > 0 {
			failures[r.URL.Path]--
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer hook.Close()
	failures["/judge0"], failures["/ours"] = 5, 1

	cfg := testConfig(t.TempDir())
	cfg.CallbackAllow = []string{"127.0.0.1"}
	q := open(t, cfg)
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := &Worker{Q: q, Name: "w1", Exec: &echo{}, Warm: allWarm{}, Slots: 4, Callback: func(s *Submission) (Notice, error) {
		if s.API == "judge0" {
			return Notice{Method: http.MethodPut, Body: s.Meta, Backoff: []time.Duration{0, 0}, AnyAnswer: true}, nil
		}
		return Notice{Method: http.MethodPost, Body: []byte(`"ours"`), Backoff: []time.Duration{0, 0}}, nil
	}}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()

	p := plan("python")
	meta := json.RawMessage(`{"expected_output":"python","language_id":71}`)
	if err := q.Submit(ctx, p, SubmitOptions{Callback: hook.URL + "/judge0", API: "judge0", Meta: meta}); err != nil {
		t.Fatal(err)
	}
	s, err := q.Wait(ctx, p.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if s.API != "judge0" || !bytes.Equal(s.Meta, meta) || s.FinishedAt.IsZero() || s.FinishedAt.Before(s.QueuedAt) {
		t.Fatalf("state %+v", s)
	}
	if c := <-calls; c.method != http.MethodPut || c.body != string(meta) {
		t.Fatalf("judge0 callback %+v", c)
	}
	// Once the worker recorded it sent, no other try came: the 500 was an answer.
	for s, err = q.Get(ctx, p.JobID); err == nil && !s.CallbackSent; s, err = q.Get(ctx, p.JobID) {
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || len(calls) != 0 {
		t.Fatalf("after the judge0 callback: %v, %d more tries", err, len(calls))
	}
	if err := q.Submit(ctx, plan("go"), SubmitOptions{Callback: hook.URL + "/ours"}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if c := <-calls; c.method != http.MethodPost || c.body != `"ours"` {
			t.Fatalf("our callback, try %d: %+v", i+1, c)
		}
	}
	if err := q.Submit(ctx, plan("go"), SubmitOptions{Meta: json.RawMessage(`{not json`)}); err == nil {
		t.Fatal("Meta that is not JSON was stored")
	}
}

// bigEcho answers with the plan's first file as stdout.
type bigEcho struct{}

func (bigEcho) Execute(_ context.Context, p *runner.Plan, _ runner.Sink) (*runner.Result, error) {
	return &runner.Result{JobID: p.JobID, Run: runner.Step{Stdout: p.Job.Files[0].Content}}, nil
}

// Plans and results past NATS's message size travel through the blob store.
func TestLargePlanAndResult(t *testing.T) {
	cfg := testConfig(t.TempDir())
	// Moving megabytes through the object store under the race detector on a loaded machine can
	// outlast the short ack wait the redelivery tests need; this test is not about redelivery.
	cfg.AckWaitMs = 10000
	q := open(t, cfg)
	defer q.Close()
	startWorker(t, q, bigEcho{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := plan("python")
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	p.Job.Files = []agentproto.File{{Path: "main.py", Content: big}}
	res, err := Executor{Q: q, TakeWait: 10 * time.Second}.Execute(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Run.Stdout, big) {
		t.Fatalf("stdout of %d bytes came back as %d bytes", len(big), len(res.Run.Stdout))
	}
	s, err := q.Get(ctx, p.JobID)
	if err != nil || s.ResultBlob == "" || !bytes.Equal(s.Result.Run.Stdout, big) {
		t.Fatalf("stored: %v blob=%q", err, s.ResultBlob)
	}
}

// Two limiters on one queue (two api processes) spend one allowance per client.
func TestSharedRateLimit(t *testing.T) {
	q := open(t, testConfig(t.TempDir()))
	defer q.Close()
	ctx := context.Background()
	a, err := q.RateLimiter(ctx, 0.1, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.RateLimiter(ctx, 0.1, 3)
	if err != nil {
		t.Fatal(err)
	}
	var allowed []bool
	for i, l := range []*RateLimiter{a, b, a, b} {
		d, err := l.Take(ctx, "192.0.2.1/32", 1)
		if err != nil {
			t.Fatal(err)
		}
		allowed = append(allowed, d.Allowed)
		if i == 3 && (d.RetryAfter <= 0 || d.Remaining != 0) {
			t.Errorf("refused without a retry time: %+v", d)
		}
	}
	if fmt.Sprint(allowed) != "[true true true false]" {
		t.Fatalf("allowed %v, want the burst of 3 across both then a refusal", allowed)
	}
	if d, _ := b.Take(ctx, "2001:db8::/64", 1); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("another client: %+v", d)
	}
}

// talker sends two output events, then answers.
type talker struct{}

func (talker) Execute(_ context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error) {
	if sink != nil {
		_ = sink.Event(runner.Event{Type: runner.StageStarted, Stage: runner.StageRun})
		_ = sink.Event(runner.Event{Type: runner.Stdout, Stage: runner.StageRun, Data: []byte("one ")})
		_ = sink.Event(runner.Event{Type: runner.Stdout, Stage: runner.StageRun, Data: []byte("two")})
	}
	return &runner.Result{JobID: p.JobID, Run: runner.Step{Stdout: []byte("one two")}}, nil
}

// A synchronous request with a sink gets the worker's events, in order, before the result.
func TestEventsReachTheSink(t *testing.T) {
	q := open(t, testConfig(t.TempDir()))
	defer q.Close()
	startWorker(t, q, talker{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	res, err := Executor{Q: q, TakeWait: 5 * time.Second}.Execute(ctx, plan("python"), runner.SinkFunc(func(ev runner.Event) error {
		got = append(got, string(ev.Type)+":"+string(ev.Data))
		return nil
	}))
	if err != nil || string(res.Run.Stdout) != "one two" {
		t.Fatalf("%v %+v", err, res)
	}
	if fmt.Sprint(got) != "[stage: stdout:one  stdout:two]" {
		t.Fatalf("events %q", got)
	}
}

// A worker that stalled past the ack wait and finishes after another worker ran the job again
// does not replace the stored result: a token has one final result.
func TestOneFinalResult(t *testing.T) {
	q := open(t, testConfig(t.TempDir()))
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := plan("go")
	if err := q.Submit(ctx, p, SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	startElsewhere(t, ctx, q, p)
	startWorker(t, q, &echo{})
	s, err := q.Wait(ctx, p.JobID)
	if err != nil || s.Status != Done || s.Worker != "w1" || s.Attempts != 2 {
		t.Fatalf("%v %+v", err, s)
	}
	// The stalled worker's late final write is declined.
	if _, ok, err := q.update(ctx, p.JobID, "stalled", func(s *Submission) bool {
		if s.Status == Done {
			return false
		}
		s.Status, s.Result = Done, &runner.Result{JobID: "late"}
		return true
	}); ok || err != nil {
		t.Fatalf("late write: ok=%v err=%v", ok, err)
	}
	if s, _ := q.Get(ctx, p.JobID); s.Worker != "w1" || string(s.Result.Run.Stdout) != "go" {
		t.Fatalf("stored %+v", s)
	}
}
