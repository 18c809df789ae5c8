package agent

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// GuardInit installs a seccomp filter on the agent, which every step inherits (across fork and
// exec, for good), refusing with EPERM:
//   - rt_sigqueueinfo and rt_tgsigqueueinfo aimed at PID 1 (the agent);
//   - pidfd_send_signal with a siginfo of the caller's making (a pidfd of /proc/1 cannot be told
//     from another one; with a null siginfo it is kill's equivalent and stays allowed).
//
// Why: the agent discards every signal it can catch, but only those the Go runtime sees as sent
// by a process (si_code SI_USER or SI_TKILL). A queued signal carries a code of the sender's
// choosing, and the runtime takes a SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGTRAP with any other
// code for a fault of its own and crashes: the program would end the agent and its job with it.
// Plain kill, tgkill and the rest stay open to the program, for its own processes.
func GuardInit() error {
	prog, err := guardProgram(runtime.GOARCH)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Needed to install a filter without CAP_SYS_ADMIN (the container sets it already); TSYNC
	// gives the filter, and this, to every thread of the agent.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return nil
}

// guardSyscalls are one ABI's numbers of the calls the guard checks.
type guardSyscalls struct {
	arch                                uint32
	sigqueueinfo, tgsigqueueinfo, pidfd uint32
}

// x32Bit marks the x32 ABI's calls, which share x86-64's audit arch.
const x32Bit = 0x40000000

// guardABIs lists every ABI a program of the architecture can call the kernel with (Docker's
// default seccomp profile allows 32-bit calls beside the native ones).
func guardABIs(goarch string) ([]guardSyscalls, error) {
	switch goarch {
	case "amd64":
		return []guardSyscalls{
			{unix.AUDIT_ARCH_X86_64, 129, 297, 424},
			{unix.AUDIT_ARCH_X86_64, x32Bit | 524, x32Bit | 536, x32Bit | 424},
			{unix.AUDIT_ARCH_I386, 178, 335, 424},
		}, nil
	case "arm64":
		return []guardSyscalls{
			{unix.AUDIT_ARCH_AARCH64, 138, 240, 424},
			{unix.AUDIT_ARCH_ARM, 178, 363, 424},
		}, nil
	}
	return nil, errors.New("no signal guard for " + goarch)
}

// Offsets in struct seccomp_data (little-endian): nr, arch, then each argument as 64 bits.
const (
	dataNr      = 0
	dataArch    = 4
	dataArg0Low = 16
	dataArg2Low = 32
	dataArg2Hi  = 36
)

// guardProgram assembles the filter (classic BPF) for the architecture.
func guardProgram(goarch string) ([]unix.SockFilter, error) {
	abis, err := guardABIs(goarch)
	if err != nil {
		return nil, err
	}
	var a bpfAsm
	// Per ABI: right arch, then one of its calls: check that call's arguments.
	for i, abi := range abis {
		next := fmt.Sprintf("abi%d", i+1)
		a.load(dataArch)
		a.jeq(abi.arch, "", next)
		a.load(dataNr)
		a.jeq(abi.sigqueueinfo, "pid1", "")
		a.jeq(abi.tgsigqueueinfo, "pid1", "")
		a.jeq(abi.pidfd, "info", next)
		a.label(next)
	}
	a.ret(unix.SECCOMP_RET_ALLOW)
	// The kernel reads the target as a 32-bit pid: only the low half counts.
	a.label("pid1")
	a.load(dataArg0Low)
	a.jeq(1, "deny", "allow")
	a.label("info")
	a.load(dataArg2Low)
	a.jeq(0, "", "deny")
	a.load(dataArg2Hi)
	a.jeq(0, "allow", "deny")
	a.label("allow")
	a.ret(unix.SECCOMP_RET_ALLOW)
	a.label("deny")
	a.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	return a.assemble()
}

// bpfAsm assembles classic BPF with forward jumps to labels ("" is the next instruction).
type bpfAsm struct {
	ins    []unix.SockFilter
	jumps  map[int][2]string
	labels map[string]int
}

const (
	bpfLdWAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfRetK   = unix.BPF_RET | unix.BPF_K
)

func (a *bpfAsm) load(off uint32) {
	a.ins = append(a.ins, unix.SockFilter{Code: bpfLdWAbs, K: off})
}

func (a *bpfAsm) jeq(k uint32, yes, no string) {
	if a.jumps == nil {
		a.jumps = map[int][2]string{}
	}
	a.jumps[len(a.ins)] = [2]string{yes, no}
	a.ins = append(a.ins, unix.SockFilter{Code: bpfJeqK, K: k})
}

func (a *bpfAsm) ret(k uint32) {
	a.ins = append(a.ins, unix.SockFilter{Code: bpfRetK, K: k})
}

func (a *bpfAsm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.ins)
}

func (a *bpfAsm) assemble() ([]unix.SockFilter, error) {
	for at, targets := range a.jumps {
		for j, name := range targets {
			if name == "" {
				continue
			}
			to, ok := a.labels[name]
			off := to - at - 1
			if !ok || off < 0 || off > 255 {
				return nil, fmt.Errorf("bpf: bad jump to %q from %d", name, at)
			}
			if j == 0 {
				a.ins[at].Jt = uint8(off)
			} else {
				a.ins[at].Jf = uint8(off)
			}
		}
	}
	return a.ins, nil
}
