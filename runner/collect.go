package runner

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
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

// Console is the Sink of an interactive execution (Request.Interactive): it also gives the input
// the client sends while the run goes on (stdin chunks, the end of stdin, signals). The run's
// stdin stays open until Input is closed or sends KindStdinEOF.
type Console interface {
	Sink
	Input() <-chan agentproto.Input
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event) error

// Event calls f.
func (f SinkFunc) Event(ev Event) error { return f(ev) }

// budget is how much program output an answer may still keep. Past it, a step's output is still
// judged in full but not kept.
type budget struct {
	mu   sync.Mutex
	left int64
}

func newBudget(n int64) *budget { return &budget{left: n} }

// take grants up to n bytes of the budget and returns how many.
func (b *budget) take(n int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = max(min(n, b.left), 0)
	b.left -= n
	return n
}

// collector builds the Result from the agent's events and passes them on to the caller's sink.
type collector struct {
	p      *Plan
	sink   Sink
	budget *budget

	stage string
	index int  // the step's position in the plan's runs (0 for the compile step)
	open  bool // a step has started and not finished
	// first is the position in the plan's runs of the current job's first run: the job that
	// continues a judge plan in a fresh sandbox (rest) holds only the tests left.
	first int
	// recompile says the current job's compile step repeats the one already collected; repeat
	// says that step is the one now running: neither it nor its output is collected again.
	recompile, repeat bool
	// endedRun says the last sandbox ended whole with a run (gVisor), which rest may continue.
	endedRun       bool
	openedAt       time.Time // when it started
	stdout, stderr bytes.Buffer
	// step is the current step: its output limit bounds what is collected of it, whatever the
	// agent sends; cut says output past it was dropped.
	step     *agentproto.Step
	cut      bool
	compile  *Step
	runs     []Step
	verdicts []Status // of each run, judged on its whole output
	agentErr string
	sinkErr  error
}

func newCollector(p *Plan, sink Sink, budget *budget) *collector {
	return &collector{p: p, sink: sink, budget: budget}
}

func (c *collector) handle(ev agentproto.Event) error {
	if c.repeat {
		switch ev.Kind {
		case agentproto.KindStdout, agentproto.KindStderr:
			return nil
		case agentproto.KindStepFinished:
			c.open, c.repeat = false, false
			return nil
		}
	}
	switch ev.Kind {
	case agentproto.KindStepStarted:
		c.open, c.openedAt = true, time.Now()
		if c.repeat = c.recompile && ev.Started.Name == StageCompile; c.repeat {
			return nil
		}
		c.stage, c.index = ev.Started.Name, ev.Started.Index
		if c.stage != StageCompile {
			c.index += c.first
		}
		c.step = c.p.step(c.stage, c.index)
		c.stdout.Reset()
		c.stderr.Reset()
		c.cut = false
		return c.emit(Event{Type: StageStarted, Stage: c.stageName(), Test: c.test()})
	case agentproto.KindStdout:
		data := c.bound(ev.Data)
		c.stdout.Write(data)
		return c.emitData(Stdout, data)
	case agentproto.KindStderr:
		data := c.bound(ev.Data)
		c.stderr.Write(data)
		return c.emitData(Stderr, data)
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
	if c.repeat {
		// The repeated compile of a continued plan cannot fail where it passed before; if its
		// sandbox ends all the same, the tests left have no verdicts.
		c.open, c.endedRun = false, false
		return nil
	}
	c.endedRun = c.stage != StageCompile
	m := &agentproto.StepResult{Outcome: agentproto.Exited, ExitCode: 128 + 9, Signal: "SIGKILL", Wall: time.Since(c.openedAt)}
	if outOfMemory {
		m.Outcome, m.MemoryBytes, m.OOMKills = agentproto.OutOfMemory, c.p.MemoryBytes, 1
	}
	return c.finished(m)
}

// rest is the job that runs a judge plan's tests left after its sandbox ended whole with a
// test (sandboxEnded), in a fresh sandbox; nil when none are left to run: the plan is not a
// judge plan, the compile ended it, or it stops on its first failure, as the ended test is.
func (c *collector) rest() *agentproto.Job {
	if !c.endedRun || len(c.p.Tests) == 0 || c.p.Job.StopOnFailure || len(c.runs) >= len(c.p.Job.Runs) {
		return nil
	}
	c.endedRun = false
	job := c.p.Job
	job.Runs = job.Runs[len(c.runs):]
	c.first, c.recompile = len(c.runs), job.Compile != nil
	return &job
}

// bound cuts data to what the step's output limit leaves: the agent enforces the limit, and a
// broken one must not make the host hold more.
func (c *collector) bound(data []byte) []byte {
	if c.step == nil || c.step.OutputLimit <= 0 {
		return data
	}
	room := c.step.OutputLimit - int64(c.stdout.Len()+c.stderr.Len())
	if int64(len(data)) > room {
		c.cut = true
		return data[:max(room, 0)]
	}
	return data
}

func (c *collector) emitData(t EventType, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	return c.emit(Event{Type: t, Stage: c.stageName(), Test: c.test(), Data: data})
}

func (c *collector) finished(m *agentproto.StepResult) error {
	c.open = false
	st := measure(c.p, m)
	st.Truncated = st.Truncated || c.cut
	// Judged on the whole output; kept only as far as the answer's budget goes.
	st.Stdout, st.Stderr = c.stdout.Bytes(), c.stderr.Bytes()
	if runtimeOOM(c.p, &st) {
		st.Status = MemoryLimitExceeded
	}
	ev := Event{Type: StageFinished, Stage: c.stageName(), Test: c.test()}
	v := Status("")
	if c.stage != StageCompile && len(c.p.Tests) > 0 {
		v = verdict(c.p, len(c.runs), &st)
		ev.Verdict = v
	}
	c.keep(&st, c.copies())
	if c.stage == StageCompile {
		c.compile = &st
	} else {
		c.runs = append(c.runs, st)
		c.verdicts = append(c.verdicts, v)
	}
	report := st
	report.Stdout, report.Stderr = nil, nil
	ev.Step = &report
	return c.emit(ev)
}

// copies is how many times an answer shows the current step's output: the compile step's again
// as the compile output; the first run's as the result's own output (and, in judge mode, once
// more as its test's). Error messages quote at most maxMessageBytes of it.
func (c *collector) copies() int64 {
	switch {
	case c.stage == StageCompile:
		return 2
	case len(c.runs) > 0:
		return 1
	case len(c.p.Tests) > 0:
		return 3
	}
	return 2
}

// keep gives the step its own copy of as much of its output as the budget grants, counting each
// time the answer shows it, stdout first; the rest is dropped, and the step says so.
func (c *collector) keep(st *Step, copies int64) {
	n := int64(len(st.Stdout) + len(st.Stderr))
	granted := c.budget.take(n*copies) / copies
	out := min(granted, int64(len(st.Stdout)))
	st.Stdout = bytes.Clone(st.Stdout[:out])
	st.Stderr = bytes.Clone(st.Stderr[:granted-out])
	if granted < n {
		st.Truncated = true
		st.OutputDropped = true
	}
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
	return judge(c.p, c.compile, c.runs, c.verdicts)
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

// judge builds the result from the steps and each run's verdict (judged on its whole output).
func judge(p *Plan, compile *Step, runs []Step, verdicts []Status) *Result {
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
		t := TestResult{Step: runs[i], Verdict: verdicts[i]}
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
	msg := quote(strings.TrimSpace(string(s.Stderr) + "\n" + string(s.Stdout)))
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
		if msg := quote(strings.TrimSpace(string(s.Stderr))); msg != "" {
			return msg
		}
		if s.Signal != "" {
			return fmt.Sprintf("Killed by %s", s.Signal)
		}
		return fmt.Sprintf("Exited with code %d", s.ExitCode)
	}
	return string(v)
}

// maxMessageBytes bounds the program's output an error message quotes (the whole output is in
// the step's own fields).
const maxMessageBytes = 64 << 10

// quote is s cut to maxMessageBytes, on a rune boundary.
func quote(s string) string {
	if len(s) <= maxMessageBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessageBytes], "") + " …"
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
