package agent

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/agentproto"
	"golang.org/x/sys/unix"
)

// TestSandboxUser: the steps run as the sandbox user, without supplementary groups or
// capabilities, and cannot signal the agent's user; the files the agent writes, saves and puts
// back between runs are the sandbox user's, also those the program made unreadable to others
// and folders it left without write permission.
func TestSandboxUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent changes user only as root (in its container it is); run the tests as root to cover it")
	}
	const nobody = 65534
	sb, err := startSandbox(nobody, nobody)
	if err != nil {
		t.Fatal(err)
	}
	compile := run(sh("echo secret > hidden; chmod 600 hidden; mkdir locked; chmod 500 locked")...)
	compile.Name = "compile"
	check := `id -u; id -g; id -G; stat -c '%u %g %a' f hidden .; cat hidden; grep -E '^Cap(Eff|Prm):' /proc/self/status
kill -0 $PPID 2>/dev/null && echo signalled || echo refused; touch new; ls; chmod 0 locked`
	job := &agentproto.Job{
		Files:   []agentproto.File{{Path: "f", Content: []byte("x")}},
		Compile: &compile,
		Runs:    []agentproto.Step{run(sh(check)...), run(sh(check)...)},
	}
	steps, done := parse(t, startJobAs(t, job, sb).rest())
	if done.Error != "" || len(steps) != 3 {
		t.Fatalf("steps %d, done %+v", len(steps), done)
	}
	want := `65534
65534
65534
65534 65534 644
65534 65534 600
65534 65534 755
secret
CapPrm:	0000000000000000
CapEff:	0000000000000000
refused
f
hidden
locked
new
`
	for i, s := range steps[1:] {
		if s.stdout != want || s.stderr != "" {
			t.Errorf("run %d: stdout %q, stderr %q; want %q", i, s.stdout, s.stderr, want)
		}
	}
	// The agent's own thread kept its user: the sandbox changed one thread of its own only.
	if uid := os.Geteuid(); uid != 0 {
		t.Errorf("the agent's effective uid is %d after the job", uid)
	}
	if r, e, s := unix.Getresuid(); r != 0 || e != 0 || s != 0 {
		t.Errorf("the agent's uids %d %d %d", r, e, s)
	}
}

func TestParseUser(t *testing.T) {
	for in, ok := range map[string]bool{"10001:10001": true, "1:2": true, "0:10001": false, "10001:0": false,
		"10001": false, "nobody:nogroup": false, "-1:5": false, "10001:10001:1": false, "": false} {
		if _, _, err := agentproto.ParseUser(in); (err == nil) != ok {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// TestConfineRefusesRootSteps: without a sandbox user, an agent running as root does not start.
func TestConfineRefusesRootSteps(t *testing.T) {
	sb, err := Confine("")
	if os.Geteuid() == 0 {
		if err == nil || !strings.Contains(err.Error(), agentproto.EnvUser) {
			t.Errorf("as root without a sandbox user: %v", err)
		}
		return
	}
	if sb != nil || err != nil {
		t.Errorf("as a user without a sandbox user: %v, %v", sb, err)
	}
}

// TestEnvironmentRestored: the environment the agent's second start reads back from the memfd.
func TestEnvironmentRestored(t *testing.T) {
	fd, err := unix.MemfdCreate("test-environ", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fd, []byte("CODEEXEC_TEST_A=1=2\x00CODEEXEC_TEST_B=\x00CODEEXEC_TEST_C=x y")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, k := range []string{"CODEEXEC_TEST_A", "CODEEXEC_TEST_B", "CODEEXEC_TEST_C"} {
			os.Unsetenv(k)
		}
	})
	if err := restoreEnviron(strconv.Itoa(fd)); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"CODEEXEC_TEST_A": "1=2", "CODEEXEC_TEST_B": "", "CODEEXEC_TEST_C": "x y"} {
		if got, ok := os.LookupEnv(k); !ok || got != want {
			t.Errorf("%s = %q (%v), want %q", k, got, ok, want)
		}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
		t.Error("the memfd is still open")
	}
}
