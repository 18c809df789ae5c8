package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/pool"
)

// fakeSandbox plays a scripted agent: it checks the job it is given and emits the events.
type fakeSandbox struct {
	events []agentproto.Event
	runErr error // returned after the events
	memory int64 // last SetMemory
	gotJob *agentproto.Job
}

func (f *fakeSandbox) ID() string { return "fake" }
func (f *fakeSandbox) Lost() bool { return false }
func (f *fakeSandbox) SetMemory(_ context.Context, b int64) error {
	f.memory = b
	return nil
}
func (f *fakeSandbox) Run(ctx context.Context, job *agentproto.Job, _ <-chan agentproto.Input, handle func(agentproto.Event) error) error {
	f.gotJob = job
	for _, ev := range f.events {
		if err := handle(ev); err != nil {
			return err
		}
	}
	return f.runErr
}

type fakePools struct {
	sb       pool.Sandbox
	err      error
	mu       sync.Mutex
	released []pool.Sandbox
}

func (p *fakePools) Claim(ctx context.Context, lang string) (pool.Sandbox, error) { return p.sb, p.err }
func (p *fakePools) Release(lang string, s pool.Sandbox) {
	p.mu.Lock()
	p.released = append(p.released, s)
	p.mu.Unlock()
}

type fakeObserver struct {
	finished []*Result
}

func (o *fakeObserver) Queued(int)      {}
func (o *fakeObserver) Running(int)     {}
func (o *fakeObserver) Rejected(string) {}
func (o *fakeObserver) Finished(_ *Plan, r *Result, _ time.Duration) {
	o.finished = append(o.finished, r)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// script builds the agent's events for steps given as (name, stdout, result).
type scripted struct {
	name   string
	stdout string
	res    agentproto.StepResult
}

func script(steps ...scripted) []agentproto.Event {
	var evs []agentproto.Event
	runs := 0
	for _, s := range steps {
		idx := 0
		if s.name == "run" {
			idx = runs
			runs++
		}
		res := s.res
		evs = append(evs, agentproto.Event{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: s.name, Index: idx}})
		if s.stdout != "" {
			// Two chunks: the collector must join them.
			half := len(s.stdout) / 2
			evs = append(evs, agentproto.Event{Kind: agentproto.KindStdout, Data: []byte(s.stdout[:half])},
				agentproto.Event{Kind: agentproto.KindStdout, Data: []byte(s.stdout[half:])})
		}
		evs = append(evs, agentproto.Event{Kind: agentproto.KindStepFinished, Finished: &res})
	}
	return append(evs, agentproto.Event{Kind: agentproto.KindDone, Done: &agentproto.Done{}})
}

func exited(code int) agentproto.StepResult {
	return agentproto.StepResult{Outcome: agentproto.Exited, ExitCode: code, Wall: 3 * time.Millisecond, CPU: 2 * time.Millisecond}
}

func newTestRunner(t *testing.T, sb pool.Sandbox) (*Runner, *fakePools, *fakeObserver) {
	pools := &fakePools{sb: sb}
	obs := &fakeObserver{}
	cfg := testConfig(t)
	return New(cfg.Server, pools, obs, quiet), pools, obs
}

func plan(t *testing.T, req *Request) *Plan {
	t.Helper()
	p, err := NewPlan(testConfig(t), req)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecuteCollectsStreamsAndReleases(t *testing.T) {
	sb := &fakeSandbox{events: script(scripted{"run", "hello\n", exited(0)})}
	r, pools, obs := newTestRunner(t, sb)
	p := plan(t, &Request{Language: "python", Code: []byte("print('hello')"), MemoryLimitBytes: 128 << 20})
	var got []Event
	res, err := r.Execute(context.Background(), p, SinkFunc(func(ev Event) error {
		ev.Data = append([]byte(nil), ev.Data...)
		got = append(got, ev)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != OK || string(res.Run.Stdout) != "hello\n" || res.Run.Wall != 3*time.Millisecond || res.JobID != p.JobID {
		t.Fatalf("result %+v", res)
	}
	types := []EventType{}
	for _, ev := range got {
		types = append(types, ev.Type)
	}
	if want := []EventType{StageStarted, Stdout, Stdout, StageFinished}; !equalTypes(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	if got[3].Step == nil || got[3].Step.Status != OK || got[3].Step.Stdout != nil {
		t.Errorf("finished event %+v: want the measurement without the output", got[3].Step)
	}
	if sb.memory != 128<<20 {
		t.Errorf("memory set to %d, want 128 MiB (the request's, not the pool's default)", sb.memory)
	}
	if len(pools.released) != 1 || len(obs.finished) != 1 {
		t.Errorf("released %d, observed %d; want 1 and 1", len(pools.released), len(obs.finished))
	}
}

func equalTypes(a, b []EventType) bool {
	return strings.Join(typeNames(a), ",") == strings.Join(typeNames(b), ",")
}

func typeNames(ts []EventType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

func TestExecuteLeavesTheDefaultMemoryAlone(t *testing.T) {
	sb := &fakeSandbox{events: script(scripted{"run", "", exited(0)})}
	r, _, _ := newTestRunner(t, sb)
	if _, err := r.Execute(context.Background(), plan(t, &Request{Language: "python", Code: []byte("x")}), nil); err != nil {
		t.Fatal(err)
	}
	if sb.memory != 0 {
		t.Errorf("SetMemory(%d) for a request with the default memory: a needless engine call", sb.memory)
	}
}

// A sink's error (the client went away) ends the run: Execute returns it and the rest of the
// events are not delivered.
func TestExecuteStopsWhenTheSinkFails(t *testing.T) {
	gone := errors.New("client gone")
	sb := &fakeSandbox{events: script(scripted{"run", "a lot\n", exited(0)})}
	r, pools, obs := newTestRunner(t, sb)
	n := 0
	_, err := r.Execute(context.Background(), plan(t, &Request{Language: "python", Code: []byte("x")}),
		SinkFunc(func(ev Event) error {
			n++
			if ev.Type == Stdout {
				return gone
			}
			return nil
		}))
	if !errors.Is(err, gone) || n != 2 {
		t.Fatalf("err %v after %d events, want the sink's error after 2", err, n)
	}
	if len(pools.released) != 1 || len(obs.finished) != 0 {
		t.Errorf("released %d, observed %d; want the sandbox released and no finished execution", len(pools.released), len(obs.finished))
	}
}

func TestExecuteMapsSandboxFailures(t *testing.T) {
	// The agent died mid-run: the cause is kept for the log, the sentinel for the client.
	sb := &fakeSandbox{events: script(scripted{"run", "x", exited(0)})[:2], runErr: errors.New("agent gone: goroutine dump")}
	r, _, _ := newTestRunner(t, sb)
	_, err := r.Execute(context.Background(), plan(t, &Request{Language: "python", Code: []byte("x")}), nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "goroutine dump") {
		t.Fatalf("err %v, want ErrUnavailable wrapping the cause", err)
	}

	// No sandbox at all.
	r, _, _ = newTestRunner(t, nil)
	r.pools.(*fakePools).err = errors.New("no warm container")
	_, err = r.Execute(context.Background(), plan(t, &Request{Language: "python", Code: []byte("x")}), nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}

	// The agent could not write the files: the request's fault.
	sb = &fakeSandbox{events: []agentproto.Event{{Kind: agentproto.KindDone, Done: &agentproto.Done{Error: "no space left on device"}}}}
	r, _, _ = newTestRunner(t, sb)
	_, err = r.Execute(context.Background(), plan(t, &Request{Language: "python", Code: []byte("x")}), nil)
	var input *InputError
	if !errors.As(err, &input) || !strings.Contains(input.Msg, "no space left") {
		t.Fatalf("err %v, want an InputError", err)
	}
}

func TestExecuteJudgesTests(t *testing.T) {
	want := func(s string) *string { return &s }
	tests := []Test{{Expected: want("1")}, {Expected: want("2")}, {Expected: want("3")}}
	oom := agentproto.StepResult{Outcome: agentproto.OutOfMemory, Signal: "SIGKILL", ExitCode: 137}
	cases := []struct {
		name     string
		lang     string
		stop     bool
		steps    []scripted
		verdicts []Status
		overall  Status
		passed   int
	}{
		{"all accepted", "python", false, []scripted{{"run", "1\n", exited(0)}, {"run", "2\n", exited(0)}, {"run", "3\n", exited(0)}},
			[]Status{Accepted, Accepted, Accepted}, Accepted, 3},
		{"first failure decides", "python", false, []scripted{{"run", "1\n", exited(0)}, {"run", "9\n", exited(0)},
			{"run", "", agentproto.StepResult{Outcome: agentproto.TimedOut, TimeLimit: agentproto.CPULimit}}},
			[]Status{Accepted, WrongAnswer, TimeLimitExceeded}, WrongAnswer, 1},
		// The agent cannot stop at a wrong answer (it never sees expected outputs): the runner
		// drops what ran after it.
		{"stop at a wrong answer", "python", true, []scripted{{"run", "1\n", exited(0)}, {"run", "9\n", exited(0)}, {"run", "3\n", exited(0)}},
			[]Status{Accepted, WrongAnswer}, WrongAnswer, 1},
		{"stop at a runtime error", "python", true, []scripted{{"run", "", exited(3)}}, []Status{RuntimeError}, RuntimeError, 0},
		{"memory and output limits", "python", false, []scripted{{"run", "", oom},
			{"run", "", agentproto.StepResult{Outcome: agentproto.OutputTooLong}}, {"run", "3\n", exited(0)}},
			[]Status{MemoryLimitExceeded, OutputLimitExceeded, Accepted}, MemoryLimitExceeded, 1},
		{"compile error", "java", false, []scripted{{"compile", "", exited(1)}}, nil, CompileError, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := &fakeSandbox{events: script(c.steps...)}
			r, _, _ := newTestRunner(t, sb)
			p := plan(t, &Request{Language: c.lang, Code: []byte("x"), StopOnFirstFailure: c.stop, Tests: tests})
			var verdicts []Status
			res, err := r.Execute(context.Background(), p, SinkFunc(func(ev Event) error {
				if ev.Type == StageFinished && ev.Stage == StageRun {
					verdicts = append(verdicts, ev.Verdict)
				}
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.overall || res.Passed != c.passed || res.TestCount != 3 || len(res.Tests) != len(c.verdicts) {
				t.Fatalf("overall %s passed %d of %d, %d reported; want %s, %d, 3, %d", res.Status, res.Passed, res.TestCount, len(res.Tests), c.overall, c.passed, len(c.verdicts))
			}
			for i, v := range c.verdicts {
				if res.Tests[i].Verdict != v {
					t.Errorf("test %d: %s, want %s", i+1, res.Tests[i].Verdict, v)
				}
				// The streamed verdict is the one in the result.
				if i < len(verdicts) && verdicts[i] != v {
					t.Errorf("test %d streamed %s, want %s", i+1, verdicts[i], v)
				}
			}
		})
	}
}

// A runtime's out-of-memory text counts only with a peak near the limit: a program that prints
// it is a runtime error (issue: a memory verdict forged by printing).
func TestMemoryTextNeedsEvidence(t *testing.T) {
	cfg := testConfig(t)
	cfg.Languages["python"].MemoryErrors = []string{"MemoryError"}
	for _, c := range []struct {
		peak int64
		want Status
	}{{10 << 20, RuntimeError}, {250 << 20, MemoryLimitExceeded}} {
		res := exited(1)
		res.MemoryBytes = c.peak
		sb := &fakeSandbox{events: []agentproto.Event{
			{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: "run"}},
			{Kind: agentproto.KindStderr, Data: []byte("MemoryError\n")},
			{Kind: agentproto.KindStepFinished, Finished: &res},
			{Kind: agentproto.KindDone, Done: &agentproto.Done{}},
		}}
		r, _, _ := newTestRunner(t, sb)
		p, err := NewPlan(cfg, &Request{Language: "python", Code: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Execute(context.Background(), p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != c.want {
			t.Errorf("peak %d MiB of 256: %s, want %s", c.peak>>20, got.Status, c.want)
		}
	}
}

// A sandbox that ends whole during a step (gVisor: the host killed it for its memory, or it
// reached its process limit) finishes that step with the limit's status; a sandbox lost for
// another reason is still unavailable.
func TestSandboxEndedDuringStep(t *testing.T) {
	started := []agentproto.Event{{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: "run"}},
		{Kind: agentproto.KindStdout, Data: []byte("before\n")}}
	cases := []struct {
		err    error
		status Status
	}{
		{fmt.Errorf("%w (runsc)", pool.ErrOutOfMemory), MemoryLimitExceeded},
		{fmt.Errorf("%w (runsc)", pool.ErrProcessLimit), RuntimeError},
		{fmt.Errorf("%w (runsc)", pool.ErrSandboxKilled), RuntimeError},
	}
	for _, c := range cases {
		sb := &fakeSandbox{events: started, runErr: c.err}
		r, _, _ := newTestRunner(t, sb)
		p := plan(t, &Request{Language: "python", Code: []byte("x"), MemoryLimitBytes: 128 << 20})
		res, err := r.Execute(context.Background(), p, nil)
		if err != nil {
			t.Fatalf("%v: %v", c.err, err)
		}
		if res.Status != c.status || string(res.Run.Stdout) != "before\n" || res.Run.Signal != "SIGKILL" {
			t.Errorf("%v: status %s, stdout %q, signal %q", c.err, res.Status, res.Run.Stdout, res.Run.Signal)
		}
		if c.status == MemoryLimitExceeded && res.Run.MemoryBytes != p.MemoryBytes {
			t.Errorf("peak %d, want the limit %d", res.Run.MemoryBytes, p.MemoryBytes)
		}
	}
	// Between steps there is no step to blame: the sandbox is unavailable.
	sb := &fakeSandbox{runErr: pool.ErrOutOfMemory}
	r, _, _ := newTestRunner(t, sb)
	p := plan(t, &Request{Language: "python", Code: []byte("x")})
	if _, err := r.Execute(context.Background(), p, nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no step open: %v, want ErrUnavailable", err)
	}
}

// sandboxes hands out one scripted sandbox per claim, in order.
type sandboxes struct {
	fakePools
	next []*fakeSandbox
}

func (s *sandboxes) Claim(ctx context.Context, lang string) (pool.Sandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.next) == 0 {
		return nil, errors.New("no sandbox left")
	}
	sb := s.next[0]
	s.next = s.next[1:]
	return sb, nil
}

// A judge test that ends its whole sandbox (gVisor, out of memory) has its verdict, and the tests
// after it run in a fresh sandbox after the same compile, which is neither reported nor
// collected twice; the events number the tests as the plan does.
func TestJudgeContinuesAfterSandboxEnded(t *testing.T) {
	compiled := agentproto.Event{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: "compile"}}
	ok := exited(0)
	first := &fakeSandbox{events: []agentproto.Event{
		compiled, {Kind: agentproto.KindStderr, Data: []byte("note: first compile\n")}, {Kind: agentproto.KindStepFinished, Finished: &ok},
		{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: "run", Index: 0}},
		{Kind: agentproto.KindStdout, Data: []byte("1\n")}, {Kind: agentproto.KindStepFinished, Finished: &ok},
		{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: "run", Index: 1}},
	}, runErr: fmt.Errorf("%w (runsc)", pool.ErrOutOfMemory)}
	second := &fakeSandbox{events: []agentproto.Event{
		compiled, {Kind: agentproto.KindStderr, Data: []byte("note: second compile\n")}, {Kind: agentproto.KindStepFinished, Finished: &ok},
		{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: "run", Index: 0}},
		{Kind: agentproto.KindStdout, Data: []byte("3\n")}, {Kind: agentproto.KindStepFinished, Finished: &ok},
		{Kind: agentproto.KindDone, Done: &agentproto.Done{}},
	}}
	pools := &sandboxes{next: []*fakeSandbox{first, second}}
	r := New(testConfig(t).Server, pools, &fakeObserver{}, quiet)
	want := func(s string) *string { return &s }
	p := plan(t, &Request{Language: "java", Code: []byte("x"), MemoryLimitBytes: 128 << 20, Tests: []Test{
		{Stdin: []byte("1"), Expected: want("1")}, {Stdin: []byte("2"), Expected: want("2")}, {Stdin: []byte("3"), Expected: want("3")}}})
	var stages []string
	res, err := r.Execute(context.Background(), p, SinkFunc(func(ev Event) error {
		if ev.Type == StageStarted {
			stages = append(stages, fmt.Sprintf("%s%d", ev.Stage, ev.Test))
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(second.gotJob.Runs); n != 1 || second.gotJob.Runs[0].Stdin == nil || string(second.gotJob.Runs[0].Stdin) != "3" || second.gotJob.Compile == nil {
		t.Fatalf("the second sandbox's job: %d runs, compile %v", n, second.gotJob.Compile != nil)
	}
	if got := strings.Join(stages, " "); got != "compile0 run1 run2 run3" {
		t.Errorf("stages %q", got)
	}
	var verdicts []Status
	for _, tr := range res.Tests {
		verdicts = append(verdicts, tr.Verdict)
	}
	if fmt.Sprint(verdicts) != "[accepted memory_limit_exceeded accepted]" || res.Status != MemoryLimitExceeded || res.Passed != 2 {
		t.Errorf("status %s, passed %d, verdicts %v", res.Status, res.Passed, verdicts)
	}
	if res.Compile == nil || string(res.Compile.Stderr) != "note: first compile\n" {
		t.Errorf("compile step %+v", res.Compile)
	}
	if len(pools.released) != 2 || first.memory != 128<<20 || second.memory != 128<<20 {
		t.Errorf("released %d sandboxes; memory limits %d, %d", len(pools.released), first.memory, second.memory)
	}

	// Stopping on the first failure, nothing runs after the ended test.
	first.gotJob = nil
	pools = &sandboxes{next: []*fakeSandbox{first}}
	r = New(testConfig(t).Server, pools, &fakeObserver{}, quiet)
	p.Job.StopOnFailure = true
	res, err = r.Execute(context.Background(), p, nil)
	if err != nil || len(res.Tests) != 2 || res.Status != MemoryLimitExceeded {
		t.Errorf("stop on failure: %v, %+v", err, res)
	}
}
