package runner

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/codeexec/codeexec/agentproto"
)

// EventType says what an Event reports.
type EventType string

const (
	// StageStarted: a compile step, or a run (a test in judge mode), begins.
	StageStarted EventType = "stage"
	// Stdout and Stderr carry output of the current stage as the program writes it.
	Stdout EventType = "stdout"
	Stderr EventType = "stderr"
	// StageFinished carries the stage's measured Step (and, in judge mode, its verdict).
	StageFinished EventType = "exit"
)

// Stage names.
const (
	StageCompile = "compile"
	StageRun     = "run"
)

// Event is one thing that happened during an execution, in order.
type Event struct {
	Type  EventType
	Stage string // StageCompile or StageRun
	// Test is the judge test's number, from 1; 0 outside judge mode.
	Test int
	Data []byte // Stdout, Stderr: owned by the receiver only for the call
	// Step is the stage's measurement (StageFinished); its output fields are empty: the output
	// went before it.
	Step *Step
	// Verdict is the test's verdict (StageFinished of a judge test).
	Verdict Status
}

// Sink receives the events of one execution as they happen. An error ends the execution (the
// client went away); Execute then returns it.
type Sink interface {
	Event(ev Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event) error

// Event calls f.
func (f SinkFunc) Event(ev Event) error { return f(ev) }

// collector builds the Result from the agent's events and passes them on to the caller's sink.
type collector struct {
	p    *Plan
	sink Sink

	stage          string
	index          int
	open           bool      // a step has started and not finished
	openedAt       time.Time // when it started
	stdout, stderr bytes.Buffer
	compile        *Step
	runs           []Step
	agentErr       string
	sinkErr        error
}

func newCollector(p *Plan, sink Sink) *collector {
	return &collector{p: p, sink: sink}
}

func (c *collector) handle(ev agentproto.Event) error {
	switch ev.Kind {
	case agentproto.KindStepStarted:
		c.stage, c.index = ev.Started.Name, ev.Started.Index
		c.open, c.openedAt = true, time.Now()
		c.stdout.Reset()
		c.stderr.Reset()
		return c.emit(Event{Type: StageStarted, Stage: c.stageName(), Test: c.test()})
	case agentproto.KindStdout:
		c.stdout.Write(ev.Data)
		return c.emit(Event{Type: Stdout, Stage: c.stageName(), Test: c.test(), Data: ev.Data})
	case agentproto.KindStderr:
		c.stderr.Write(ev.Data)
		return c.emit(Event{Type: Stderr, Stage: c.stageName(), Test: c.test(), Data: ev.Data})
	case agentproto.KindStepFinished:
		return c.finished(ev.Finished)
	case agentproto.KindDone:
		c.agentErr = ev.Done.Error
	}
	return nil
}

// sandboxEnded finishes the open step of a sandbox that ended whole (gVisor): killed for
// passing its memory limit (pool.ErrOutOfMemory; it reached the limit, which is the peak
// reported), else at its process limit or killed by the program (pool.ErrProcessLimit,
// pool.ErrSandboxKilled: a runtime error, as a fork that fails at the limit under runc usually
// is). Nothing inside measured the step.
func (c *collector) sandboxEnded(outOfMemory bool) error {
	m := &agentproto.StepResult{Outcome: agentproto.Exited, ExitCode: 128 + 9, Signal: "SIGKILL", Wall: time.Since(c.openedAt)}
	if outOfMemory {
		m.Outcome, m.MemoryBytes, m.OOMKills = agentproto.OutOfMemory, c.p.MemoryBytes, 1
	}
	return c.finished(m)
}

func (c *collector) finished(m *agentproto.StepResult) error {
	c.open = false
	st := measure(c.p, m)
	// The buffers are reused for the next step; the step keeps its own copies.
	st.Stdout = bytes.Clone(c.stdout.Bytes())
	st.Stderr = bytes.Clone(c.stderr.Bytes())
	if runtimeOOM(c.p, &st) {
		st.Status = MemoryLimitExceeded
	}
	ev := Event{Type: StageFinished, Stage: c.stageName(), Test: c.test()}
	if c.stage == StageCompile {
		c.compile = &st
	} else {
		c.runs = append(c.runs, st)
		if len(c.p.Tests) > 0 {
			ev.Verdict = verdict(c.p, len(c.runs)-1, &st)
		}
	}
	report := st
	report.Stdout, report.Stderr = nil, nil
	ev.Step = &report
	return c.emit(ev)
}

func (c *collector) stageName() string {
	if c.stage == StageCompile {
		return StageCompile
	}
	return StageRun
}

func (c *collector) test() int {
	if c.stage == StageCompile || len(c.p.Tests) == 0 {
		return 0
	}
	return c.index + 1
}

func (c *collector) emit(ev Event) error {
	if c.sink == nil {
		return nil
	}
	if err := c.sink.Event(ev); err != nil {
		c.sinkErr = err
		return err
	}
	return nil
}

// result judges what was collected.
func (c *collector) result() *Result {
	return judge(c.p, c.compile, c.runs)
}

// measure turns the agent's measurement into a status.
func measure(p *Plan, m *agentproto.StepResult) Step {
	st := Step{
		ExitCode: m.ExitCode, Signal: m.Signal, Truncated: m.Truncated,
		Wall: m.Wall, CPU: m.CPU, MemoryBytes: m.MemoryBytes, TimeLimit: m.TimeLimit,
	}
	switch {
	case m.Outcome == agentproto.OutOfMemory:
		st.Status = MemoryLimitExceeded
	case m.Outcome == agentproto.TimedOut:
		st.Status = TimeLimitExceeded
	case m.Outcome == agentproto.OutputTooLong:
		st.Status = OutputLimitExceeded
	case m.ExitCode != 0 || m.Outcome == agentproto.FailedToStart:
		st.Status = RuntimeError
	default:
		st.Status = OK
	}
	return st
}

// runtimeOOM tells a runtime's own out-of-memory exit (a JVM's OutOfMemoryError, node's heap
// limit) from a runtime error. The runtime says so on stderr, but so can any program: the text
// counts only with the evidence of a peak near the limit (the runtimes' heaps are sized from it).
func runtimeOOM(p *Plan, st *Step) bool {
	if st.Status != RuntimeError || st.MemoryBytes < p.MemoryBytes/2 {
		return false
	}
	for _, f := range p.MemoryErrors {
		if bytes.Contains(st.Stderr, []byte(f)) {
			return true
		}
	}
	return false
}

// verdict judges run i of a judge plan.
func verdict(p *Plan, i int, st *Step) Status {
	if st.Status != OK {
		return st.Status
	}
	if exp := p.Tests[i]; exp != nil && !Same(p.Compare, st.Stdout, []byte(*exp)) {
		return WrongAnswer
	}
	return Accepted
}

func judge(p *Plan, compile *Step, runs []Step) *Result {
	res := &Result{
		JobID: p.JobID, Language: p.Language, Version: p.Version,
		MemoryLimitBytes: p.MemoryBytes, TimeLimit: p.TimeLimit, TestCount: len(p.Tests),
	}
	if compile != nil {
		res.Compile = compile
		if compile.Status != OK {
			res.Status = CompileError
			res.ErrorMessage = compileMessage(compile)
			return res
		}
	}
	if len(runs) == 0 {
		res.Status = RuntimeError
		res.ErrorMessage = "The program did not run."
		return res
	}
	res.Run = runs[0]
	if len(p.Tests) == 0 {
		res.Status = res.Run.Status
		res.ErrorMessage = runMessage(&res.Run)
		return res
	}
	res.Status = Accepted
	for i := range runs {
		t := TestResult{Step: runs[i], Verdict: verdict(p, i, &runs[i])}
		if t.Verdict == Accepted {
			res.Passed++
		} else if res.Status == Accepted {
			res.Status = t.Verdict
			res.ErrorMessage = fmt.Sprintf("Test %d: %s", i+1, verdictSentence(t.Verdict, &t.Step))
		}
		res.Tests = append(res.Tests, t)
		// The agent stops on a failed process by itself, but a wrong answer is only known here
		// (expected outputs never enter the sandbox), so the tests after it ran and are dropped.
		if p.Job.StopOnFailure && t.Verdict != Accepted {
			break
		}
	}
	return res
}

func compileMessage(s *Step) string {
	switch s.Status {
	case TimeLimitExceeded:
		return "Compilation time limit exceeded"
	case MemoryLimitExceeded:
		return "Compilation memory limit exceeded"
	case OutputLimitExceeded:
		return "Compilation output limit exceeded"
	}
	msg := strings.TrimSpace(string(s.Stderr) + "\n" + string(s.Stdout))
	if msg == "" {
		msg = fmt.Sprintf("Compilation failed with exit code %d", s.ExitCode)
	}
	return msg
}

func runMessage(s *Step) string {
	if s.Status == OK {
		return ""
	}
	return verdictSentence(s.Status, s)
}

func verdictSentence(v Status, s *Step) string {
	switch v {
	case TimeLimitExceeded:
		if s.TimeLimit == agentproto.WallLimit {
			return "Time limit exceeded (wall clock)"
		}
		return "Time limit exceeded"
	case MemoryLimitExceeded:
		return "Memory limit exceeded"
	case OutputLimitExceeded:
		return "Output limit exceeded"
	case WrongAnswer:
		return "Wrong answer"
	case RuntimeError:
		if msg := strings.TrimSpace(string(s.Stderr)); msg != "" {
			return msg
		}
		if s.Signal != "" {
			return fmt.Sprintf("Killed by %s", s.Signal)
		}
		return fmt.Sprintf("Exited with code %d", s.ExitCode)
	}
	return string(v)
}

// Same compares a program's output with the expected one: "exact" byte for byte, "trim"
// ignoring trailing white space on each line and trailing blank lines (and \r\n vs \n).
func Same(mode string, got, want []byte) bool {
	if mode == "exact" {
		return bytes.Equal(got, want)
	}
	return bytes.Equal(trimOutput(got), trimOutput(want))
}

func trimOutput(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " \t\r\f\v")
	}
	for len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return bytes.Join(lines, []byte("\n"))
}

func validText(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }
