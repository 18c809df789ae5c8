package agent

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The guard is installed in a child process (this test binary again): a seccomp filter stays
// for the life of the process that installs it.
const guardChildEnv = "CODEEXEC_GUARD_CHILD"

// guardChild installs the guard and reports, one line each, what the calls it checks return.
func guardChild() int {
	if err := GuardInit(); err != nil {
		println("guard:", err.Error())
		return 2
	}
	var info [128]byte
	*(*int32)(unsafe.Pointer(&info[8])) = -1 // si_code SI_QUEUE, as the attack sends it
	try := func(name string, nr uintptr, a ...uintptr) {
		_, _, errno := unix.Syscall6(nr, a[0], a[1], a[2], a[3], 0, 0)
		println(name, errno == 0, errno == unix.EPERM)
	}
	self := uintptr(os.Getpid())
	pi := uintptr(unsafe.Pointer(&info))
	*(*int32)(unsafe.Pointer(&info[0])) = 0
	// Signal 0: the kernel only checks; nothing is delivered whatever the filter does.
	try("sigqueue-pid1", unix.SYS_RT_SIGQUEUEINFO, 1, 0, pi, 0)
	try("sigqueue-pid1-high-bits", unix.SYS_RT_SIGQUEUEINFO, 1|1<<32, 0, pi, 0)
	try("tgsigqueue-pid1", unix.SYS_RT_TGSIGQUEUEINFO, 1, 1, 0, pi)
	try("sigqueue-self", unix.SYS_RT_SIGQUEUEINFO, self, 0, pi, 0)
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		println("pidfd:", err.Error())
		return 2
	}
	try("pidfd-info", unix.SYS_PIDFD_SEND_SIGNAL, uintptr(fd), 0, pi, 0)
	try("pidfd-null", unix.SYS_PIDFD_SEND_SIGNAL, uintptr(fd), 0, 0, 0)
	try("kill-self", unix.SYS_KILL, self, 0, 0, 0)
	return 0
}

func TestGuardRefusesForgedSignalsToPID1(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("the guard knows amd64 and arm64")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), guardChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// name, allowed, refused with EPERM
	want := map[string]string{
		"sigqueue-pid1":           "false true",
		"sigqueue-pid1-high-bits": "false true",
		"tgsigqueue-pid1":         "false true",
		"sigqueue-self":           "true false",
		"pidfd-info":              "false true",
		"pidfd-null":              "true false",
		"kill-self":               "true false",
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, rest, _ := strings.Cut(line, " ")
		got[name] = rest
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: allowed/EPERM %q, want %q\n%s", name, got[name], w, out)
		}
	}
}

// The native ABI's numbers in the guard are the ones the kernel headers give.
func TestGuardNativeNumbers(t *testing.T) {
	abis, err := guardABIs(runtime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	n := abis[0]
	if n.sigqueueinfo != unix.SYS_RT_SIGQUEUEINFO || n.tgsigqueueinfo != unix.SYS_RT_TGSIGQUEUEINFO || n.pidfd != unix.SYS_PIDFD_SEND_SIGNAL {
		t.Fatalf("native numbers %+v", n)
	}
}
