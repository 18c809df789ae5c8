//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The gVisor suite: one server whose every language runs under runsc (pool.runtime), its warm
// containers all paused (pool.unpaused 0), so every request also resumes one. It checks the
// containers on the engine, every language's basics, and a set of the hostile families that
// covers each of them. `make test` registers runsc first (`make runsc`).

// runscBroken is, per language, a program that fails before it runs: a compile error for the
// compiled languages, a syntax error for the others, with a fragment of the message.
var runscBroken = map[string]struct{ code, status, says string }{
	"python":     {"print(", "runtime_error", "SyntaxError"},
	"javascript": {"console.log(", "runtime_error", "SyntaxError"},
	"ruby":       {"puts(", "runtime_error", "syntax error"},
	"go":         {"package main\nfunc main() { undefined() }", "compile_error", "undefined"},
	"cpp":        {"int main() { return x; }", "compile_error", "was not declared in this scope"},
	"java":       {"public class Main { public static void main(String[] a) { int x = \"s\"; } }", "compile_error", "incompatible types"},
}

// runscMemoryBombs are the memory bombs but one: node's writes to a full pipe fill its heap only
// when they pile up faster than the agent drains them, and under gVisor they are slower than
// that: its CPU limit stops it first (a run stopped by a limit all the same).
func runscMemoryBombs() []memoryBomb {
	var out []memoryBomb
	for _, b := range memoryBombs {
		if b.name != "node unflushed output" {
			out = append(out, b)
		}
	}
	return out
}

// runscUnseenStatus are the privileges checks that do not hold under gVisor (SECURITY.md
// "gVisor"): lines of /proc/self/status its kernel does not show; Docker's seccomp profile, which
// applies to gVisor's kernel on the host and not inside; and listing /proc/1/fd, which its procfs
// allows anyone (the numbers only: opening them is refused, openPid1Fd).
var runscUnseenStatus = map[string]string{
	"CapAmb":       "not shown",
	"NoNewPrivs":   "not shown",
	"Seccomp":      "the profile confines gVisor's kernel on the host",
	"ptracePid1Fd": "gVisor lists a process's descriptor numbers to anyone",
}

// runscPrivileges are the privileges checks that gVisor answers otherwise: its procfs shows every
// process's environ to anyone, and the agent's is empty (agent.HideEnviron).
var runscPrivileges = map[string]any{"readPid1Environ": "EMPTY"}

func requireRunsc(t *testing.T) {
	t.Helper()
	cli := dockerClient(t)
	defer cli.Close()
	info, err := cli.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Runtimes["runsc"]; !ok {
		t.Fatal("the Docker engine has no runtime runsc: run `make runsc`")
	}
}

func TestRunsc(t *testing.T) {
	requireRunsc(t)
	begin := time.Now()
	langs, examples := languageExamples(t)
	s := StartServer(t, ServerOptions{Languages: langs, PoolSize: 1, Edit: func(cfg map[string]any) {
		cfg["pool"].(map[string]any)["runtime"] = "runsc"
		cfg["pool"].(map[string]any)["unpaused"] = 0
		// The JVM languages' compiles take seconds each under gVisor: requests queue rather than fail.
		cfg["server"].(map[string]any)["queueWaitMs"] = 300000
		cfg["pool"].(map[string]any)["claimWaitMs"] = 120000
	}})
	t.Logf("server ready under runsc in %v", time.Since(begin).Round(time.Millisecond))
	t.Run("engine", func(t *testing.T) { runscEngine(t, s) })
	t.Run("measurements", func(t *testing.T) { runscMeasurements(t, s) })
	t.Run("examples", func(t *testing.T) { runscExamples(t, s, examples) })
	t.Run("processes", func(t *testing.T) { runscProcesses(t, s) })
	log := &hostileLog{}
	t.Run("hostile", func(t *testing.T) {
		t.Cleanup(func() {
			t.Logf("hostile families under runsc (family, language, status, request time):\n%s", strings.Join(log.rows, "\n"))
		})
		t.Run("cpu loop", func(t *testing.T) { hostileCPULoop(t, s, log) })
		t.Run("cpu loop in children", func(t *testing.T) { runscChildrenCPU(t, s, log) })
		t.Run("memory bomb", func(t *testing.T) { hostileMemoryBombs(t, s, log, runscMemoryBombs()) })
		// Under gVisor every forked process also costs its kernel memory, and the host's pids
		// limit leaves room for the Sentry's threads (pool/docker): the memory limit may stop
		// the bomb first.
		t.Run("fork bomb", func(t *testing.T) {
			hostileForkBomb(t, s, log, "time_limit_exceeded", "runtime_error", "memory_limit_exceeded")
		})
		t.Run("output flood", func(t *testing.T) { hostileFlood(t, s, log) })
		t.Run("disk fill", func(t *testing.T) { hostileDiskFill(t, s, log) })
		t.Run("network", func(t *testing.T) { hostileNetwork(t, s, log) })
		t.Run("privileges", func(t *testing.T) { hostilePrivilegesBut(t, s, log, runscUnseenStatus, runscPrivileges) })
		t.Run("forged answer", func(t *testing.T) { hostileForgedAnswer(t, s, log) })
		t.Run("isolation between runs", func(t *testing.T) { hostileIsolation(t, s, log) })
	})
	t.Run("judge memory bomb", func(t *testing.T) { runscJudgeMemory(t, s) })
	t.Logf("runsc suite took %v", time.Since(begin).Round(time.Millisecond))
}

// runscEngine inspects the server's containers on the engine: each runs under runsc, and the
// warm ones are paused.
func runscEngine(t *testing.T, s *Server) {
	r := s.Get(t, "/api/v1/languages")
	langs := parseArray(t, r.Raw)
	if len(langs) < len(programs) {
		t.Fatalf("languages: %s", r.Raw)
	}
	for _, l := range langs {
		if l["runtime"] != "runsc" {
			t.Errorf("%v: runtime %v, want runsc", l["name"], l["runtime"])
		}
	}
	cli := dockerClient(t)
	defer cli.Close()
	for lang := range programs {
		ids := instanceContainers(t, s.Instance, lang)
		if len(ids) == 0 {
			t.Errorf("%s: no container on the engine", lang)
		}
		for id := range ids {
			info, err := cli.ContainerInspect(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if info.HostConfig.Runtime != "runsc" {
				t.Errorf("%s: container %.12s runs under %q", lang, id, info.HostConfig.Runtime)
			}
			if info.State.Running && !info.State.Paused {
				t.Errorf("%s: warm container %.12s is not paused (pool.unpaused 0)", lang, id)
			}
		}
	}
	// What the program sees of its kernel: gVisor's, not the host's.
	r = s.Execute(t, "python", "import os\nprint(open('/proc/version').read().split()[2], os.uname().release)", nil)
	host, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	if r.Str("status") != "ok" || strings.Contains(r.Str("stdout"), strings.TrimSpace(string(host))) {
		t.Errorf("the sandbox sees the host's kernel %s: %s", host, r.Raw)
	}
}

// runscMeasurements: the six first languages measure their runs under gVisor, read their stdin,
// and report a broken program with the compiler's or interpreter's message.
func runscMeasurements(t *testing.T, s *Server) {
	for lang, p := range programs {
		t.Run(lang, func(t *testing.T) {
			r := s.Execute(t, lang, p.hello, nil)
			if r.Str("status") != "ok" || r.Str("stdout") != "hello\n" {
				t.Errorf("hello: %s", r.Raw)
			}
			if r.Num("memoryBytes") <= 0 || r.Num("wallTimeMs") <= 0 || r.Num("cpuTimeMs") <= 0 {
				t.Errorf("hello: missing measurements: %s", r.Raw)
			}
			r = s.Execute(t, lang, p.echo, map[string]any{"stdin": "abc\nxyz\n"})
			if r.Str("stdout") != "ABC\nXYZ\n" {
				t.Errorf("stdin: got %q: %s", r.Str("stdout"), r.Raw)
			}
			b := runscBroken[lang]
			r = s.Execute(t, lang, b.code, nil)
			if r.Str("status") != b.status || !strings.Contains(r.Str("errorMessage")+r.Str("compileOutput")+r.Str("stderr"), b.says) {
				t.Errorf("broken program: want %s saying %q: %s", b.status, b.says, r.Raw)
			}
		})
	}
}

// runscExampleStatus are the examples whose end differs under gVisor, with why.
var runscExampleStatus = map[string]string{
	// The bomb's arrays are allocated and never written: under gVisor they do not reach the
	// host's memory limit, and the CPU limit stops it instead.
	"csharp/memory_limit_exceeded": "time_limit_exceeded",
}

// runscExamples runs every configured language's examples (hello, stdin, a compile or runtime
// error: TestLanguageExamples) through /api/v1/execute under gVisor, two at a time. Programs
// run slower under gVisor (SECURITY.md): each example may take its language's longest time
// limit, but for the ones that end by a limit.
func runscExamples(t *testing.T, s *Server, examples []example) {
	begin := time.Now()
	longest := longestTimeLimits(t, s)
	runExamples(t, examples, 2, func(ex example) (string, []string) {
		extra := map[string]any{"timeLimitMs": longest[ex.lang]}
		if end, ok := runscExampleStatus[ex.lang+"/"+ex.kind]; ok {
			ex.kind, extra = end, nil
		}
		return ex.kind, runV1(s, ex, extra)
	})
	t.Logf("%d examples under runsc in %v", len(examples), time.Since(begin).Round(time.Millisecond))
}

// runscChildrenCPU: the CPU limit holds when the CPU is spent by children, which gVisor's sandbox
// cannot count from a cgroup (the agent adds up its processes instead).
func runscChildrenCPU(t *testing.T, s *Server, log *hostileLog) {
	code := "import os\nfor _ in range(3):\n    if os.fork() == 0:\n        while True: pass\nwhile True: pass"
	r := hostileRun(t, s, log, "cpu loop (4 processes)", "python", code, map[string]any{"timeLimitMs": 1000})
	wantStatus(t, r, "time_limit_exceeded")
	// The container has one CPU: four spinning processes pass 1 s of CPU together in about 1 s of
	// wall time, well before the wall limit (1.7 s), so the CPU limit stopped them.
	if r.Str("errorMessage") != "Time limit exceeded" {
		t.Errorf("not stopped by the CPU limit: %s", r.Raw)
	}
}

// runscProcesses: a program may run as many processes at once as its language's pids limit
// allows, although on the host each of gVisor's processes takes several threads
// (pool/docker's sandboxThreadsPerProcess). python's limit is 64 (config.yaml).
func runscProcesses(t *testing.T, s *Server) {
	code := "import os, time\nkids = []\nfor _ in range(48):\n    pid = os.fork()\n    if pid == 0:\n        time.sleep(1)\n        os._exit(0)\n    kids.append(pid)\n" +
		"failed = sum(os.waitpid(k, 0)[1] != 0 for k in kids)\nprint(len(kids), 'children,', failed, 'failed')"
	r := s.Execute(t, "python", code, map[string]any{"timeLimitMs": 10000})
	wantStatus(t, r, "ok")
	if out := r.Str("stdout"); out != "48 children, 0 failed\n" {
		t.Errorf("stdout %q: %.1500s", out, r.Raw)
	}
}

// runscJudgeMemory: a memory bomb in one test of a judge submission ends that test as
// memory_limit_exceeded under gVisor too, where the whole sandbox is killed: the tests before it
// keep their verdicts, and the ones after it run in a fresh sandbox, as under runc.
func runscJudgeMemory(t *testing.T, s *Server) {
	code := "import sys\nn = int(sys.stdin.read())\nif n == 2:\n    a = []\n    while True: a.append(b'x' * (8 << 20))\nprint(n)"
	tests := []map[string]any{{"stdin": "1", "expectedOutput": "1"}, {"stdin": "2", "expectedOutput": "2"}, {"stdin": "3", "expectedOutput": "3"}}
	r := s.Execute(t, "python", code, map[string]any{"memoryLimitMb": 128, "tests": tests})
	got := r.tests()
	if r.Result()["verdict"] != "memory_limit_exceeded" || len(got) != 3 {
		t.Fatalf("verdict %v with %d test results: %.2000s", r.Result()["verdict"], len(got), r.Raw)
	}
	for i, want := range []string{"accepted", "memory_limit_exceeded", "accepted"} {
		if got[i]["verdict"] != want {
			t.Errorf("test %d: verdict %v, want %s: %.2000s", i+1, got[i]["verdict"], want, r.Raw)
		}
	}
	if out, _ := got[2]["stdout"].(string); out != "3\n" {
		t.Errorf("test 3 ran in a fresh sandbox: stdout %q", out)
	}
}

// TestRuntimeNotRegistered: a runtime the engine does not have stops the server at start with a
// sentence that says how to register it.
func TestRuntimeNotRegistered(t *testing.T) {
	cfg := repoConfig(t)
	instance := fmt.Sprintf("e2e-rt-%d", os.Getpid())
	cfg["instance"] = instance
	cfg["pool"].(map[string]any)["agent"] = filepath.Join(binDir, "codeexec-agent")
	cfg["languages"].(map[string]any)["ruby"].(map[string]any)["runtime"] = "no-such-runtime"
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "codeexec"), "-config", path)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", freePort(t)))
	msg, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("the server started (or hung) with an unknown runtime: %v\n%s", err, msg)
	}
	for _, want := range []string{"no-such-runtime", "ruby", "make runsc", "daemon.json"} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("the error does not say %q: %s", want, msg)
		}
	}
	if n := CountContainers(t, instance); n != 0 {
		t.Errorf("%d containers started", n)
		RemoveContainers(instance)
	}
}
