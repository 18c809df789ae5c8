package runner

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/agentproto"
)

// judgePlan is a python plan of n tests, each expecting want.
func judgePlan(t *testing.T, n int, want string) *Plan {
	t.Helper()
	tests := make([]Test, n)
	for i := range tests {
		tests[i] = Test{Expected: &want}
	}
	return plan(t, &Request{Language: "python", Code: []byte("x"), Tests: tests})
}

func runsPrinting(n int, out string) []agentproto.Event {
	steps := make([]scripted, n)
	for i := range steps {
		steps[i] = scripted{"run", out, exited(0)}
	}
	return script(steps...)
}

// Past the answer's budget a test keeps its verdict, judged on its whole output, but not its
// output; the first run counts three times (the answer shows it as the result's stdout, its
// output and test 1's stdout).
func TestAnswerBudget(t *testing.T) {
	out := strings.Repeat("x", 100)
	r, _, _ := newTestRunner(t, &fakeSandbox{events: runsPrinting(5, out)})
	p := judgePlan(t, 5, out)
	p.AnswerBytes = 350
	res, err := r.Execute(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != Accepted || res.Passed != 5 {
		t.Fatalf("status %s, %d passed; want every test accepted on its whole output", res.Status, res.Passed)
	}
	kept := []int{100, 50, 0, 0, 0}
	for i, tr := range res.Tests {
		dropped := kept[i] < 100
		if len(tr.Stdout) != kept[i] || tr.OutputDropped != dropped || tr.Truncated != dropped {
			t.Errorf("test %d: %d bytes kept, dropped %v, truncated %v; want %d, %v", i+1, len(tr.Stdout), tr.OutputDropped, tr.Truncated, kept[i], dropped)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Without a budget in the context, each execution gets server.maxAnswerBytes.
func TestAnswerBudgetDefault(t *testing.T) {
	out := strings.Repeat("z", 100)
	cfg := testConfig(t)
	cfg.Server.MaxAnswerBytes = 250
	pools := &fakePools{sb: &fakeSandbox{events: runsPrinting(2, out)}}
	r := New(cfg.Server, pools, &fakeObserver{}, quiet)
	for range 2 {
		res, err := r.Execute(context.Background(), plan(t, &Request{Language: "python", Code: []byte("x")}), nil)
		if err != nil {
			t.Fatal(err)
		}
		// A single run counts twice (stdout and output): 125 bytes granted, all 100 kept.
		if len(res.Run.Stdout) != 100 || res.Run.OutputDropped {
			t.Fatalf("kept %d bytes, dropped %v", len(res.Run.Stdout), res.Run.OutputDropped)
		}
	}
}

// The host holds at most a step's output limit of it, whatever the agent sends: the rest is
// neither kept nor streamed, and the step says its output was cut.
func TestStepOutputBoundOnTheHost(t *testing.T) {
	p := plan(t, &Request{Language: "python", Code: []byte("x")})
	limit := int(p.Job.Runs[0].OutputLimit)
	chunk := bytes.Repeat([]byte("a"), limit/2+1)
	res := exited(0)
	sb := &fakeSandbox{events: []agentproto.Event{
		{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: "run"}},
		{Kind: agentproto.KindStdout, Data: chunk},
		{Kind: agentproto.KindStderr, Data: chunk},
		{Kind: agentproto.KindStdout, Data: chunk},
		{Kind: agentproto.KindStepFinished, Finished: &res},
		{Kind: agentproto.KindDone, Done: &agentproto.Done{}},
	}}
	r, _, _ := newTestRunner(t, sb)
	streamed := 0
	got, err := r.Execute(context.Background(), p, SinkFunc(func(ev Event) error {
		streamed += len(ev.Data)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Run.Stdout) + len(got.Run.Stderr); n != limit || streamed != limit || !got.Run.Truncated {
		t.Fatalf("kept %d, streamed %d of a %d limit, truncated %v", n, streamed, limit, got.Run.Truncated)
	}
}
