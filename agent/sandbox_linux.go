package agent

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/codeexec/codeexec/agentproto"
	"golang.org/x/sys/unix"
)

// Sandbox is the identity the user's programs run as, another than the agent's.
//
// The agent starts as root with only the capabilities it needs (KeptCapabilities, plus
// CAP_SETPCAP to drop the rest: see Confine), and every step is started with the sandbox's user
// and group and no supplementary groups. A process of another user can neither signal the agent,
// nor open its /proc/1/fd (its stdout, where it writes the answer), nor read its /proc/1/environ:
// the kernel's own permission checks say no, under gVisor too, which ignores the agent being
// non-dumpable.
//
// The agent's file work in the places the program writes (the submitted files, the snapshot
// between tests, emptying the scratch folders) is done as the sandbox user, on one OS thread of
// the agent that took its identity for good: the files are the program's from the start, and the
// agent needs no capability to write, change or remove them.
type Sandbox struct {
	UID, GID uint32
	work     chan func()
}

// KeptCapabilities are the capabilities the agent keeps once confined: SETUID and SETGID to start
// steps as the sandbox user, KILL to signal and kill their processes.
var KeptCapabilities = []uintptr{unix.CAP_SETUID, unix.CAP_SETGID, unix.CAP_KILL}

// Confine gives up what the agent does not need before any user code runs, and returns the
// identity of the steps, user ("uid:gid"). Without user (tests on a host) it does nothing and
// returns nil: the steps run as the agent's own user, which must not be root.
//
// In order: no supplementary groups; an empty capability bounding set, so that no step can
// regain a capability by exec; and of the agent's own capabilities only KeptCapabilities. Each
// applies to every thread of the agent (capabilities and groups are per thread in Linux).
func Confine(user string) (*Sandbox, error) {
	if user == "" {
		if os.Geteuid() == 0 {
			return nil, errRootSteps
		}
		return nil, nil
	}
	uid, gid, err := agentproto.ParseUser(user)
	if err != nil {
		return nil, err
	}
	if err := syscall.Setgroups(nil); err != nil {
		return nil, fmt.Errorf("dropping the supplementary groups: %w (the agent starts as root with CAP_SETGID)", err)
	}
	if err := dropBoundingSet(); err != nil {
		return nil, err
	}
	if err := keepOnly(KeptCapabilities); err != nil {
		return nil, err
	}
	return startSandbox(uid, gid)
}

// dropBoundingSet empties the capability bounding set of every thread; the steps inherit it.
func dropBoundingSet() error {
	for c := uintptr(0); c < 64; c++ {
		_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
		if errno == unix.EINVAL { // past the kernel's last capability
			return nil
		}
		if errno != 0 {
			return fmt.Errorf("dropping capability %d from the bounding set: %w (the agent needs CAP_SETPCAP to start)", c, errno)
		}
	}
	return nil
}

// keepOnly sets the effective and permitted capabilities of every thread to caps, and the
// inheritable ones (with the ambient ones) to none.
func keepOnly(caps []uintptr) error {
	var set uint32
	for _, c := range caps {
		set |= 1 << c
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: set, Permitted: set}}
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if errno != 0 {
		return fmt.Errorf("capset: %w", errno)
	}
	return nil
}

// startSandbox starts the thread that does the agent's file work as uid:gid.
func startSandbox(uid, gid uint32) (*Sandbox, error) {
	s := &Sandbox{UID: uid, GID: gid, work: make(chan func())}
	ready := make(chan error)
	go s.serve(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return s, nil
}

// serve runs the file work, on a thread whose effective user and group (the ones file access is
// checked with) are the sandbox's. Only this thread changes: setresuid and setresgid made as raw
// system calls act on the calling thread alone. The goroutine keeps the thread locked and never
// returns, so no other goroutine runs with this identity, and the Go runtime creates new threads
// from a clean template thread, never from a locked one.
func (s *Sandbox) serve(ready chan<- error) {
	runtime.LockOSThread()
	const keep = ^uintptr(0) // -1: leave this id as it is
	// The group first: changing it needs CAP_SETGID, which the effective user's change clears.
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESGID, keep, uintptr(s.GID), keep); errno != 0 {
		ready <- fmt.Errorf("setresgid: %w", errno)
		return // the thread ends with its goroutine, locked
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(s.UID), keep); errno != 0 {
		ready <- fmt.Errorf("setresuid: %w", errno)
		return
	}
	close(ready)
	for f := range s.work {
		f()
	}
}

// Do runs f as the sandbox user, or as the agent's own user when s is nil.
func (s *Sandbox) Do(f func() error) error {
	if s == nil {
		return f()
	}
	done := make(chan error, 1)
	s.work <- func() { done <- f() }
	return <-done
}

// credential is what a step is started with: the sandbox's user and group and no supplementary
// groups; nil (the agent's own) without a sandbox.
func (s *Sandbox) credential() *syscall.Credential {
	if s == nil {
		return nil
	}
	return &syscall.Credential{Uid: s.UID, Gid: s.GID, Groups: []uint32{}}
}

// SysProcAttr starts a command of the agent's own (the language's warm-up) as the sandbox user.
func (s *Sandbox) SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: s.credential()}
}

// errRootSteps: without a sandbox user the steps would run as the agent's user, root.
var errRootSteps = errors.New("the agent runs as root and has no sandbox user (" + agentproto.EnvUser + ") to run the steps as")
