package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/codeexec/codeexec/agentproto"
	"golang.org/x/sys/unix"
)

// HideFromPeers makes this process non-dumpable: processes of its user can then neither ptrace
// it nor read its /proc/<pid>/fd or memory. The user's code runs as another user (Sandbox), whom
// the kernel refuses all of that anyway; this keeps the agent closed should the two ever share
// one. gVisor ignores it: there the other user is what holds.
func HideFromPeers() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

// Executor runs jobs and streams their events to the host.
type Executor struct {
	// Dir is the working directory of every step.
	Dir string
	// Scratch lists the folders a program can write to (Dir is inside one of them): they are
	// emptied before each run after the first, so that no run sees what an earlier one left.
	Scratch []string
	// Out receives the job's events.
	Out *agentproto.Writer
	// Sandbox is who the steps run as, and who writes and removes the files in Dir and Scratch;
	// nil: the agent's own user (tests on a host).
	Sandbox *Sandbox
}

// NewExecutor returns the executor of a sandbox container, writing its events to out and running
// the steps as sb.
func NewExecutor(out *agentproto.Writer, sb *Sandbox) *Executor {
	return &Executor{Dir: agentproto.Dir, Scratch: []string{"/tmp", "/dev/shm"}, Out: out, Sandbox: sb}
}

// ErrorText is err's message cut to what Hello and Done may carry.
func ErrorText(err error) string {
	s := err.Error()
	if len(s) > agentproto.MaxErrorText {
		s = strings.ToValidUTF8(s[:agentproto.MaxErrorText], "")
	}
	return s
}

// job is the state of the job being run that the host's frames act on.
type job struct {
	*Executor
	// input carries an interactive job's Stdin frames to the running run step; it is closed at
	// the end of the input. Nil when the job is not interactive.
	input      chan []byte
	inputEnded bool // owned by listen
	// over is closed when the job has ended, so that no frame waits for a step any more.
	over chan struct{}

	mu   sync.Mutex
	pgid int // the running step's process group; 0 between steps
}

// Do runs a job, writing its events to e.Out and ending with Done. host is the rest of the
// host's stream (Stdin, StdinEOF and Signal frames); nil means there is none.
// The user's program's failures are in the step results; Done.Error is only about the agent.
// Do does not wait for the host's stream to end: what comes after the job is read and dropped.
func (e *Executor) Do(spec *agentproto.Job, host *agentproto.Reader) {
	j := &job{Executor: e, over: make(chan struct{})}
	if spec.Interactive {
		// A few chunks may wait for a run to read them; more hold back the host's stream.
		j.input = make(chan []byte, 16)
	}
	go j.listen(host)
	var done agentproto.Done
	if err := j.run(spec); err != nil {
		done.Error = ErrorText(err)
	}
	close(j.over)
	_ = e.Out.JSON(agentproto.KindDone, done)
}

func (j *job) run(spec *agentproto.Job) error {
	if err := j.Sandbox.Do(func() error { return writeFiles(j.Dir, spec.Files) }); err != nil {
		return err
	}
	if spec.Compile != nil {
		if r := j.step(spec.Compile, 0, false); !succeeded(r) {
			return nil
		}
	}
	var snap *snapshot
	if len(spec.Runs) > 1 {
		err := j.Sandbox.Do(func() (err error) {
			snap, err = takeSnapshot(j.Dir)
			return err
		})
		if err != nil {
			return fmt.Errorf("saving the compiled files: %w", err)
		}
		defer snap.close()
	}
	for i := range spec.Runs {
		if i > 0 {
			if err := j.Sandbox.Do(func() error { return snap.restore(j.Dir, j.Scratch) }); err != nil {
				return fmt.Errorf("resetting the working files: %w", err)
			}
		}
		r := j.step(&spec.Runs[i], i, spec.Interactive)
		if spec.StopOnFailure && !succeeded(r) {
			break
		}
	}
	return nil
}

func succeeded(r agentproto.StepResult) bool {
	return r.Outcome == agentproto.Exited && r.ExitCode == 0
}

// safeJoin resolves a submitted relative path inside dir, refusing anything that could leave it.
func safeJoin(dir, p string) (string, error) {
	if p == "" || filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("invalid file name %q", p)
	}
	clean := filepath.Clean(p)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("invalid file name %q", p)
	}
	return filepath.Join(dir, clean), nil
}

func writeFiles(dir string, files []agentproto.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		dst, err := safeJoin(dir, f.Path)
		if err != nil {
			return err
		}
		if err := writeFile(dst, f.Content); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	return nil
}

func writeFile(dst string, content []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// O_EXCL|O_NOFOLLOW: a duplicate name or a planted link is an error, never a write elsewhere.
	fh, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = fh.Write(content)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}
