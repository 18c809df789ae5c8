package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
)

func TestExitMeasured(t *testing.T) {
	s := oneStep(t, run(sh("echo out; echo err >&2; exit 7")...))
	if s.stdout != "out\n" || s.stderr != "err\n" {
		t.Errorf("stdout %q, stderr %q", s.stdout, s.stderr)
	}
	r := s.res
	if r.Outcome != agentproto.Exited || r.ExitCode != 7 || r.Signal != "" || r.Truncated || r.TimeLimit != "" {
		t.Errorf("result %+v", r)
	}
	if r.Wall <= 0 || r.MemoryBytes <= 0 {
		t.Errorf("not measured: %+v", r)
	}
}

func TestStdinIsTheStepsThenEnds(t *testing.T) {
	step := run("cat")
	step.Stdin = []byte("given\n")
	if s := oneStep(t, step); s.stdout != "given\n" || s.res.ExitCode != 0 {
		t.Errorf("stdout %q, result %+v", s.stdout, s.res)
	}
}

func TestOutputLimit(t *testing.T) {
	step := run("yes")
	step.OutputLimit = 1000
	s := oneStep(t, step)
	if len(s.stdout) != 1000 || !s.res.Truncated || s.res.Outcome != agentproto.OutputTooLong {
		t.Errorf("%d bytes, result %+v", len(s.stdout), s.res)
	}
}

// stdout and stderr share the limit.
func TestOutputLimitShared(t *testing.T) {
	step := run(sh("yes out & yes err >&2")...)
	step.OutputLimit = 5000
	s := oneStep(t, step)
	if len(s.stdout)+len(s.stderr) != 5000 || !s.res.Truncated || s.res.Outcome != agentproto.OutputTooLong {
		t.Errorf("%d+%d bytes, result %+v", len(s.stdout), len(s.stderr), s.res)
	}
}

// Output is sent as it is produced: "a" arrives on its own while the program runs, since the
// program writes "b" only once the test has seen "a".
func TestStreaming(t *testing.T) {
	sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{run(sh("echo a; until [ -e go ]; do sleep 0.01; done; echo b")...)}})
	evs := sess.until(func(ev agentproto.Event) bool { return ev.Kind == agentproto.KindStdout })
	if got := string(evs[len(evs)-1].Data); got != "a\n" {
		t.Fatalf("first output %q, want a alone", got)
	}
	must(t, os.WriteFile(filepath.Join(sess.ex.Dir, "go"), nil, 0o644))
	steps, _ := parse(t, append(evs, sess.rest()...))
	if steps[0].stdout != "a\nb\n" || steps[0].chunks != 2 || steps[0].res.ExitCode != 0 {
		t.Errorf("stdout %q in %d chunks, result %+v", steps[0].stdout, steps[0].chunks, steps[0].res)
	}
}

// The program cannot end before the test answers what it printed: its output must have left
// while it ran.
func TestStreamingWhileRunning(t *testing.T) {
	sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{run(sh("echo ready; read x; echo got $x")...)}, Interactive: true})
	evs := sess.until(isOutput("ready\n"))
	sess.send(agentproto.KindStdin, "go\n")
	steps, _ := parse(t, append(evs, sess.rest()...))
	if steps[0].stdout != "ready\ngot go\n" || steps[0].res.ExitCode != 0 {
		t.Errorf("stdout %q, result %+v", steps[0].stdout, steps[0].res)
	}
}

func TestFlood(t *testing.T) {
	step := run("head", "-c", "10485760", "/dev/zero")
	step.OutputLimit = 1 << 20
	s := oneStep(t, step) // parse checks every chunk is within MaxChunk
	if len(s.stdout) != 1<<20 || !s.res.Truncated || s.res.Outcome != agentproto.OutputTooLong {
		t.Errorf("%d bytes, result %+v", len(s.stdout), s.res)
	}
}

// A host that stops reading holds up only the output: the wall limit still ends the program.
func TestSlowHostDoesNotHoldTheLimits(t *testing.T) {
	step := run(sh("echo $$ > pid; exec yes")...)
	step.WallLimit = 200 * time.Millisecond
	step.OutputLimit = 1 << 30
	sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{step}})
	evs := sess.until(func(ev agentproto.Event) bool { return ev.Kind == agentproto.KindStdout })
	// No more reading until the program is gone.
	b, err := os.ReadFile(filepath.Join(sess.ex.Dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(generous); !gone(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the program still runs while the host does not read")
		}
	}
	steps, _ := parse(t, append(evs, sess.rest()...))
	if r := steps[0].res; r.Outcome != agentproto.TimedOut || r.TimeLimit != agentproto.WallLimit {
		t.Errorf("result %+v", r)
	}
}

func TestWallLimit(t *testing.T) {
	step := run("sleep", "30")
	step.WallLimit = 100 * time.Millisecond
	r := oneStep(t, step).res
	if r.Outcome != agentproto.TimedOut || r.TimeLimit != agentproto.WallLimit || r.Signal != "SIGKILL" {
		t.Errorf("result %+v", r)
	}
}

// Without cgroup files (see TestMain) the CPU time is the main process's own.
func TestCPULimit(t *testing.T) {
	step := run(sh("while :; do :; done")...)
	step.CPULimit = 100 * time.Millisecond
	r := oneStep(t, step).res
	if r.Outcome != agentproto.TimedOut || r.TimeLimit != agentproto.CPULimit || r.CPU <= 0 {
		t.Errorf("result %+v", r)
	}
}

// The OOM count is the cgroup's increase during the step.
func TestOOMKills(t *testing.T) {
	events := filepath.Join(t.TempDir(), "memory.events")
	if err := os.WriteFile(events, []byte("low 0\noom 1\noom_kill 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(old string) { memEventV2 = old }(memEventV2)
	memEventV2 = events
	step := run(sh(`printf 'oom 3\noom_kill 3\n' > "$EVENTS"`)...)
	step.Env = []string{"EVENTS=" + events}
	r := oneStep(t, step).res
	if r.Outcome != agentproto.OutOfMemory || r.OOMKills != 2 {
		t.Errorf("result %+v", r)
	}
}

// A write end of the output that outlives every process of the step (here one that left the
// step's process group, which outside a container the agent does not kill) does not hold the
// step open: the output is read for drainWait, then the pipes are closed.
func TestOutputOfALeftoverProcessIsNotWaitedFor(t *testing.T) {
	s := oneStep(t, run(sh("echo first; setsid sh -c 'touch left; sleep 5; echo late' & until [ -e left ]; do sleep 0.01; done")...))
	if s.stdout != "first\n" || s.res.ExitCode != 0 {
		t.Errorf("stdout %q, result %+v: want the step's own output, not the leftover's", s.stdout, s.res)
	}
}
