package agent

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
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

// keyedValue reads the value of key from a cgroup file of "key value" lines.
func keyedValue(file, key string) (int64, bool) {
	b, err := os.ReadFile(file)
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

// othersCPU is the CPU time of every process in the container but the agent (PID 1), with that
// of the children each has waited for: the fallback when no cgroup is readable and the agent is
// PID 1. Processes the agent reaped are not in it.
func othersCPU() time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid != 1 {
			sum += procCPU(pid)
		}
	}
	return sum
}

// procCPU is a process's CPU time with that of the children it has waited for.
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
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:15] { // utime, stime, cutime, cstime
		var n int64
		fmt.Sscan(v, &n)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
