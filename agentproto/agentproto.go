// Package agentproto is the wire protocol between the server and the agent inside a sandbox
// container: the types both sides share and their framing. It holds no behaviour of either side,
// so the host imports it without the code that runs in the container, and the agent without the
// Docker client.
//
// The agent is PID 1 of a warm container. Over the container's attached stdout it writes frames;
// over its stdin it reads them:
//
//	agent → host: Hello (once warm), then for a job: StepStarted, Stdout/Stderr chunks,
//	              StepFinished for each step, and Done last.
//	host → agent: Job (exactly one), then Stdin chunks, StdinEOF and Signal while it runs.
//
// A frame is one kind byte, a 4-byte big-endian payload length, and the payload: raw bytes for
// output and input chunks, JSON for the rest. Both sides read with a size bound per direction, so
// neither can be made to buffer without limit by the other.
package agentproto

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the protocol version; the agent says it in Hello, and the host refuses another.
const Version = 2

// Dir is the working directory of every step, on the container's tmpfs.
const Dir = "/tmp/box"

// The agent's settings, in its container's environment (the steps do not see them).
const (
	// EnvUser is the sandbox user, "uid:gid" (ParseUser): the agent starts as root and runs
	// every step, and its own file work in the program's places, as this user.
	EnvUser = "CODEEXEC_USER"
	// EnvPrepare is the language's warm-up shell command, run once before the job.
	EnvPrepare = "CODEEXEC_PREPARE"
	// EnvPrograms are the programs the language's steps start by name, space-separated: the
	// agent looks them up at warm-up.
	EnvPrograms = "CODEEXEC_PROGRAMS"
)

// ParseUser reads a sandbox user, "uid:gid": two numbers, neither 0 (root is the agent's).
func ParseUser(s string) (uid, gid uint32, err error) {
	u, g, ok := strings.Cut(s, ":")
	uid64, uerr := strconv.ParseUint(u, 10, 32)
	gid64, gerr := strconv.ParseUint(g, 10, 32)
	if !ok || uerr != nil || gerr != nil {
		return 0, 0, fmt.Errorf("sandbox user %q: want uid:gid, two numbers such as 10001:10001", s)
	}
	if uid64 == 0 || gid64 == 0 {
		return 0, 0, fmt.Errorf("sandbox user %q: must not be root (uid or gid 0 is the agent's)", s)
	}
	return uint32(uid64), uint32(gid64), nil
}

// Kind is a frame's type.
type Kind byte

// Frames from the agent.
const (
	KindHello        Kind = 'H' // JSON Hello
	KindStepStarted  Kind = 'S' // JSON StepStarted
	KindStdout       Kind = 'o' // raw bytes of the current step's stdout
	KindStderr       Kind = 'e' // raw bytes of the current step's stderr
	KindStepFinished Kind = 'F' // JSON StepResult
	KindDone         Kind = 'D' // JSON Done: the job is over, nothing follows
)

// Frames from the host.
const (
	KindJob      Kind = 'J' // JSON Job
	KindStdin    Kind = 'i' // raw bytes for the running step's stdin (interactive jobs)
	KindStdinEOF Kind = 'z' // no payload: close the running step's stdin
	KindSignal   Kind = 'k' // one of Signals, for the running step
)

// Signals are the names a KindSignal frame may carry: those a user sends from a terminal or with
// kill (stopping signals are left out: a stopped step would only wait for its time limit).
var Signals = []string{"SIGINT", "SIGTERM", "SIGKILL", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"}

func (k Kind) String() string {
	switch k {
	case KindHello:
		return "hello"
	case KindStepStarted:
		return "step-started"
	case KindStdout:
		return "stdout"
	case KindStderr:
		return "stderr"
	case KindStepFinished:
		return "step-finished"
	case KindDone:
		return "done"
	case KindJob:
		return "job"
	case KindStdin:
		return "stdin"
	case KindStdinEOF:
		return "stdin-eof"
	case KindSignal:
		return "signal"
	}
	return "unknown"
}

// Size bounds of one frame's payload.
const (
	// MaxChunk is the most output or input bytes one frame carries: small enough that a flood
	// of output never holds the line for long, so step and done frames get through.
	MaxChunk = 32 << 10
	// MaxAgentFrame bounds every frame the host accepts from the agent.
	MaxAgentFrame = 64 << 10
	// MaxHostFrame bounds every frame the agent accepts from the host (the job with its files
	// and every test's stdin).
	MaxHostFrame = 64 << 20
	// MaxErrorText bounds the error sentences of Hello and Done.
	MaxErrorText = 4 << 10
)

// Hello is the agent's first frame once the container is warm.
type Hello struct {
	Version int `json:"version"`
	// Error is set when the warm-up failed; the container is then useless.
	Error string `json:"error,omitempty"`
}

// File is one submitted file. Path is relative to Dir and already validated by the host; the
// agent checks it again because it must never write outside Dir.
type File struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
}

// Step is one process to run.
type Step struct {
	Name  string   `json:"name"` // "compile" or "run"
	Argv  []string `json:"argv"`
	Env   []string `json:"env,omitempty"`
	Stdin []byte   `json:"stdin,omitempty"`
	// CPULimit stops the step when the container's CPU time spent during the step passes it.
	CPULimit time.Duration `json:"cpuLimit"`
	// WallLimit stops the step when it runs longer than this by the clock (sleeping code).
	WallLimit time.Duration `json:"wallLimit"`
	// OutputLimit caps stdout and stderr together, in bytes; the step is stopped once it passes.
	OutputLimit int64 `json:"outputLimit"`
}

// Job is what the host sends: files, an optional compile step, and run steps. When there is
// more than one run step, each run starts from the files as they were after the compile step,
// so nothing one run writes is seen by the next.
type Job struct {
	Files   []File `json:"files"`
	Compile *Step  `json:"compile,omitempty"`
	Runs    []Step `json:"runs"`
	// StopOnFailure stops after the first run whose process did not exit 0 or hit a limit.
	StopOnFailure bool `json:"stopOnFailure,omitempty"`
	// Interactive keeps the run's stdin open after Step.Stdin: Stdin frames feed it until
	// StdinEOF. Without it the run's stdin ends after Step.Stdin.
	Interactive bool `json:"interactive,omitempty"`
}

// StepStarted announces a step; its output frames follow.
type StepStarted struct {
	Name string `json:"name"`
	// Index is the run's position in Job.Runs (0 for the compile step).
	Index int `json:"index"`
}

// Outcome says how a step ended.
type Outcome string

const (
	Exited        Outcome = "exited"          // the process exited by itself (any code) or by a signal of its own
	TimedOut      Outcome = "time_limit"      // CPU or wall limit passed
	OutOfMemory   Outcome = "memory_limit"    // the kernel's OOM killer acted in the container during the step
	OutputTooLong Outcome = "output_limit"    // stdout+stderr passed the cap
	FailedToStart Outcome = "failed_to_start" // the program could not be started (missing binary)
)

// TimeLimit names the limit that stopped a step.
type TimeLimit string

const (
	CPULimit  TimeLimit = "cpu"
	WallLimit TimeLimit = "wall"
)

// StepResult is the measured outcome of one step. Its output went before it as chunks.
type StepResult struct {
	Outcome  Outcome `json:"outcome"`
	ExitCode int     `json:"exitCode"`
	Signal   string  `json:"signal,omitempty"`
	// Truncated says output past OutputLimit was dropped.
	Truncated bool          `json:"truncated"`
	Wall      time.Duration `json:"wall"`
	CPU       time.Duration `json:"cpu"`
	// MemoryBytes is the peak resident set of the step's processes (the largest one, as the
	// kernel's getrusage reports it for waited-for children).
	MemoryBytes int64 `json:"memoryBytes"`
	// OOMKills is how many processes the kernel's OOM killer ended in the container during the
	// step (read from the memory cgroup): the evidence behind OutOfMemory.
	OOMKills int64 `json:"oomKills,omitempty"`
	// TimeLimit says which limit stopped the step, when one did.
	TimeLimit TimeLimit `json:"timeLimit,omitempty"`
}

// Done ends a job.
type Done struct {
	// Error is set when the agent itself could not do the job (bad file path, tmpfs full while
	// writing files); it is not about the user's program.
	Error string `json:"error,omitempty"`
}
