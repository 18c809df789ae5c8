package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/codeexec/codeexec/agent"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/pool"
	"github.com/google/uuid"
)

// Status is the outcome of an execution (and, in judge mode, the verdict of a test).
type Status string

const (
	OK                  Status = "ok"
	Accepted            Status = "accepted"
	WrongAnswer         Status = "wrong_answer"
	CompileError        Status = "compile_error"
	RuntimeError        Status = "runtime_error"
	TimeLimitExceeded   Status = "time_limit_exceeded"
	MemoryLimitExceeded Status = "memory_limit_exceeded"
	OutputLimitExceeded Status = "output_limit_exceeded"
)

// Step is the measured outcome of one process (compile, or one run).
type Step struct {
	Status      Status
	ExitCode    int
	Signal      string
	Stdout      []byte
	Stderr      []byte
	Truncated   bool
	WallTimeMs  float64
	CPUTimeMs   float64
	MemoryBytes int64
	// TimeLimit says which limit stopped it: "cpu" or "wall".
	TimeLimit string
}

// TestResult is one judge test's outcome.
type TestResult struct {
	Step
	Verdict Status
}

// Result is one execution's outcome.
type Result struct {
	JobID    string
	Language string
	Version  string
	// Status: compile_error, or the run's status (no tests), or in judge mode the overall verdict.
	Status  Status
	Compile *Step
	Run     Step // the run (no tests) or the first test's run
	Tests   []TestResult
	Passed  int
	// TestCount is how many tests the request had (judge mode when > 0); Tests may be shorter
	// (compile error, stopOnFirstFailure).
	TestCount int
	// ErrorMessage is a human sentence about what went wrong, empty when all went well.
	ErrorMessage string
	// MemoryLimitBytes and TimeLimitMs are the limits that applied.
	MemoryLimitBytes int64
	TimeLimitMs      int64
}

// Pools is what the runner needs from the warm pools.
type Pools interface {
	Claim(ctx context.Context, lang string) (pool.Container, error)
	Release(lang string, c pool.Container)
}

// Sandbox is a claimed container that talks to the agent.
type Sandbox interface {
	Exchange(ctx context.Context, job *agent.Job) (*agent.Result, error)
	SetMemory(ctx context.Context, bytes int64) error
}

// Observer is told about admissions and finished executions, for metrics and logs.
type Observer interface {
	Queued(delta int)
	Running(delta int)
	Rejected(reason string)
	Finished(r *Result, took time.Duration)
}

// ErrOverloaded is returned when no execution slot became free in time or the queue is full.
var ErrOverloaded = errors.New("too many executions; try again later")

// ErrUnavailable is returned when no sandbox could be had (engine down or too slow).
var ErrUnavailable = errors.New("no sandbox available; the container engine may be down")

// Runner runs executions.
type Runner struct {
	cfg    *config.Config
	pools  Pools
	obs    Observer
	log    *slog.Logger
	slots  chan struct{}
	queued atomic.Int64
}

// New makes a runner.
func New(cfg *config.Config, pools Pools, obs Observer, log *slog.Logger) *Runner {
	return &Runner{cfg: cfg, pools: pools, obs: obs, log: log, slots: make(chan struct{}, cfg.Server.MaxConcurrent)}
}

// admit waits for an execution slot: at most QueueLength wait, each at most QueueWaitMs.
func (r *Runner) admit(ctx context.Context) (func(), error) {
	select {
	case r.slots <- struct{}{}:
	default:
		if r.queued.Add(1) > int64(r.cfg.Server.QueueLength) {
			r.queued.Add(-1)
			r.obs.Rejected("queue_full")
			return nil, ErrOverloaded
		}
		r.obs.Queued(1)
		timer := time.NewTimer(time.Duration(r.cfg.Server.QueueWaitMs) * time.Millisecond)
		defer timer.Stop()
		var err error
		select {
		case r.slots <- struct{}{}:
		case <-timer.C:
			r.obs.Rejected("queue_timeout")
			err = ErrOverloaded
		case <-ctx.Done():
			r.obs.Rejected("client_gone")
			err = ctx.Err()
		}
		r.queued.Add(-1)
		r.obs.Queued(-1)
		if err != nil {
			return nil, err
		}
	}
	r.obs.Running(1)
	return func() { <-r.slots; r.obs.Running(-1) }, nil
}

// Execute validates and runs a request. Errors: *InputError (the request is wrong),
// ErrOverloaded, ErrUnavailable, or the context's error.
func (r *Runner) Execute(ctx context.Context, req *Request) (*Result, error) {
	p, err := r.plan(req)
	if err != nil {
		return nil, err
	}
	done, err := r.admit(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	begin := time.Now()
	res, err := r.execute(ctx, p)
	if err != nil {
		return nil, err
	}
	r.obs.Finished(res, time.Since(begin))
	return res, nil
}

func (r *Runner) execute(ctx context.Context, p *plan) (*Result, error) {
	lang := p.lang.Name
	c, err := r.pools.Claim(ctx, lang)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// Removing the container happens in the background, off the response path.
	defer r.pools.Release(lang, c)
	box, ok := c.(Sandbox)
	if !ok {
		return nil, fmt.Errorf("container %s cannot take jobs", c.ID())
	}
	if p.memoryBytes != p.lang.MemoryMB<<20 {
		if err := box.SetMemory(ctx, p.memoryBytes); err != nil {
			return nil, fmt.Errorf("%w: setting the memory limit: %v", ErrUnavailable, err)
		}
	}
	// The agent enforces every step's limits; this deadline only guards against a lost container.
	jobCtx, cancel := context.WithTimeout(ctx, time.Duration(p.deadlineMs)*time.Millisecond+10*time.Second)
	defer cancel()
	out, err := box.Exchange(jobCtx, &p.job)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if out.Error != "" {
		// The agent could not place the files (the tmpfs is too small for them, say).
		return nil, inputErr("the files could not be written in the sandbox: %s", out.Error)
	}
	return r.judge(p, out), nil
}

func (r *Runner) judge(p *plan, out *agent.Result) *Result {
	res := &Result{
		JobID:            uuid.NewString(),
		Language:         p.lang.Name,
		Version:          p.lang.Version,
		MemoryLimitBytes: p.memoryBytes,
		TestCount:        len(p.tests),
	}
	if len(p.job.Runs) > 0 {
		res.TimeLimitMs = p.job.Runs[0].CPULimitMs
	}
	if out.Compile != nil {
		s := r.step(p, out.Compile)
		res.Compile = &s
		if s.Status != OK {
			res.Status = CompileError
			res.ErrorMessage = compileMessage(&s)
			return res
		}
	}
	if len(out.Runs) == 0 {
		res.Status = RuntimeError
		res.ErrorMessage = "The program did not run."
		return res
	}
	res.Run = r.step(p, &out.Runs[0])
	if len(p.tests) == 0 {
		res.Status = res.Run.Status
		res.ErrorMessage = runMessage(&res.Run)
		return res
	}
	res.Status = Accepted
	for i := range out.Runs {
		s := r.step(p, &out.Runs[i])
		t := TestResult{Step: s, Verdict: s.Status}
		if s.Status == OK {
			t.Verdict = Accepted
			if exp := p.tests[i].Expected; exp != nil && !Same(p.compare, s.Stdout, []byte(*exp)) {
				t.Verdict = WrongAnswer
			}
		}
		if t.Verdict == Accepted {
			res.Passed++
		} else if res.Status == Accepted {
			res.Status = t.Verdict
			res.ErrorMessage = fmt.Sprintf("Test %d: %s", i+1, verdictSentence(t.Verdict, &s))
		}
		res.Tests = append(res.Tests, t)
		// The agent stops on a failed process by itself, but a wrong answer is only known here
		// (expected outputs never enter the container), so the tests after it ran and are dropped.
		if p.job.StopOnFailure && t.Verdict != Accepted {
			break
		}
	}
	return res
}

// step turns the agent's measurement into a status.
func (r *Runner) step(p *plan, s *agent.StepResult) Step {
	st := Step{
		ExitCode: s.ExitCode, Signal: s.Signal, Stdout: s.Stdout, Stderr: s.Stderr,
		Truncated: s.Truncated, WallTimeMs: s.WallMs, CPUTimeMs: s.CPUMs, MemoryBytes: s.MemoryBytes,
		TimeLimit: s.TimeLimit,
	}
	switch {
	case s.Outcome == agent.OutOfMemory:
		st.Status = MemoryLimitExceeded
	case s.Outcome == agent.TimedOut:
		st.Status = TimeLimitExceeded
	case s.Outcome == agent.OutputTooLong:
		st.Status = OutputLimitExceeded
	case s.ExitCode != 0 && mentionsAny(s.Stderr, p.lang.MemoryErrors):
		st.Status = MemoryLimitExceeded
	case s.ExitCode != 0 || s.Outcome == agent.FailedToStart:
		st.Status = RuntimeError
	default:
		st.Status = OK
	}
	return st
}

func mentionsAny(b []byte, frags []string) bool {
	for _, f := range frags {
		if bytes.Contains(b, []byte(f)) {
			return true
		}
	}
	return false
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
		if s.TimeLimit == "wall" {
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
