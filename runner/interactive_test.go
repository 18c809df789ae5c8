package runner

import (
	"context"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
)

// echoSandbox plays an agent running an interactive job: what it is given on the input, it
// writes out, until StdinEOF.
type echoSandbox struct {
	fakeSandbox
	gotInput bool
}

func (f *echoSandbox) Run(ctx context.Context, job *agentproto.Job, input <-chan agentproto.Input, handle func(agentproto.Event) error) error {
	f.gotJob = job
	f.gotInput = input != nil
	if input == nil {
		closed := make(chan agentproto.Input)
		close(closed)
		input = closed
	}
	if err := handle(agentproto.Event{Kind: agentproto.KindStepStarted, Started: &agentproto.StepStarted{Name: "run"}}); err != nil {
		return err
	}
	for in := range input {
		if in.Kind == agentproto.KindStdinEOF {
			break
		}
		if err := handle(agentproto.Event{Kind: agentproto.KindStdout, Data: in.Data}); err != nil {
			return err
		}
	}
	r := exited(0)
	if err := handle(agentproto.Event{Kind: agentproto.KindStepFinished, Finished: &r}); err != nil {
		return err
	}
	return handle(agentproto.Event{Kind: agentproto.KindDone, Done: &agentproto.Done{}})
}

// console is a Sink with input.
type console struct {
	SinkFunc
	in chan agentproto.Input
}

func (c console) Input() <-chan agentproto.Input { return c.in }

func TestInteractivePlan(t *testing.T) {
	cfg := testConfig(t)
	p := plan(t, &Request{Language: "python", Code: []byte("input()"), Interactive: true, Stdin: []byte("first\n")})
	if !p.Job.Interactive || len(p.Job.Runs) != 1 || p.Job.Runs[0].WallLimit != ms(cfg.Interactive.MaxWallMs) ||
		string(p.Job.Runs[0].Stdin) != "first\n" || p.Deadline < ms(cfg.Interactive.MaxWallMs) {
		t.Errorf("plan %+v, deadline %v", p.Job, p.Deadline)
	}
	_, err := NewPlan(cfg, &Request{Language: "python", Code: []byte("x"), Interactive: true, Tests: []Test{{}}})
	if err == nil {
		t.Error("an interactive run with tests was planned")
	}
}

// A Console's input reaches the sandbox; what was typed is kept only for a saved execution.
func TestInteractiveInputAndTyped(t *testing.T) {
	for _, save := range []bool{false, true} {
		sb := &echoSandbox{}
		r, _, _ := newTestRunner(t, sb)
		p := plan(t, &Request{Language: "python", Code: []byte("x"), Interactive: true, Save: save})
		in := make(chan agentproto.Input, 3)
		in <- agentproto.Input{Kind: agentproto.KindStdin, Data: []byte("Ada\n")}
		in <- agentproto.Input{Kind: agentproto.KindSignal, Data: []byte("SIGINT")}
		in <- agentproto.Input{Kind: agentproto.KindStdinEOF}
		res, err := r.Execute(context.Background(), p, console{SinkFunc: func(Event) error { return nil }, in: in})
		if err != nil {
			t.Fatal(err)
		}
		if !sb.gotInput || string(res.Run.Stdout) != "Ada\nSIGINT" {
			t.Errorf("save %v: input %v, stdout %q", save, sb.gotInput, res.Run.Stdout)
		}
		if want := map[bool]string{false: "", true: "Ada\n"}[save]; string(res.Typed) != want {
			t.Errorf("save %v: typed %q, want %q", save, res.Typed, want)
		}
	}
	// A plain sink, or a plan that is not interactive, gives the sandbox no input.
	sb := &echoSandbox{}
	r, _, _ := newTestRunner(t, sb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.Execute(ctx, plan(t, &Request{Language: "python", Code: []byte("x")}), console{SinkFunc: func(Event) error { return nil }, in: make(chan agentproto.Input)}); err != nil || sb.gotInput {
		t.Errorf("not interactive: input %v, err %v", sb.gotInput, err)
	}
}
