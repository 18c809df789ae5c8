package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/agentproto"
	"golang.org/x/sys/unix"
)

// step runs one step: it announces it, runs its process within its limits while streaming the
// output, and reports how it ended.
func (j *job) step(s *agentproto.Step, index int, interactive bool) agentproto.StepResult {
	_ = j.Out.JSON(agentproto.KindStepStarted, agentproto.StepStarted{Name: s.Name, Index: index})
	var res agentproto.StepResult
	if p, err := start(s, j.Dir, j.Sandbox); err != nil {
		res = j.failedToStart(err)
	} else {
		res = j.watch(p, s, interactive)
	}
	_ = j.Out.JSON(agentproto.KindStepFinished, res)
	return res
}

// startError is why a step's program could not be started, said on its stderr.
type startError struct {
	code int
	msg  string
}

func (e *startError) Error() string { return e.msg }

func (j *job) failedToStart(err error) agentproto.StepResult {
	res := agentproto.StepResult{Outcome: agentproto.FailedToStart, ExitCode: 126}
	if se, ok := errors.AsType[*startError](err); ok {
		res.ExitCode = se.code
	}
	_ = j.Out.Chunks(agentproto.KindStderr, []byte(err.Error()))
	return res
}

// proc is a started step: its process, the agent's ends of its pipes, and the counters the step
// is measured against.
type proc struct {
	pid                   int
	stdin, stdout, stderr *os.File
	started               time.Time
	cpuBefore             time.Duration
	cpuOK                 bool // cpuBefore is the container's, read from its cgroup
	oomBefore             int64
}

func start(s *agentproto.Step, dir string, sb *Sandbox) (*proc, error) {
	if len(s.Argv) == 0 {
		return nil, &startError{code: 0, msg: "no command"}
	}
	env := append(stepEnv(), s.Env...)
	path, err := lookPath(s.Argv[0], env, dir)
	if err != nil {
		return nil, &startError{code: 127, msg: err.Error() + "\n"}
	}
	ours, theirs, err := takePipes()
	if err != nil {
		return nil, &startError{code: 126, msg: err.Error()}
	}
	// The program has its own copies of its ends once started; without a program nobody needs them.
	defer closeAll(theirs[:])
	p := &proc{stdin: ours[0], stdout: ours[1], stderr: ours[2]}
	resetPeak()
	p.oomBefore = oomKills()
	p.cpuBefore, p.cpuOK = cgroupCPU()
	p.started = time.Now()
	p.pid, err = syscall.ForkExec(path, s.Argv, &syscall.ProcAttr{
		Dir: dir,
		Env: env,
		// Fd also puts these ends in blocking mode, as a program expects its standard files.
		Files: []uintptr{theirs[0].Fd(), theirs[1].Fd(), theirs[2].Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Credential: sb.credential()},
	})
	if err != nil {
		closeAll(ours[:])
		return nil, &startError{code: 126, msg: fmt.Sprintf("cannot start %s: %v\n", s.Argv[0], err)}
	}
	// When the container runs out of memory, the kernel must pick the program, never the agent:
	// raising another process's score needs no privilege (lowering would), only write access to
	// the file, which is the program's user's. Children the program forks from now on inherit it.
	_ = sb.Do(func() error {
		return os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", p.pid), []byte("1000"), 0)
	})
	return p, nil
}

// pipeSet is a step's pipes, as pipes makes them.
type pipeSet struct{ ours, theirs [3]*os.File }

// spare holds pipes made before the job came (Rehearse), for its first step: under a sandbox
// kernel each of the system calls that make them is slow.
var spare atomic.Pointer[pipeSet]

// takePipes returns the spare pipes if there are any, else new ones.
func takePipes() (ours, theirs [3]*os.File, err error) {
	if p := spare.Swap(nil); p != nil {
		return p.ours, p.theirs, nil
	}
	return pipes()
}

// pipes makes the step's stdin, stdout and stderr pipes: the agent's ends and the program's. On
// an error none is left open.
func pipes() (ours, theirs [3]*os.File, err error) {
	for i := range 3 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(ours[:])
			closeAll(theirs[:])
			return ours, theirs, err
		}
		if i == 0 {
			ours[i], theirs[i] = w, r
		} else {
			ours[i], theirs[i] = r, w
		}
	}
	return ours, theirs, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// watch streams a started step's input and output, keeps it within its limits, and measures it.
func (j *job) watch(p *proc, s *agentproto.Step, interactive bool) agentproto.StepResult {
	j.setRunning(p.pid)
	stop := &stopper{pgid: p.pid}
	out := &output{w: j.Out, left: max(s.OutputLimit, 0), onFull: func() { stop.stop(stoppedOutput) }}
	var readers sync.WaitGroup
	readers.Go(func() { out.pump(agentproto.KindStdout, p.stdout) })
	readers.Go(func() { out.pump(agentproto.KindStderr, p.stderr) })
	var input <-chan []byte
	if interactive {
		input = j.input
	}
	stepDone, fed := make(chan struct{}), make(chan struct{})
	go func() {
		feed(p.stdin, s.Stdin, input, stepDone)
		close(fed)
	}()

	end := supervise(p, s, stop)
	j.setRunning(0)
	close(stepDone)
	p.stdin.Close() // ends a write the program left blocked on its full pipe
	<-fed
	drain(&readers, p.stdout, p.stderr)
	// The readers are done: stop.cause and out.truncated are final.
	return p.result(end, stop.cause, out.truncated)
}

// drainWait bounds how long output is still read once every process of a step is gone.
const drainWait = time.Second

// drain waits for the output readers, then closes the pipes. Every process is gone by now, but a
// write end can outlive them all (a descriptor in flight in a socket buffer): past drainWait the
// pipes are closed under the readers instead of waited for.
func drain(readers *sync.WaitGroup, pipes ...*os.File) {
	done := make(chan struct{})
	go func() {
		readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainWait):
		closeAll(pipes)
		<-done
	}
	closeAll(pipes)
}

// stopper kills a step's processes once, and remembers why.
type stopper struct {
	pgid  int
	once  sync.Once
	cause stopCause
}

type stopCause int

const (
	notStopped stopCause = iota
	stoppedCPU
	stoppedWall
	stoppedOutput
)

func (s *stopper) stop(cause stopCause) {
	s.once.Do(func() {
		s.cause = cause
		killAll(s.pgid)
	})
}

// ending is how a step's processes ended.
type ending struct {
	status syscall.WaitStatus // of the main process
	at     time.Time          // when the main process ended
	cpu    time.Duration      // of every process reaped
	maxRSS int64              // KiB, of the largest
	// reaped is cpu as the supervisor may read it while processes are still being reaped.
	reaped atomic.Int64
}

// supervise waits for the step's processes to end, stopping them at the wall or CPU limit. It
// takes no lock that output or input use: a host that reads slowly must not delay the limits.
func supervise(p *proc, s *agentproto.Step, stop *stopper) *ending {
	end := &ending{}
	exited := make(chan struct{})
	go func() {
		reap(p.pid, end)
		close(exited)
	}()
	wall := time.NewTimer(s.WallLimit)
	defer wall.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	scan := newProcScan()
	defer scan.close()
	for {
		select {
		case <-exited:
			return end
		case <-wall.C:
			stop.stop(stoppedWall)
		case <-tick.C:
			if s.CPULimit > 0 && p.cpuUsed(end, scan) > s.CPULimit {
				stop.stop(stoppedCPU)
			}
		}
	}
}

// reap waits for every process of the step until none is left: as PID 1 the agent is also the
// parent of the orphans the program leaves.
func reap(pid int, end *ending) {
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		wpid, err := syscall.Wait4(-1, &ws, 0, &ru)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD: nothing left
			return
		}
		end.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		end.reaped.Store(int64(end.cpu))
		end.maxRSS = max(end.maxRSS, ru.Maxrss)
		if wpid == pid {
			end.status, end.at = ws, time.Now()
			// Whatever the program left running in the background dies with it.
			killAll(pid)
		}
	}
}

// cpuUsed is the CPU time the step has used so far: the container's cgroup's, or without one
// (gVisor shows none inside its sandbox) the processes' own counts.
func (p *proc) cpuUsed(end *ending, scan *procScan) time.Duration {
	if p.cpuOK {
		now, _ := cgroupCPU()
		return now - p.cpuBefore
	}
	if os.Getpid() == 1 {
		// Read before the scan: a process reaped in between is missed rather than counted twice.
		reaped := time.Duration(end.reaped.Load())
		return reaped + scan.othersCPU()
	}
	return procCPU(p.pid)
}

func (p *proc) result(end *ending, cause stopCause, truncated bool) agentproto.StepResult {
	res := agentproto.StepResult{
		Outcome:     agentproto.Exited,
		Truncated:   truncated,
		Wall:        end.at.Sub(p.started),
		CPU:         end.cpu,
		MemoryBytes: end.maxRSS * 1024,
		OOMKills:    max(oomKills()-p.oomBefore, 0),
	}
	switch st := end.status; {
	case st.Exited():
		res.ExitCode = st.ExitStatus()
	case st.Signaled():
		res.ExitCode = 128 + int(st.Signal())
		res.Signal = unix.SignalName(st.Signal())
	}
	switch {
	case res.OOMKills > 0:
		res.Outcome = agentproto.OutOfMemory
	case cause == stoppedCPU:
		res.Outcome, res.TimeLimit = agentproto.TimedOut, agentproto.CPULimit
	case cause == stoppedWall:
		res.Outcome, res.TimeLimit = agentproto.TimedOut, agentproto.WallLimit
	case cause == stoppedOutput:
		res.Outcome = agentproto.OutputTooLong
	}
	return res
}

// output streams a step's stdout and stderr to the host as they are read, and drops what passes
// the limit they share.
type output struct {
	w         *agentproto.Writer
	onFull    func()
	mu        sync.Mutex
	left      int64
	truncated bool
}

func (o *output) pump(kind agentproto.Kind, r io.Reader) {
	buf := make([]byte, agentproto.MaxChunk)
	for {
		n, err := r.Read(buf)
		if keep := o.take(n); keep > 0 {
			// Written holding no lock: when the host reads slowly, only this reader waits (and
			// the program on its full pipe, as on a terminal), while the limits keep acting.
			_ = o.w.Frame(kind, buf[:keep])
		}
		if err != nil {
			return
		}
	}
}

// take counts n bytes read against the limit and says how many of them to send.
func (o *output) take(n int) int {
	o.mu.Lock()
	keep := min(int64(n), o.left)
	o.left -= keep
	full := keep < int64(n) && !o.truncated
	if full {
		o.truncated = true
	}
	o.mu.Unlock()
	if full {
		o.onFull()
	}
	return int(keep)
}

func stepEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CODEEXEC_") {
			env = append(env, kv)
		}
	}
	return env
}

// lookPath finds a step's program as a shell would, relative names in dir.
func lookPath(name string, env []string, dir string) (string, error) {
	if strings.Contains(name, "/") {
		if filepath.IsAbs(name) {
			return name, nil
		}
		return filepath.Join(dir, name), nil
	}
	pathVar := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, d := range filepath.SplitList(pathVar) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}
