package agent

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
)

// A scan keeps each process's stat file open and rereads it: what it reads is the process's
// current time, the same as a fresh read of the file, also on the second read.
func TestProcScanRereadsOpenStatFiles(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	scan := newProcScan()
	defer scan.close()
	// stopped runs the child until its time has grown past since, then stops it.
	stopped := func(since time.Duration) time.Duration {
		t.Helper()
		_ = syscall.Kill(pid, syscall.SIGCONT)
		deadline := time.Now().Add(generous)
		for procCPU(pid) <= since {
			if time.Now().After(deadline) {
				t.Fatalf("the child's CPU time stays at %v", since)
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGSTOP)
		for !strings.Contains(procState(pid), "T") {
			time.Sleep(time.Millisecond)
		}
		return procCPU(pid)
	}
	first := stopped(0)
	if scan.othersCPU() <= 0 {
		t.Fatal("a scan of /proc found no CPU time")
	}
	if _, open := scan.stats[pid]; !open {
		t.Fatalf("the scan keeps no stat file of the child %d open", pid)
	}
	if got := scan.cpu(pid); got != first {
		t.Errorf("scan reads %v, the stat file says %v", got, first)
	}
	second := stopped(first)
	if got := scan.cpu(pid); got != second {
		t.Errorf("second read: scan reads %v, the stat file says %v (first %v)", got, second, first)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	scan.othersCPU()
	if _, open := scan.stats[pid]; open {
		t.Error("the stat file of an ended process stays open")
	}
}

func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return f[0]
}

// After a rehearsal, a job runs as ever: its first step gets the pipes made at warm-up.
func TestRehearsalPipesServeTheFirstStep(t *testing.T) {
	Rehearse([]string{"sh", "cat", "no-such-program-here"})
	if spare.Load() == nil {
		t.Fatal("the rehearsal made no pipes for the first step")
	}
	step := run("cat")
	step.Stdin = []byte("typed\n")
	s := oneStep(t, step)
	if s.stdout != "typed\n" || s.res.Outcome != agentproto.Exited || s.res.ExitCode != 0 {
		t.Errorf("stdout %q, result %+v", s.stdout, s.res)
	}
	if spare.Load() != nil {
		t.Error("the first step did not take the spare pipes")
	}
	if s := oneStep(t, run(sh("echo again")...)); s.stdout != "again\n" {
		t.Errorf("second step: stdout %q", s.stdout)
	}
}
