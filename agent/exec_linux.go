package agent

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// HideFromPeers makes this process non-dumpable: processes of the same user (the user's code) can
// then neither ptrace it nor read its /proc/<pid>/fd or memory, so they cannot forge its answer.
// As PID 1 of the container's PID namespace, it also cannot be killed from inside.
func HideFromPeers() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

// Do runs a job and returns its result. It never returns an error for the user's program;
// problems of the program are in the step results.
func Do(job *Job) *Result {
	res := &Result{}
	if err := writeFiles(job.Files); err != nil {
		res.Error = err.Error()
		return res
	}
	if job.Compile != nil {
		r := RunStep(job.Compile)
		res.Compile = &r
		if r.Outcome != Exited || r.ExitCode != 0 {
			return res
		}
	}
	var snap *snapshot
	if len(job.Runs) > 1 {
		var err error
		if snap, err = takeSnapshot(Dir); err != nil {
			res.Error = fmt.Sprintf("saving the compiled files: %v", err)
			return res
		}
		defer snap.close()
	}
	var kept []*spilled
	defer func() {
		for i, sp := range kept {
			sp.restore(&res.Runs[i])
		}
	}()
	for i := range job.Runs {
		if i > 0 {
			if err := snap.restore(Dir); err != nil {
				res.Error = fmt.Sprintf("resetting the working files: %v", err)
				return res
			}
		}
		r := RunStep(&job.Runs[i])
		stop := job.StopOnFailure && (r.Outcome != Exited || r.ExitCode != 0)
		res.Runs = append(res.Runs, r)
		if len(job.Runs) > 1 {
			kept = append(kept, spill(&res.Runs[i]))
		}
		if stop {
			break
		}
	}
	return res
}

// spilled is a run's output kept outside the agent's heap until the answer is written.
type spilled struct {
	f           *os.File
	nOut, nErrs int
}

// spill moves a run's stdout and stderr into an anonymous in-memory file (memfd). The agent's
// resident size is the floor of every later run's measured peak (see resetPeak), so with the
// output of 100 tests held in its heap, the 100th test would report up to 100 MB it never used.
// A memfd is reachable only through the agent's descriptor, which the non-dumpable agent does
// not share, so later programs can neither read nor alter earlier results.
func spill(r *StepResult) *spilled {
	fd, err := unix.MemfdCreate("codeexec-output", unix.MFD_CLOEXEC)
	if err != nil {
		return nil // keep the output in memory: measurements get coarser, answers stay right
	}
	f := os.NewFile(uintptr(fd), "codeexec-output")
	if _, err := f.Write(append(r.Stdout[:len(r.Stdout):len(r.Stdout)], r.Stderr...)); err != nil {
		f.Close()
		return nil
	}
	sp := &spilled{f: f, nOut: len(r.Stdout), nErrs: len(r.Stderr)}
	r.Stdout, r.Stderr = nil, nil
	return sp
}

func (sp *spilled) restore(r *StepResult) {
	if sp == nil {
		return
	}
	defer sp.f.Close()
	buf := make([]byte, sp.nOut+sp.nErrs)
	if _, err := sp.f.ReadAt(buf, 0); err != nil {
		r.Stderr = []byte("codeexec: the output of this run was lost: " + err.Error())
		return
	}
	r.Stdout, r.Stderr = buf[:sp.nOut:sp.nOut], buf[sp.nOut:]
}

// SafeJoin resolves a submitted relative path inside dir, refusing anything that could leave it.
func SafeJoin(dir, p string) (string, error) {
	if p == "" || filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("invalid file name %q", p)
	}
	clean := filepath.Clean(p)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("invalid file name %q", p)
	}
	return filepath.Join(dir, clean), nil
}

func writeFiles(files []File) error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		dst, err := SafeJoin(Dir, f.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		// O_EXCL|O_NOFOLLOW: a duplicate name or a planted link is an error, never a write elsewhere.
		fh, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		_, err = fh.Write(f.Content)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	return nil
}

// capture collects stdout and stderr up to a shared byte cap.
type capture struct {
	mu        sync.Mutex
	left      int64
	truncated bool
	onFull    func()
}

func (c *capture) drain(r io.Reader, buf *bytes.Buffer, done *sync.WaitGroup) {
	defer done.Done()
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			c.mu.Lock()
			keep := int64(n)
			if keep > c.left {
				keep = c.left
			}
			buf.Write(chunk[:keep])
			c.left -= keep
			full := keep < int64(n) && !c.truncated
			if full {
				c.truncated = true
			}
			c.mu.Unlock()
			if full {
				c.onFull()
			}
		}
		if err != nil {
			return
		}
	}
}

// RunStep runs one process with its limits and measures it.
func RunStep(s *Step) StepResult {
	res := StepResult{Outcome: Exited}
	if len(s.Argv) == 0 {
		res.Outcome = FailedToStart
		res.Stderr = []byte("no command")
		return res
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return failed(res, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return failed(res, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return failed(res, err)
	}
	env := append(stepEnv(), s.Env...)
	path, err := lookPath(s.Argv[0], env)
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		res.Outcome = FailedToStart
		res.ExitCode = 127
		res.Stderr = []byte(err.Error() + "\n")
		return res
	}
	resetPeak()
	oomBefore := oomKills()
	cpuBefore, cpuOK := cgroupCPU()
	start := time.Now()
	pid, err := syscall.ForkExec(path, s.Argv, &syscall.ProcAttr{
		Dir:   Dir,
		Env:   env,
		Files: []uintptr{stdinR.Fd(), outW.Fd(), errW.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err == nil {
		// When the container runs out of memory, the kernel must pick the program, never the
		// agent: raising another process's score needs no privilege (lowering would). Children the
		// program forks from now on inherit it.
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte("1000"), 0)
	}
	stdinR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		stdinW.Close()
		outR.Close()
		errR.Close()
		res.Outcome = FailedToStart
		res.ExitCode = 126
		res.Stderr = []byte(fmt.Sprintf("cannot start %s: %v\n", s.Argv[0], err))
		return res
	}

	var (
		killOnce  sync.Once
		stopCause string // "cpu", "wall" or "output"
		causeMu   sync.Mutex
	)
	stop := func(cause string) {
		killOnce.Do(func() {
			causeMu.Lock()
			stopCause = cause
			causeMu.Unlock()
			killAll(pid)
		})
	}
	var stdout, stderr bytes.Buffer
	capt := &capture{left: s.OutputLimit, onFull: func() { stop("output") }}
	var readers sync.WaitGroup
	readers.Add(2)
	go capt.drain(outR, &stdout, &readers)
	go capt.drain(errR, &stderr, &readers)
	go func() {
		// EPIPE when the program does not read its input is fine.
		_, _ = stdinW.Write(s.Stdin)
		stdinW.Close()
	}()

	exited := make(chan struct{})
	var (
		status   syscall.WaitStatus
		cpu      time.Duration
		maxRSSKB int64
	)
	go func() {
		// As PID 1 we reap every process of the step: the main one and any orphans.
		for {
			var ws syscall.WaitStatus
			var ru syscall.Rusage
			wpid, err := syscall.Wait4(-1, &ws, 0, &ru)
			if err == syscall.EINTR {
				continue
			}
			if err != nil { // ECHILD: nothing left
				break
			}
			cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			if ru.Maxrss > maxRSSKB {
				maxRSSKB = ru.Maxrss
			}
			if wpid == pid {
				status = ws
				// Whatever the program left running in the background dies with it.
				killAll(pid)
			}
		}
		close(exited)
	}()

	wall := time.NewTimer(time.Duration(s.WallLimitMs) * time.Millisecond)
	defer wall.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-exited:
			break wait
		case <-wall.C:
			stop("wall")
		case <-tick.C:
			if s.CPULimitMs > 0 {
				used := time.Duration(0)
				if cpuOK {
					now, _ := cgroupCPU()
					used = now - cpuBefore
				} else {
					used = procCPU(pid)
				}
				if used > time.Duration(s.CPULimitMs)*time.Millisecond {
					stop("cpu")
				}
			}
		}
	}
	readers.Wait()
	outR.Close()
	errR.Close()
	res.WallMs = float64(time.Since(start).Microseconds()) / 1000
	res.CPUMs = float64(cpu.Microseconds()) / 1000
	res.MemoryBytes = maxRSSKB * 1024
	res.Stdout = stdout.Bytes()
	res.Stderr = stderr.Bytes()
	res.Truncated = capt.truncated
	switch {
	case status.Exited():
		res.ExitCode = status.ExitStatus()
	case status.Signaled():
		res.ExitCode = 128 + int(status.Signal())
		res.Signal = unix.SignalName(status.Signal())
	}
	causeMu.Lock()
	cause := stopCause
	causeMu.Unlock()
	switch {
	case oomKills() > oomBefore:
		res.Outcome = OutOfMemory
	case cause == "cpu" || cause == "wall":
		res.Outcome = TimedOut
		res.TimeLimit = cause
	case cause == "output":
		res.Outcome = OutputTooLong
	}
	return res
}

// resetPeak lowers the agent's own peak resident size to what it holds now. Programs are
// started with vfork semantics (the child shares the agent's memory until it execs), and at the
// exec the kernel records the agent's peak as the child's: a test run after the agent held large
// inputs or outputs would otherwise report the agent's memory instead of its own. What remains
// is the agent's current resident size (a few MB), the floor of what a step can report.
// Writing clear_refs needs the process to be dumpable; no user process runs at this point (the
// previous step's were all killed and reaped), so the moment it is dumpable is not observable.
func resetPeak() {
	// Garbage of earlier steps (captured output, the decoded job) is resident until the runtime
	// returns it; returning it costs ~1.5 ms, so it is done only when there is over 1 MiB of it.
	if heapGarbage() > 1<<20 {
		debug.FreeOSMemory()
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return
	}
	if f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0); err == nil {
		_, _ = f.WriteString("5") // 5: reset the peak RSS to the current RSS
		_ = f.Close()
	}
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
	{Name: "/gc/heap/live:bytes"},
}

// heapGarbage estimates the heap memory that is resident but not live (as of the last GC).
func heapGarbage() int64 {
	metrics.Read(heapSamples)
	var resident int64
	for _, s := range heapSamples[:3] {
		if s.Value.Kind() == metrics.KindUint64 {
			resident += int64(s.Value.Uint64())
		}
	}
	if heapSamples[3].Value.Kind() != metrics.KindUint64 {
		return resident
	}
	return resident - int64(heapSamples[3].Value.Uint64())
}

func failed(res StepResult, err error) StepResult {
	res.Outcome = FailedToStart
	res.ExitCode = 126
	res.Stderr = []byte(err.Error())
	return res
}

// killAll sends SIGKILL to every process this agent may signal, which inside the container is
// every process but the agent itself (kill(-1) spares the caller, and PID 1 is the agent); this
// also reaches processes that left the step's process group with setsid.
// Outside a container (tests on a host) only the step's process group is killed: kill(-1) there
// would hit every process of the user.
func killAll(pgid int) {
	if os.Getpid() == 1 {
		_ = syscall.Kill(-1, syscall.SIGKILL)
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
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

func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if filepath.IsAbs(name) {
			return name, nil
		}
		return filepath.Join(Dir, name), nil
	}
	pathVar := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			pathVar = kv[5:]
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

// cgroup files as the container sees them: its own cgroup is mounted at /sys/fs/cgroup.
var (
	cpuFilesV1 = []string{"/sys/fs/cgroup/cpuacct/cpuacct.usage", "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage"}
	oomFilesV1 = "/sys/fs/cgroup/memory/memory.oom_control"
	cpuStatV2  = "/sys/fs/cgroup/cpu.stat"
	memEventV2 = "/sys/fs/cgroup/memory.events"
)

// cgroupCPU returns the CPU time the whole container has used.
func cgroupCPU() (time.Duration, bool) {
	for _, f := range cpuFilesV1 {
		if b, err := os.ReadFile(f); err == nil {
			var ns int64
			if _, err := fmt.Sscan(string(b), &ns); err == nil {
				return time.Duration(ns), true
			}
		}
	}
	if v, ok := keyedValue(cpuStatV2, "usage_usec"); ok {
		return time.Duration(v) * time.Microsecond, true
	}
	return 0, false
}

// oomKills counts the OOM kills in the container's memory cgroup so far.
func oomKills() int64 {
	if v, ok := keyedValue(oomFilesV1, "oom_kill"); ok {
		return v
	}
	v, _ := keyedValue(memEventV2, "oom_kill")
	return v
}

func keyedValue(file, key string) (int64, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			var v int64
			if _, err := fmt.Sscan(f[1], &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// procCPU is the fallback when no cgroup is readable: the main process's own CPU time.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
