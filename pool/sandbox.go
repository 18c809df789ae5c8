package pool

import (
	"context"
	"errors"

	"github.com/codeexec/codeexec/agentproto"
)

// Sandbox is a warm container: what the pool needs to keep it (ID, Lost) and what the runner
// needs to run one job in it. The engine makes them; each takes one job.
type Sandbox interface {
	ID() string
	// Lost reports that the line to the agent has ended (the engine went away or restarted, or
	// the container died): such a sandbox can never take a job.
	Lost() bool
	// SetMemory changes the memory limit of the whole sandbox.
	SetMemory(ctx context.Context, bytes int64) error
	// Run sends the job to the agent and calls handle with each event it emits, in order,
	// until the Done event (nil error) or a failure. Frames from input (nil: none) are sent
	// while the job runs. An error from handle ends the run and is returned.
	Run(ctx context.Context, job *agentproto.Job, input <-chan agentproto.Input, handle func(agentproto.Event) error) error
}

// ErrOutOfMemory is what Sandbox.Run returns when the whole sandbox was killed for passing its
// memory limit. Under gVisor the program's memory is the sandbox kernel's, so the host's OOM
// killer ends the sandbox itself, and the agent inside cannot report it: the step that was
// running ran out of memory.
var ErrOutOfMemory = errors.New("the sandbox was killed for passing its memory limit")

// ErrProcessLimit is what Sandbox.Run returns when the whole sandbox ended because its
// processes reached the pids limit: under gVisor the host counts the sandbox kernel's threads
// with the program's, and that kernel ends when it can make no more.
var ErrProcessLimit = errors.New("the sandbox ended at its process limit")

// ErrSandboxKilled is what Sandbox.Run returns when the whole sandbox was killed during the job
// with no sign of the memory limit: under gVisor the program can kill the agent, the sandbox's
// first process, which ends the sandbox.
var ErrSandboxKilled = errors.New("the sandbox was killed from inside")

// Engine creates and destroys sandboxes. Implementations must be safe for concurrent use.
type Engine interface {
	// Start creates a sandbox for the language, starts it and waits until it is warm: its
	// agent then waits for a job and uses no CPU. On error nothing is left behind.
	Start(ctx context.Context, lang string) (Sandbox, error)
	// Pause freezes a started sandbox.
	Pause(ctx context.Context, s Sandbox) error
	// Resume unpauses a paused sandbox.
	Resume(ctx context.Context, s Sandbox) error
	// Remove destroys a sandbox, whatever its state.
	Remove(ctx context.Context, s Sandbox) error
}
