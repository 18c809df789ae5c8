package agent

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
)

// The tests run steps one at a time, never in parallel: a step reaps every child of the process
// (wait4(-1), as PID 1 must), so two at once would take each other's.

func TestMain(m *testing.M) {
	if os.Getenv(guardChildEnv) != "" {
		os.Exit(guardChild())
	}
	// The host's cgroup files describe the machine or the test's own cgroup, which other work
	// uses too: the tests measure with the fallbacks, as a container without them would.
	cpuFilesV1 = nil
	cpuStatV2 = "/nonexistent/cpu.stat"
	oomFilesV1 = "/nonexistent/memory.oom_control"
	memEventV2 = "/nonexistent/memory.events"
	os.Exit(m.Run())
}

// generous bounds "it ended" in tests: far above any expected duration.
const generous = 30 * time.Second

func newExecutor(t *testing.T, out io.Writer) *Executor {
	tmp := t.TempDir()
	return &Executor{Dir: filepath.Join(tmp, "box"), Scratch: []string{tmp}, Out: agentproto.NewWriter(out)}
}

// session is a job running in the background, with the host's ends of both streams.
type session struct {
	t      *testing.T
	ex     *Executor
	events *agentproto.Reader
	host   *agentproto.Writer
	hostW  *io.PipeWriter
	over   chan struct{}
}

// startJob starts job; the test reads its events (nothing is buffered: the agent's writes wait
// for the reads) and sends the host's frames.
func startJob(t *testing.T, job *agentproto.Job) *session {
	t.Helper()
	return startJobAs(t, job, nil)
}

// startJobAs is startJob with the steps run as sb (nil: the test's own user).
func startJobAs(t *testing.T, job *agentproto.Job, sb *Sandbox) *session {
	t.Helper()
	evR, evW := io.Pipe()
	hostR, hostW := io.Pipe()
	ex := newExecutor(t, evW)
	if ex.Sandbox = sb; sb != nil {
		// The test's temporary folders are its own user's alone: the scratch folder is made
		// like the container's /tmp (anyone may write, sticky), its parent passable.
		if err := os.Chmod(filepath.Dir(ex.Scratch[0]), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(ex.Scratch[0], 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
	}
	s := &session{t: t, ex: ex, events: agentproto.NewReader(evR, agentproto.MaxAgentFrame),
		host: agentproto.NewWriter(hostW), hostW: hostW, over: make(chan struct{})}
	go func() {
		s.ex.Do(job, agentproto.NewReader(hostR, agentproto.MaxHostFrame))
		close(s.over)
	}()
	t.Cleanup(func() {
		hostW.Close()
		evR.Close()
		<-s.over
	})
	return s
}

// next reads the next event, failing the test when none comes in a generous time.
func (s *session) next() agentproto.Event {
	s.t.Helper()
	type read struct {
		ev  agentproto.Event
		err error
	}
	c := make(chan read, 1)
	go func() {
		ev, err := s.events.ReadEvent()
		c <- read{ev, err}
	}()
	select {
	case r := <-c:
		if r.err != nil {
			s.t.Fatalf("reading an event: %v", r.err)
		}
		return r.ev
	case <-time.After(generous):
		s.t.Fatal("no event came")
	}
	panic("unreachable")
}

// until reads events up to the first that ok accepts, and returns them all.
func (s *session) until(ok func(agentproto.Event) bool) []agentproto.Event {
	s.t.Helper()
	var evs []agentproto.Event
	for {
		ev := s.next()
		evs = append(evs, ev)
		if ok(ev) {
			return evs
		}
		if ev.Kind == agentproto.KindDone {
			s.t.Fatalf("the job ended before the awaited event: %v", describe(evs))
		}
	}
}

// rest reads the events up to Done.
func (s *session) rest() []agentproto.Event {
	s.t.Helper()
	return s.until(func(ev agentproto.Event) bool { return ev.Kind == agentproto.KindDone })
}

func (s *session) send(kind agentproto.Kind, payload string) {
	s.t.Helper()
	if err := s.host.Frame(kind, []byte(payload)); err != nil {
		s.t.Fatalf("sending a %s frame: %v", kind, err)
	}
}

// runJob runs job with no host frames and returns its events.
func runJob(t *testing.T, job *agentproto.Job) []agentproto.Event {
	t.Helper()
	return startJob(t, job).rest()
}

func isOutput(text string) func(agentproto.Event) bool {
	return func(ev agentproto.Event) bool {
		return ev.Kind == agentproto.KindStdout && string(ev.Data) == text
	}
}

// stepLog is what the events said of one step.
type stepLog struct {
	started        agentproto.StepStarted
	stdout, stderr string
	chunks         int
	res            agentproto.StepResult
}

// parse checks the events' order (steps of StepStarted, output, StepFinished, then Done) and
// returns the steps and Done.
func parse(t *testing.T, evs []agentproto.Event) ([]stepLog, agentproto.Done) {
	t.Helper()
	var steps []stepLog
	var cur *stepLog
	for i, ev := range evs {
		switch ev.Kind {
		case agentproto.KindStepStarted:
			if cur != nil {
				t.Fatalf("event %d: a step started inside another: %v", i, describe(evs))
			}
			cur = &stepLog{started: *ev.Started}
		case agentproto.KindStdout, agentproto.KindStderr:
			if cur == nil {
				t.Fatalf("event %d: output outside a step: %v", i, describe(evs))
			}
			if len(ev.Data) == 0 || len(ev.Data) > agentproto.MaxChunk {
				t.Fatalf("event %d: a chunk of %d bytes", i, len(ev.Data))
			}
			cur.chunks++
			if ev.Kind == agentproto.KindStdout {
				cur.stdout += string(ev.Data)
			} else {
				cur.stderr += string(ev.Data)
			}
		case agentproto.KindStepFinished:
			if cur == nil {
				t.Fatalf("event %d: a step finished that had not started: %v", i, describe(evs))
			}
			cur.res = *ev.Finished
			steps = append(steps, *cur)
			cur = nil
		case agentproto.KindDone:
			if cur != nil || i != len(evs)-1 {
				t.Fatalf("event %d: done inside a step or before the end: %v", i, describe(evs))
			}
			return steps, *ev.Done
		default:
			t.Fatalf("event %d: unexpected %s", i, ev.Kind)
		}
	}
	t.Fatalf("no done event: %v", describe(evs))
	return nil, agentproto.Done{}
}

// describe shortens events for failure messages.
func describe(evs []agentproto.Event) []string {
	var out []string
	for _, ev := range evs {
		s := ev.Kind.String()
		switch {
		case ev.Data != nil:
			s += ":" + string(ev.Data[:min(len(ev.Data), 40)])
		case ev.Finished != nil:
			s += ":" + string(ev.Finished.Outcome)
		case ev.Done != nil && ev.Done.Error != "":
			s += ":" + ev.Done.Error
		}
		out = append(out, s)
	}
	return out
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// run is a run step with limits far from being reached.
func run(argv ...string) agentproto.Step {
	return agentproto.Step{Name: "run", Argv: argv, WallLimit: generous, OutputLimit: 1 << 20}
}

// oneStep runs a one-step job and returns the step.
func oneStep(t *testing.T, s agentproto.Step) stepLog {
	t.Helper()
	steps, done := parse(t, runJob(t, &agentproto.Job{Runs: []agentproto.Step{s}}))
	if len(steps) != 1 || done.Error != "" {
		t.Fatalf("got %d steps, done %+v", len(steps), done)
	}
	return steps[0]
}

// gone says whether no process (not even an unreaped one) has the pid.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
