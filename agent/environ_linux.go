package agent

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// environFlag is the agent's one argument when it started itself again (HideEnviron): the
// descriptor its environment waits in.
const environFlag = "-environ-fd="

// HideEnviron empties the environment the agent was started with, as /proc/1/environ shows it,
// keeping it in the process. gVisor shows every process's environ to every user (its procfs has
// no access check there), and the agent's holds its own settings (agentproto.EnvUser,
// EnvPrepare).
//
// As PID 1 with a non-empty environment, it writes the environment into a memfd and starts the
// agent again, in the same process, with an empty one and the memfd's number as its argument;
// started that way, it reads the environment back (into the Go process's own copy, which no
// procfs file shows) and closes the memfd. The program cannot open the memfd: its descriptor is
// the agent's, another user's. It returns nil having done nothing when the agent is not PID 1.
func HideEnviron() error {
	if len(os.Args) == 2 && strings.HasPrefix(os.Args[1], environFlag) {
		return restoreEnviron(os.Args[1][len(environFlag):])
	}
	env := os.Environ()
	if os.Getpid() != 1 || len(env) == 0 {
		return nil
	}
	fd, err := unix.MemfdCreate("codeexec-environ", 0) // no CLOEXEC: the next start reads it
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "codeexec-environ")
	if _, err := f.WriteString(strings.Join(env, "\x00")); err != nil {
		f.Close()
		return fmt.Errorf("saving the environment: %w", err)
	}
	err = syscall.Exec(os.Args[0], []string{os.Args[0], environFlag + strconv.Itoa(fd)}, []string{})
	f.Close()
	return fmt.Errorf("starting the agent again: %w", err)
}

func restoreEnviron(fdText string) error {
	fd, err := strconv.Atoi(fdText)
	if err != nil {
		return fmt.Errorf("environment descriptor %q", fdText)
	}
	f := os.NewFile(uintptr(fd), "codeexec-environ")
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		return fmt.Errorf("reading the environment back: %w", err)
	}
	for kv := range strings.SplitSeq(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if err := os.Setenv(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}
