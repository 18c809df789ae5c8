package runner

import (
	"fmt"
	"math"
	"time"

	"github.com/codeexec/codeexec/agentproto"
)

// Step is the measured outcome of one process (compile, or one run).
type Step struct {
	Status   Status
	ExitCode int
	Signal   string
	Stdout   []byte
	Stderr   []byte
	// Truncated: output is missing, cut at the output limit or dropped for the answer's size.
	Truncated bool
	// OutputDropped: the output was judged but not kept, past the answer's budget
	// (server.maxAnswerBytes).
	OutputDropped bool
	Wall          time.Duration
	CPU           time.Duration
	MemoryBytes   int64
	// TimeLimit says which limit stopped it, when one did.
	TimeLimit agentproto.TimeLimit
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
	// MemoryLimitBytes and TimeLimit are the limits that applied.
	MemoryLimitBytes int64
	TimeLimit        time.Duration
	// Typed is what the client typed into an interactive run, kept (up to MaxTypedBytes) only
	// for an execution to be saved in the log.
	Typed []byte
}

// Summary is the seed service's flat view of a result, kept in the native API's answer and in
// the execution log record alike.
type Summary struct {
	Output        string
	ErrorMessage  string
	ExecutionTime float64 // seconds, to the millisecond
	MemoryUsage   string  // "7.4MB"
	CPUUsage      string  // "87.4%"
	RunTimeStatus string  // "succeeded" or "Error"
}

// Summary derives the flat view.
func (r *Result) Summary() Summary {
	s := Summary{ErrorMessage: r.ErrorMessage, RunTimeStatus: "Error"}
	if r.Status != CompileError {
		s.Output = validText(r.Run.Stdout)
	}
	if s.ErrorMessage == "" && !r.Status.Succeeded() {
		s.ErrorMessage = string(r.Status)
	}
	if r.Status.Succeeded() {
		s.RunTimeStatus = "succeeded"
	}
	s.ExecutionTime = math.Round(Millis(r.Run.Wall)) / 1000
	s.MemoryUsage = fmt.Sprintf("%.1fMB", float64(r.Run.MemoryBytes)/(1<<20))
	cpu := 0.0
	if r.Run.Wall > 0 {
		cpu = 100 * float64(r.Run.CPU) / float64(r.Run.Wall)
	}
	s.CPUUsage = fmt.Sprintf("%.1f%%", cpu)
	return s
}

// Millis is d in milliseconds with microsecond precision, as the JSON answers give times.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
