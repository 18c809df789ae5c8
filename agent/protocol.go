// Package agent is the part of CodeExec that runs inside a sandbox container.
//
// The agent is PID 1 of a warm container. It prepares the container (prepare commands from the
// language config), writes one Ready line to stdout, then waits on stdin for exactly one Job. It
// writes the files, runs the steps (compile, then one or more runs), measures each, and writes one
// Result as JSON to stdout. The host talks to it over the container's attached stdin/stdout, so no
// `docker exec` and no shared host folder is involved, and a run costs one round trip.
package agent

// Dir is the working directory of every step. It lives on the container's tmpfs.
const Dir = "/tmp/box"

// Ready is the first line the agent writes once the container is warm.
type Ready struct {
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

// File is one submitted file. Path is relative to Dir and already validated by the host;
// the agent checks it again because it must never write outside Dir.
type File struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
}

// Step is one process to run. Argv may contain the placeholders {entry}, {entryBase} and
// {sources}; the host expands them before sending.
type Step struct {
	Name  string   `json:"name"` // "compile" or "run"
	Argv  []string `json:"argv"`
	Env   []string `json:"env,omitempty"`
	Stdin []byte   `json:"stdin,omitempty"`
	// CPULimitMs stops the step when the container's CPU time spent during the step passes it.
	CPULimitMs int64 `json:"cpuLimitMs"`
	// WallLimitMs stops the step when it runs longer than this by the clock (sleeping code).
	WallLimitMs int64 `json:"wallLimitMs"`
	// OutputLimit caps stdout and stderr together, in bytes; the step is stopped once it passes.
	OutputLimit int64 `json:"outputLimit"`
}

// Job is what the host sends: files, an optional compile step, and run steps.
// When there is more than one run step, each run starts from the files as they were after the
// compile step, so nothing one run writes is seen by the next.
type Job struct {
	Files   []File `json:"files"`
	Compile *Step  `json:"compile,omitempty"`
	Runs    []Step `json:"runs"`
	// StopOnFailure stops after the first run whose process did not exit 0 or hit a limit.
	StopOnFailure bool `json:"stopOnFailure,omitempty"`
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

// StepResult is the measured outcome of one step.
type StepResult struct {
	Outcome   Outcome `json:"outcome"`
	ExitCode  int     `json:"exitCode"`
	Signal    string  `json:"signal,omitempty"`
	Stdout    []byte  `json:"stdout"`
	Stderr    []byte  `json:"stderr"`
	Truncated bool    `json:"truncated"`
	WallMs    float64 `json:"wallMs"`
	CPUMs     float64 `json:"cpuMs"`
	// MemoryBytes is the peak resident set of the step's processes (the largest one, as the
	// kernel's getrusage reports it for waited-for children).
	MemoryBytes int64 `json:"memoryBytes"`
	// TimeLimit says which limit stopped the step: "cpu" or "wall".
	TimeLimit string `json:"timeLimit,omitempty"`
}

// Result is the agent's answer to a Job.
type Result struct {
	Compile *StepResult  `json:"compile,omitempty"`
	Runs    []StepResult `json:"runs"`
	// Error is set when the agent itself could not do the job (bad file path, tmpfs full while
	// writing files); it is not about the user's program.
	Error string `json:"error,omitempty"`
}
