//go:build integration

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The hostile-input suite, round 2 (issue 19): one subtest per defect and weakness the issue
// lists, each through real HTTP against the real server and engine.

// Server A: the defaults of config.yaml but for short read and idle timeouts and a smaller
// answer budget (8 MiB), so that both are seen at work quickly.
const (
	h2ReadTimeoutMs = 2000
	h2IdleTimeoutMs = 3000
	h2AnswerBytes   = 8 << 20
)

func TestHostileRound2(t *testing.T) {
	a := StartServer(t, ServerOptions{
		Languages: []string{"python", "javascript", "java"},
		PoolSize:  1,
		Edit: func(cfg map[string]any) {
			srv := cfg["server"].(map[string]any)
			srv["readTimeoutMs"] = h2ReadTimeoutMs
			srv["idleTimeoutMs"] = h2IdleTimeoutMs
			srv["maxAnswerBytes"] = h2AnswerBytes
			cfg["languages"].(map[string]any)["python"].(map[string]any)["poolSize"] = 2
		},
	})
	t.Run("1 signals to PID 1", func(t *testing.T) { h2Signals(t, a) })
	t.Run("2 no agent stack dump", func(t *testing.T) { h2StackDump(t, a) })
	t.Run("3 forged memory verdict", func(t *testing.T) { h2ForgedOOM(t, a) })
	t.Run("4 unremovable folders", func(t *testing.T) { h2Unremovable(t, a) })
	t.Run("5 memory is per test", func(t *testing.T) { h2PerTestMemory(t, a) })
	t.Run("7 answer cap", func(t *testing.T) { h2AnswerCap(t, a) })
	t.Run("8 java entry named like an option", func(t *testing.T) { h2JavaOption(t, a) })
	t.Run("slow body and idle connections", func(t *testing.T) { h2Timeouts(t, a) })
	t.Run("mountinfo", func(t *testing.T) { h2MountInfo(t, a) })
	t.Run("execution log needs the operator", func(t *testing.T) { h2ExecLog(t, a) })
	t.Run("6 cost admission", h2Admission)
	t.Run("port taken", h2PortTaken)
}

// h2Judge posts a judge request to /api/v1/execute and requires a 200.
func h2Judge(t *testing.T, s *Server, lang, code string, tests []map[string]any, extra map[string]any) *Response {
	t.Helper()
	if extra == nil {
		extra = map[string]any{}
	}
	extra["tests"] = tests
	return s.Execute(t, lang, code, extra)
}

// verdicts lists each test's verdict of a judge answer.
func verdicts(r *Response) []string {
	var out []string
	tests, _ := r.Result()["tests"].([]any)
	for _, x := range tests {
		v, _ := x.(map[string]any)["verdict"].(string)
		out = append(out, v)
	}
	return out
}

func h2Test(r *Response, i int) map[string]any {
	tests, _ := r.Result()["tests"].([]any)
	if i >= len(tests) {
		return nil
	}
	m, _ := tests[i].(map[string]any)
	return m
}

// pySigqueue defines sigqueue(pid, sig): rt_sigqueueinfo(pid, sig, {si_code: SI_QUEUE}), the
// signal Go takes for a fault of its own; it returns the call's result and errno.
const pySigqueue = `
import ctypes, platform, signal
def sigqueue(pid, sig):
    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": 129, "aarch64": 138}[platform.machine()]
    info = (ctypes.c_int * 32)()
    info[0], info[2] = sig, -1  # si_signo, si_code = SI_QUEUE
    r = libc.syscall(nr, pid, sig, info)
    return r, ctypes.get_errno()
`

// #1: a program that signals PID 1 (every catchable signal, and a SIGSEGV queued with a forged
// si_code, to PID 1 and to each of its threads) leaves the agent alive: the program is another
// user, so the kernel refuses every one (EPERM); the queued ones to PID 1 the agent's seccomp
// guard refuses first. A program that kills itself is a runtime_error of its test, and the other
// tests of the submission are judged.
func h2Signals(t *testing.T, s *Server) {
	code := pySigqueue + `
import errno, os, sys, time
mode = sys.stdin.read().strip()
if mode == "signals":
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGSEGV, signal.SIGABRT, signal.SIGUSR1, signal.SIGPIPE):
        try:
            os.kill(1, sig)
            print("kill sent")
        except OSError as e:
            print("kill", errno.errorcode[e.errno])
    for sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP):
        print("queued", *sigqueue(1, sig))
    tids = [int(n) for n in os.listdir("/proc/1/task")]
    print("threads", len(tids) > 1, sorted({sigqueue(tid, signal.SIGSEGV) for tid in tids}))
    time.sleep(0.3)
    print("alive")
elif mode == "die":
    os.kill(os.getpid(), signal.SIGSEGV)
else:
    print("ok")
`
	ok := "ok\n"
	alive := strings.Repeat("kill EPERM\n", 8) + strings.Repeat("queued -1 1\n", 5) + "threads True [(-1, 1)]\nalive\n"
	r := h2Judge(t, s, "python", code, []map[string]any{
		{"stdin": "plain", "expectedOutput": ok},
		{"stdin": "signals", "expectedOutput": alive},
		{"stdin": "die"},
		{"stdin": "plain", "expectedOutput": ok},
	}, nil)
	want := []string{"accepted", "accepted", "runtime_error", "accepted"}
	if got := verdicts(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("verdicts %v, want %v: %.2000s", got, want, r.Raw)
	}
	if sig, _ := h2Test(r, 2)["signal"].(string); sig != "SIGSEGV" {
		t.Errorf("the test that killed itself: signal %q, want SIGSEGV", sig)
	}
}

// #2: an internal failure answers a fixed sentence; the agent's stack dump (SIGQUIT makes a Go
// program print one) never reaches the client. Today SIGQUIT to PID 1 is refused (the program is
// another user) and would be discarded: the answer is the program's, without a trace of the agent.
func h2StackDump(t *testing.T, s *Server) {
	r := s.Post(t, "/api/v1/execute", map[string]any{"language": "python",
		"code": "import os, signal, time\ntry:\n    os.kill(1, signal.SIGQUIT)\nexcept PermissionError:\n    pass\ntime.sleep(0.3)\nprint('alive')"})
	if r.Code != 200 || r.Str("stdout") != "alive\n" {
		t.Fatalf("HTTP %d: %.2000s", r.Code, r.Raw)
	}
	if bytes.Contains(r.Raw, []byte("goroutine ")) {
		t.Fatalf("the answer carries a Go stack dump: %.2000s", r.Raw)
	}
}

// #3: printing a runtime's out-of-memory text is not a memory verdict: the peak is far from the
// limit.
func h2ForgedOOM(t *testing.T, s *Server) {
	r := s.Execute(t, "javascript", `console.error("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"); process.exit(1)`, nil)
	wantStatus(t, r, "runtime_error")
}

// #4: folders a test left without write permission (0500, 0000, nested) do not stop the reset
// before the next test.
func h2Unremovable(t *testing.T, s *Server) {
	code := `
import os
print(os.path.exists("d") or os.path.exists("/tmp/z"))
os.makedirs("d/sub/deep", exist_ok=True)
open("d/sub/deep/f", "w").write("x")
os.chmod("d/sub/deep", 0o500)
os.chmod("d/sub", 0o000)
os.chmod("d", 0o500)
os.makedirs("/tmp/z/y", exist_ok=True)
os.chmod("/tmp/z/y", 0)
os.chmod("/tmp/z", 0o500)
print("ok")
`
	r := h2Judge(t, s, "python", code, []map[string]any{
		{"expectedOutput": "False\nok\n"}, {"expectedOutput": "False\nok\n"}, {"expectedOutput": "False\nok\n"},
	}, nil)
	if got := verdicts(r); fmt.Sprint(got) != "[accepted accepted accepted]" {
		t.Fatalf("verdicts %v: %.2000s", got, r.Raw)
	}
}

// #5: the memory limit is per test: earlier tests' output is not charged to later ones.
func h2PerTestMemory(t *testing.T, s *Server) {
	const justUnderMiB = 1<<20 - 64
	tests := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"stdin": ""}
		}
		return out
	}
	// 20 tests at 64 MB, each printing just under 1 MiB: every one judged.
	r := h2Judge(t, s, "python", fmt.Sprintf("import sys\nsys.stdout.write('x' * %d)", justUnderMiB), tests(20),
		map[string]any{"memoryLimitMb": 64})
	v := verdicts(r)
	if len(v) != 20 || strings.Count(strings.Join(v, " "), "accepted") != 20 {
		t.Fatalf("20 tests at 64 MB: verdicts %v", v)
	}
	// A program that passes alone at 160 MB (100 MB of its own) passes every one of 80 tests,
	// and the last test's peak is the first's.
	prog := fmt.Sprintf("import sys\nb = b'\\1' * (100 << 20)\nsys.stdout.write('x' * %d)", justUnderMiB)
	alone := s.Execute(t, "python", prog, map[string]any{"memoryLimitMb": 160})
	wantStatus(t, alone, "ok")
	r = h2Judge(t, s, "python", prog, tests(80), map[string]any{"memoryLimitMb": 160})
	v = verdicts(r)
	if len(v) != 80 || strings.Count(strings.Join(v, " "), "accepted") != 80 {
		t.Fatalf("80 tests at 160 MB: verdicts %v", v)
	}
	first, _ := h2Test(r, 0)["memoryBytes"].(float64)
	last, _ := h2Test(r, 79)["memoryBytes"].(float64)
	t.Logf("80 tests at 160 MB: peak of test 1 %.1f MiB, of test 80 %.1f MiB; alone %.1f MiB", first/(1<<20), last/(1<<20), alone.Num("memoryBytes")/(1<<20))
	// Held output would add 79 MiB by the last test; a few MiB of difference are the runtime's.
	if first < 100<<20 || last > first+8<<20 {
		t.Fatalf("peak of test 1 %.0f bytes, of test 80 %.0f: want both about the program's 100 MiB", first, last)
	}
}

// serverPeakRSS is the server process's peak resident memory (VmHWM).
func serverPeakRSS(t *testing.T, s *Server) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// #7: one request's answer carries at most server.maxAnswerBytes of output, a batch's entries
// together too; past it tests are still judged on their whole output, and say their output was
// dropped. The server's memory stays bounded while the answers are built.
func h2AnswerCap(t *testing.T, s *Server) {
	const n = 1<<20 - 64
	// 100 tests of just under 1 MiB; the last two also compared with an expected output of that
	// size, one right and one wrong in its last byte, long after the budget ran out.
	big := strings.Repeat("x", n-1)
	tests := make([]map[string]any, 100)
	for i := range tests {
		tests[i] = map[string]any{"stdin": "x"}
	}
	tests[98]["expectedOutput"] = big + "x"
	tests[99]["expectedOutput"] = big + "y"
	code := fmt.Sprintf("import sys\nsys.stdout.write('x' * %d)", n)
	for round := range 2 {
		r := h2Judge(t, s, "python", code, tests, nil)
		if len(r.Raw) > h2AnswerBytes+1<<20 {
			t.Fatalf("round %d: answer of %d bytes; the cap is %d", round, len(r.Raw), h2AnswerBytes)
		}
		v := verdicts(r)
		if len(v) != 100 || v[0] != "accepted" || v[98] != "accepted" || v[99] != "wrong_answer" {
			t.Fatalf("verdicts %v", v)
		}
		kept, dropped, held := 0, 0, 0
		for i := range 100 {
			tr := h2Test(r, i)
			out, _ := tr["stdout"].(string)
			held += len(out)
			if tr["outputDropped"] == true {
				dropped++
				if tr["truncated"] != true || len(out) >= n {
					t.Fatalf("test %d: output dropped, but truncated %v and %d bytes of stdout", i+1, tr["truncated"], len(out))
				}
				continue
			}
			if len(out) != n {
				t.Fatalf("test %d kept %d bytes of stdout, want all %d", i+1, len(out), n)
			}
			kept++
		}
		if held+2*n > h2AnswerBytes {
			t.Fatalf("the answer holds %d bytes of output; the budget is %d", held, h2AnswerBytes)
		}
		t.Logf("round %d: answer %d bytes, %d tests with their output, %d dropped", round, len(r.Raw), kept, dropped)
		// The first test's output counts three times: the answer shows it as the result's
		// stdout, its output and test 1's stdout.
		if want := (h2AnswerBytes - 2*n) / n; kept != want || dropped != 100-kept {
			t.Fatalf("%d tests kept their output, %d dropped; want %d kept", kept, dropped, want)
		}
	}
	// A batch's entries share one budget.
	subs := make([]map[string]any, 3)
	for i := range subs {
		subs[i] = map[string]any{"language": "python", "code": code, "tests": tests[:10]}
	}
	r := s.Post(t, "/api/v1/batch", map[string]any{"submissions": subs})
	if r.Code != 200 {
		t.Fatalf("batch: HTTP %d %.500s", r.Code, r.Raw)
	}
	if len(r.Raw) > h2AnswerBytes+1<<20 {
		t.Fatalf("batch answer of %d bytes (30 MiB of output); the cap is %d", len(r.Raw), h2AnswerBytes)
	}
	var batch struct {
		Results []struct {
			Result struct {
				Tests []struct {
					Verdict       string `json:"verdict"`
					OutputDropped bool   `json:"outputDropped"`
				} `json:"tests"`
			} `json:"result"`
		} `json:"results"`
	}
	if err := json.Unmarshal(r.Raw, &batch); err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for _, e := range batch.Results {
		for _, tr := range e.Result.Tests {
			if tr.Verdict != "accepted" {
				t.Fatalf("batch verdict %s", tr.Verdict)
			}
			if tr.OutputDropped {
				dropped++
			}
		}
	}
	if dropped < 30-h2AnswerBytes/n {
		t.Fatalf("batch: %d tests dropped their output, want at least %d", dropped, 30-h2AnswerBytes/n)
	}
	peak := serverPeakRSS(t, s)
	t.Logf("batch answer %d bytes; server peak RSS %.0f MiB", len(r.Raw), float64(peak)/(1<<20))
	// Unbounded, two 100-test answers and the batch would hold well over 100 MiB each.
	if peak > 256<<20 {
		t.Fatalf("server peak RSS %d MiB", peak>>20)
	}
}

// #8: a Java entry named like an option is refused: java -version would answer without
// running anything.
func h2JavaOption(t *testing.T, s *Server) {
	r := s.Post(t, "/api/v2/execute", map[string]any{"language": "java",
		"files": []map[string]any{{"filename": "-version.java", "code": "class Main { public static void main(String[] a) { System.out.println(1); } }"}}})
	wantError(t, r, 400, "must not start with '-'")
}

// A client that sends its body too slowly is cut off after readTimeoutMs; a keep-alive
// connection left idle is closed after idleTimeoutMs.
func h2Timeouts(t *testing.T, s *Server) {
	addr := strings.TrimPrefix(s.URL, "http://")
	closedWithin := func(conn net.Conn, within time.Duration) (time.Duration, error) {
		begin := time.Now()
		_ = conn.SetReadDeadline(begin.Add(within))
		_, err := io.Copy(io.Discard, conn)
		return time.Since(begin), err
	}
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /api/v1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"language\":")
	took, err := closedWithin(slow, 15*time.Second)
	if err != nil {
		t.Fatalf("slow body: connection still open after %v (readTimeoutMs %d): %v", took, h2ReadTimeoutMs, err)
	}
	t.Logf("slow body cut after %v", took.Round(time.Millisecond))

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", resp, err)
	}
	resp.Body.Close()
	took, err = closedWithin(idle, 15*time.Second)
	if err != nil {
		t.Fatalf("idle keep-alive: still open after %v (idleTimeoutMs %d): %v", took, h2IdleTimeoutMs, err)
	}
	t.Logf("idle connection closed after %v", took.Round(time.Millisecond))
}

// /proc/self/mountinfo in the sandbox says nothing of the host's layout where the agent comes
// from: not the path of the agent's binary on the host, not the disk it lies on.
func h2MountInfo(t *testing.T, s *Server) {
	r := s.Execute(t, "python", "print(open('/proc/self/mountinfo').read())", nil)
	info := r.Str("stdout")
	agentHost := filepath.Join(binDir, "codeexec-agent")
	var st syscall.Stat_t
	if err := syscall.Stat(agentHost, &st); err != nil {
		t.Fatal(err)
	}
	hostDev := fmt.Sprintf(" %d:%d ", unix.Major(st.Dev), unix.Minor(st.Dev))
	found := false
	for _, line := range strings.Split(info, "\n") {
		if strings.Contains(line, binDir) || strings.Contains(line, repoRoot) {
			t.Errorf("mountinfo names a host path: %s", line)
		}
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != "/codeexec/agent" {
			continue
		}
		found = true
		if strings.Contains(line, hostDev) {
			t.Errorf("the agent's mount is on the host's disk %s: %s", hostDev, line)
		}
		if _, after, _ := strings.Cut(line, " - "); !strings.HasPrefix(after, "tmpfs ") {
			t.Errorf("the agent's mount is not from a tmpfs: %s", line)
		}
		t.Logf("agent mount: %s", line)
	}
	if !found {
		t.Fatalf("no mount of /codeexec/agent in:\n%s", info)
	}
}

// Listing the execution log and its stats needs the operator's token; one execution by its
// jobId stays open.
func h2ExecLog(t *testing.T, s *Server) {
	r := s.Execute(t, "python", "print('secret')", map[string]any{"saveMetric": true})
	waitExecution(t, s, r.Str("jobId")) // no token
	for _, path := range []string{"/api/v1/executions", "/api/v1/executions?limit=5", "/api/v1/stats"} {
		anon := s.Get(t, path)
		wantError(t, anon, 401, "server.adminToken")
		if bytes.Contains(anon.Raw, []byte("secret")) || anon.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without a token: %s %v", path, anon.Raw, anon.Header)
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer not-"+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, readResponse(t, resp), 401, "Bearer")
		if op := s.Admin(t, path); op.Code != 200 {
			t.Errorf("%s with the token: HTTP %d %s", path, op.Code, op.Raw)
		}
	}
	if list := s.Admin(t, "/api/v1/executions"); !bytes.Contains(list.Raw, []byte(r.Str("jobId"))) {
		t.Errorf("the operator's list lacks the saved execution: %.500s", list.Raw)
	}
}

// postFrom posts from a loopback address of its own: each is its own client for the rate limit.
func postFrom(t *testing.T, s *Server, from, path string, body any) *Response {
	t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}}
	resp, err := client.Post(s.URL+path, "application/json", bytes.NewReader(j))
	if err != nil {
		t.Fatalf("POST %s from %s: %v", path, from, err)
	}
	return readResponse(t, resp)
}

// #6: judge submissions and batches are admitted by their cost. With 2 slots, a batch runs one
// entry at a time and a hello from someone else gets the other slot at once (queueWaitMs is
// shorter than one entry); the rate limit charges a request per run; a request whose limits add
// up past server.maxTotalLimitMs is refused. Without an operator token, the log's listing is off.
func h2Admission(t *testing.T) {
	s := StartServer(t, ServerOptions{
		Languages: []string{"python"},
		PoolSize:  3,
		Edit: func(cfg map[string]any) {
			srv := cfg["server"].(map[string]any)
			srv["maxConcurrent"] = 2
			srv["queueWaitMs"] = 1500
			srv["rateLimit"] = map[string]any{"perSecond": 0.001, "burst": 10}
			delete(srv, "adminToken")
		},
	})
	t.Run("batch leaves a slot", func(t *testing.T) {
		sleeper := map[string]any{"language": "python", "code": "import time\ntime.sleep(2.5)\nprint(1)"}
		var wg sync.WaitGroup
		var batch *Response
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch = postFrom(t, s, "127.0.0.3", "/api/v1/batch", map[string]any{"submissions": []any{sleeper, sleeper, sleeper}})
		}()
		waitFor(t, 30*time.Second, "the batch running", func() bool { return metricValue(t, s, "codeexec_executions_in_flight") >= 1 })
		hello := postFrom(t, s, "127.0.0.4", "/api/v1/execute", map[string]any{"language": "python", "code": "print('hello')"})
		inFlight := metricValue(t, s, "codeexec_executions_in_flight")
		wg.Wait()
		if hello.Code != 200 || hello.Str("stdout") != "hello\n" {
			t.Fatalf("hello during the batch: HTTP %d %s", hello.Code, hello.Raw)
		}
		if batch.Code != 200 || strings.Count(string(batch.Raw), `"status":"ok"`) != 3 {
			t.Fatalf("batch: HTTP %d %.1000s", batch.Code, batch.Raw)
		}
		if inFlight > 1 {
			t.Errorf("%v executions in flight after the hello answered; the batch may hold one slot", inFlight)
		}
	})
	t.Run("rate limit per run", func(t *testing.T) {
		tests := make([]map[string]any, 10)
		for i := range tests {
			tests[i] = map[string]any{"expectedOutput": "1"}
		}
		r := postFrom(t, s, "127.0.0.2", "/api/v1/execute", map[string]any{"language": "python", "code": "print(1)", "tests": tests})
		if r.Code != 200 || r.Num("passed") != 10 {
			t.Fatalf("10 tests: HTTP %d %.500s", r.Code, r.Raw)
		}
		// Ten runs spent the burst of ten.
		r = postFrom(t, s, "127.0.0.2", "/api/v1/execute", map[string]any{"language": "python", "code": "print(1)"})
		wantError(t, r, 429, "too many requests")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	})
	t.Run("total limit cap", func(t *testing.T) {
		tests := make([]map[string]any, 100)
		for i := range tests {
			tests[i] = map[string]any{"stdin": ""}
		}
		r := postFrom(t, s, "127.0.0.6", "/api/v1/execute", map[string]any{"language": "python", "code": "print(1)", "tests": tests, "timeLimitMs": 15000})
		wantError(t, r, 400, "server.maxTotalLimitMs")
		subs := make([]map[string]any, 20)
		for i := range subs {
			subs[i] = map[string]any{"language": "python", "code": "print(1)", "tests": tests[:10], "timeLimitMs": 5000}
		}
		r = postFrom(t, s, "127.0.0.6", "/api/v1/batch", map[string]any{"submissions": subs})
		wantError(t, r, 400, "server.maxTotalLimitMs")
	})
	t.Run("execution log off without a token", func(t *testing.T) {
		for _, path := range []string{"/api/v1/executions", "/api/v1/stats"} {
			wantError(t, s.Get(t, path), 403, "server.adminToken")
		}
	})
}

// The server binds its port before anything else: when it is taken, it exits at once without
// having touched the engine (a stand-in engine socket counts the connections it gets).
func h2PortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock := filepath.Join(t.TempDir(), "engine.sock")
	engine, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	var mu sync.Mutex
	connections := 0
	go func() {
		for {
			c, err := engine.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			connections++
			mu.Unlock()
			c.Close()
		}
	}()
	cfgPath, _ := writeConfig(t, ServerOptions{Languages: []string{"python"}, PoolSize: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "codeexec"), "-config", cfgPath)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", ln.Addr().(*net.TCPAddr).Port), "DOCKER_HOST=unix://"+sock)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("server on a taken port: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if connections != 0 {
		t.Fatalf("the server on a taken port connected to the engine %d times before it gave up:\n%s", connections, out)
	}
}
