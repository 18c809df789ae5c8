package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// resetPeak lowers the agent's own peak resident size to what it holds now. Programs are
// started with vfork semantics (the child shares the agent's memory until it execs), and at the
// exec the kernel records the agent's peak as the child's: a test run after the agent held large
// inputs would otherwise report the agent's memory instead of its own. What remains is the
// agent's current resident size, the floor of what a step can report.
// Writing clear_refs needs the process to be dumpable; no user process runs at this point (the
// previous step's were all killed and reaped), so the moment it is dumpable is not observable.
func resetPeak() {
	// Returning garbage of earlier steps (the decoded job, output chunks) to the kernel costs
	// time, so it is done only when there is enough of it to matter.
	if heapGarbage() > 1<<20 {
		debug.FreeOSMemory()
	}
	if isAbsent(clearRefs) {
		return
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return
	}
	if f, err := openKernelFile(clearRefs, os.O_WRONLY); err == nil {
		_, _ = f.WriteString("5") // 5: reset the peak RSS to the current RSS
		_ = f.Close()
	}
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

const clearRefs = "/proc/self/clear_refs"

// absent holds the kernel files (cgroup files, clear_refs) found missing. They do not come and
// go while the agent runs, and a sandbox kernel that has none of them (gVisor) serves each look
// for one slowly: each is looked for once.
var absent sync.Map

func isAbsent(name string) bool {
	_, ok := absent.Load(name)
	return ok
}

// openKernelFile opens one of the kernel's files, and remembers one that is not there (or that
// the kernel does not offer: gVisor answers EINVAL for some of Linux's).
func openKernelFile(name string, flag int) (*os.File, error) {
	if isAbsent(name) {
		return nil, fs.ErrNotExist
	}
	f, err := os.OpenFile(name, flag, 0)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTDIR) {
		absent.Store(name, true)
	}
	return f, err
}

// readKernelFile reads one of the kernel's files (see openKernelFile).
func readKernelFile(name string) ([]byte, error) {
	f, err := openKernelFile(name, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
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
		if b, err := readKernelFile(f); err == nil {
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

// keyedValue reads the value of key from a cgroup file of "key value" lines.
func keyedValue(file, key string) (int64, bool) {
	b, err := readKernelFile(file)
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
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

// procScan adds up the CPU time of every process in the container but the agent (PID 1), with
// that of the children each has waited for: the fallback when no cgroup is readable and the
// agent is PID 1. Processes the agent reaped are not in it. It keeps /proc and each process's
// stat file open from one scan to the next and rereads them (a read at offset 0 regenerates a
// /proc file): a sandbox kernel (gVisor) serves opening a /proc file far more slowly than
// reading one, and a scan runs every few milliseconds while a step runs.
type procScan struct {
	dir   int         // /proc; -1 before the first scan or when it cannot be opened
	stats map[int]int // pid -> open /proc/<pid>/stat
	seen  map[int]bool
	names []string
	buf   []byte
}

func newProcScan() *procScan {
	return &procScan{dir: -1, stats: map[int]int{}, seen: map[int]bool{}, buf: make([]byte, 8192)}
}

// othersCPU is the CPU time of every process in /proc but PID 1.
func (s *procScan) othersCPU() time.Duration {
	if s.dir < 0 {
		fd, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0
		}
		s.dir = fd
	}
	if _, err := unix.Seek(s.dir, 0, io.SeekStart); err != nil {
		return 0
	}
	s.names = s.names[:0]
	for {
		n, err := unix.Getdents(s.dir, s.buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		_, _, s.names = syscall.ParseDirent(s.buf[:n], -1, s.names)
	}
	clear(s.seen)
	var sum time.Duration
	for _, name := range s.names {
		if pid, err := strconv.Atoi(name); err == nil && pid != 1 {
			s.seen[pid] = true
			sum += s.cpu(pid)
		}
	}
	for pid, fd := range s.stats {
		if !s.seen[pid] { // ended: its time is its parent's now, or the agent's reaped time
			unix.Close(fd)
			delete(s.stats, pid)
		}
	}
	return sum
}

// cpu reads a process's CPU time (see procCPU) from its open stat file, opening it the first time.
func (s *procScan) cpu(pid int) time.Duration {
	fd, ok := s.stats[pid]
	if !ok {
		var err error
		fd, err = unix.Openat(s.dir, strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0
		}
		s.stats[pid] = fd
	}
	n, err := unix.Pread(fd, s.buf, 0)
	for err == syscall.EINTR {
		n, err = unix.Pread(fd, s.buf, 0)
	}
	if err != nil || n <= 0 { // it ended since the listing
		unix.Close(fd)
		delete(s.stats, pid)
		return 0
	}
	return statCPU(s.buf[:n])
}

// close closes what the scans keep open.
func (s *procScan) close() {
	for pid, fd := range s.stats {
		unix.Close(fd)
		delete(s.stats, pid)
	}
	if s.dir >= 0 {
		unix.Close(s.dir)
		s.dir = -1
	}
}

// procCPU is a process's CPU time with that of the children it has waited for.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return statCPU(b)
}

// statCPU is the CPU time in a /proc/<pid>/stat line: utime, stime, cutime and cstime.
func statCPU(b []byte) time.Duration {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:15] { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
