// Package runner performs one execution. NewPlan validates a request against the language's
// config and turns it into a Plan, which travels as JSON if it must; Runner.Execute admits a
// plan, runs it in a claimed warm sandbox, streams its events to a Sink, and turns the agent's
// measurements into a Result with verdicts.
package runner

import (
	"errors"
	"fmt"
	"time"
)

// File is one submitted source file.
type File struct {
	Name string // relative path

	Content []byte
	Entry   bool
}

// Test is one judge test case.
type Test struct {
	Stdin    []byte
	Expected *string // nil: no comparison, the test is judged on exit status only
}

// Request is one execution as a transport hands it over.
type Request struct {
	Language string
	// Code is a single-file program, saved under the language's usual name (main.py, Main.java);
	// the alternative to Files.
	Code  []byte
	Files []File
	Stdin []byte
	Args  []string
	// TimeLimit is the CPU-time limit of each run (0: the language's default).
	TimeLimit time.Duration
	// MemoryLimitBytes is the memory limit (0: the language's default).
	MemoryLimitBytes int64
	// CompileTimeLimit lowers the CPU-time limit of the compile step (0: the language's).
	CompileTimeLimit   time.Duration
	Tests              []Test
	Compare            string // "trim" (default) or "exact"
	StopOnFirstFailure bool
	// Save asks for the execution to be kept in the execution log ("saveMetric").
	Save bool
	// Batch says the request is one submission of a batch.
	Batch bool
	// Interactive keeps the run's stdin open for what the client types while it runs (after
	// Stdin), under the session limits (config interactive); it has one run and no tests. The
	// input comes from a Sink that is also a Console.
	Interactive bool
}

// InputError is a problem with the request itself; transports answer it with 400.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputErr(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// ErrOverloaded is returned when no execution slot became free in time or the queue is full.
var ErrOverloaded = errors.New("too many executions; try again later")

// ErrUnavailable is returned when no sandbox could be had or it failed (engine down or too
// slow); the error wraps the cause, which is for the server's log, not for the client.
var ErrUnavailable = errors.New("no sandbox available; the container engine may be down")
