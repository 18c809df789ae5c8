//go:build integration

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"go.yaml.in/yaml/v3"
)

// The hostile-input suite: what people on the internet send to a code runner on purpose. Each
// family runs through real HTTP against the real server and engine, and checks the status the
// answer gets, that the run was stopped by the right limit, and that the server serves the next
// request normally. Each subtest logs its status and time; the parent logs a summary table.

// hostileLog collects "family, language, status, time" rows for the summary.
type hostileLog struct {
	mu   sync.Mutex
	rows []string
}

func (l *hostileLog) add(family, lang, status string, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows = append(l.rows, fmt.Sprintf("%-28s %-11s %-24s %6d ms", family, lang, status, took.Milliseconds()))
}

// hostileRun posts a v1 execution, requires a 200 and records the family's row.
func hostileRun(t *testing.T, s *Server, log *hostileLog, family, lang, code string, extra map[string]any) *Response {
	t.Helper()
	begin := time.Now()
	r := s.Execute(t, lang, code, extra)
	took := time.Since(begin)
	log.add(family, lang, r.Str("status"), took)
	t.Logf("%s/%s: %s in %v (wall %.0f ms, cpu %.0f ms, mem %.1f MiB)", family, lang, r.Str("status"), took.Round(time.Millisecond),
		r.Num("wallTimeMs"), r.Num("cpuTimeMs"), r.Num("memoryBytes")/(1<<20))
	return r
}

func wantStatus(t *testing.T, r *Response, status string) {
	t.Helper()
	if got := r.Str("status"); got != status {
		t.Fatalf("status %q, want %q: %.1500s", got, status, r.Raw)
	}
}

func TestHostile(t *testing.T) {
	s := StartServer(t, ServerOptions{
		Languages: []string{"python", "javascript", "java", "cpp"},
		PoolSize:  1,
		Edit: func(cfg map[string]any) {
			// Python serves most families: two warm containers so consecutive runs do not wait.
			cfg["languages"].(map[string]any)["python"].(map[string]any)["poolSize"] = 2
		},
	})
	log := &hostileLog{}
	t.Cleanup(func() {
		log.mu.Lock()
		defer log.mu.Unlock()
		t.Logf("hostile families (family, language, status, request time):\n%s", strings.Join(log.rows, "\n"))
	})
	t.Run("cpu loop", func(t *testing.T) { hostileCPULoop(t, s, log) })
	t.Run("sleep forever", func(t *testing.T) { hostileSleep(t, s, log) })
	t.Run("memory bomb", func(t *testing.T) { hostileMemory(t, s, log) })
	t.Run("fork bomb", func(t *testing.T) { hostileForkBomb(t, s, log, "time_limit_exceeded", "runtime_error") })
	t.Run("output flood", func(t *testing.T) { hostileFlood(t, s, log) })
	t.Run("compiler bombs", func(t *testing.T) { hostileCompilerBombs(t, s, log) })
	t.Run("disk fill", func(t *testing.T) { hostileDiskFill(t, s, log) })
	t.Run("root fs write", func(t *testing.T) { hostileRootFS(t, s, log) })
	t.Run("background process", func(t *testing.T) { hostileBackground(t, s, log) })
	t.Run("network", func(t *testing.T) { hostileNetwork(t, s, log) })
	t.Run("privileges", func(t *testing.T) { hostilePrivileges(t, s, log) })
	t.Run("forged answer", func(t *testing.T) { hostileForgedAnswer(t, s, log) })
	t.Run("isolation between runs", func(t *testing.T) { hostileIsolation(t, s, log) })
	t.Run("odd file names and symlinks", func(t *testing.T) { hostileNames(t, s, log) })
	t.Run("stdin 1 MiB", func(t *testing.T) { hostileStdin(t, s, log) })
	t.Run("output encoding", func(t *testing.T) { hostileEncoding(t, s, log) })
	t.Run("bad requests", func(t *testing.T) { hostileBadRequests(t, s, log) })
	// After all of it the server is still healthy and every pool is warm again.
	deadline := time.Now().Add(time.Minute)
	for {
		r := s.Get(t, "/ready")
		if r.Code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready a minute after the hostile suite: %s", r.Raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := s.Execute(t, "python", `print("still here")`, nil)
	if r.Str("stdout") != "still here\n" {
		t.Errorf("after the suite: %s", r.Raw)
	}
}

func hostileCPULoop(t *testing.T, s *Server, log *hostileLog) {
	codes := map[string]string{
		"python":     "while True: pass",
		"javascript": "for (;;) {}",
		"java":       "public class Main { public static void main(String[] a) { long x = 0; while (true) { x++; } } }",
		// volatile: an empty infinite loop is undefined behaviour the optimiser may remove.
		"cpp": "int main() { volatile unsigned long x = 0; for (;;) x++; }",
	}
	for _, lang := range []string{"python", "javascript", "java", "cpp"} {
		t.Run(lang, func(t *testing.T) {
			r := hostileRun(t, s, log, "cpu loop", lang, codes[lang], map[string]any{"timeLimitMs": 1000})
			wantStatus(t, r, "time_limit_exceeded")
			// The CPU limit stops it, or on a busy machine the wall clock just before.
			if r.Str("errorMessage") != "Time limit exceeded" {
				t.Logf("stopped by: %s", r.Str("errorMessage"))
			}
			if wall := hostileWallMs(t, 1000); r.Num("cpuTimeMs") < 100 || r.Num("wallTimeMs") > wall+500 {
				t.Errorf("cpu %.0f ms, wall %.0f ms for a 1000 ms CPU limit (wall limit %.0f ms)", r.Num("cpuTimeMs"), r.Num("wallTimeMs"), wall)
			}
		})
	}
}

func hostileSleep(t *testing.T, s *Server, log *hostileLog) {
	codes := map[string]string{
		"python":     "import time\ntime.sleep(10**6)",
		"javascript": "setInterval(() => {}, 1000)",
		// Blocks on stdin that never comes? No: stdin is closed. Block on a lock forever instead.
		"java": "public class Main { public static void main(String[] a) throws Exception { Object o = new Object(); synchronized (o) { o.wait(); } } }",
	}
	for _, lang := range []string{"python", "javascript", "java"} {
		t.Run(lang, func(t *testing.T) {
			r := hostileRun(t, s, log, "sleep forever", lang, codes[lang], map[string]any{"timeLimitMs": 500})
			wantStatus(t, r, "time_limit_exceeded")
			if !strings.Contains(r.Str("errorMessage"), "wall clock") {
				t.Errorf("the wall-clock limit should stop it: %s", r.Raw)
			}
			if w, limit := r.Num("wallTimeMs"), hostileWallMs(t, 500); w < limit-50 || w > limit+2000 {
				t.Errorf("wall %.0f ms for a %.0f ms wall limit", w, limit)
			}
		})
	}
}

// hostileWallMs is the wall-clock limit the server gives a run of cpuMs CPU time, from the
// judge settings of the repository's config.yaml.
func hostileWallMs(t *testing.T, cpuMs float64) float64 {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Judge struct {
			WallFactor  float64 `yaml:"wallFactor"`
			WallSlackMs float64 `yaml:"wallSlackMs"`
		} `yaml:"judge"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cpuMs*cfg.Judge.WallFactor + cfg.Judge.WallSlackMs
}

// memoryBomb is a program that allocates without end.
type memoryBomb struct {
	name, lang, code string
	orOutputCap      bool // stopped by whichever limit it reaches first
}

func hostileMemory(t *testing.T, s *Server, log *hostileLog) {
	hostileMemoryBombs(t, s, log, memoryBombs)
}

var memoryBombs = []memoryBomb{
	{"python list", "python", "a = []\nwhile True: a.append(b'x' * (8 << 20))", false},
	// The kernel kills the child; the parent itself exits 0.
	{"python child", "python", "import subprocess\nr = subprocess.run(['python3', '-c', 'a = []\\nwhile True: a.append(b\"x\" * (8 << 20))'])\nprint('child exit', r.returncode)", false},
	{"node heap", "javascript", "const a = []; for (;;) a.push(new Array(1 << 20).fill(1.5))", false},
	{"node buffers", "javascript", "const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1))", false},
	{"java heap", "java", "import java.util.*; public class Main { public static void main(String[] x) { List<long[]> l = new ArrayList<>(); while (true) l.add(new long[1 << 20]); } }", false},
	// Writes to a full pipe are queued in node's memory and a loop that never yields never
	// lets them out: the heap fills and V8 aborts, unless the agent drains the pipe fast
	// enough that 1 MiB gets through first (seen on a quiet machine): then it is the cap.
	{"node unflushed output", "javascript", "const s = 'e'.repeat(4096); for (;;) process.stderr.write(s)", true},
	{"cpp malloc", "cpp", "#include <cstdlib>\n#include <cstring>\nint main() { for (;;) { char *p = (char *)malloc(8 << 20); memset(p, 1, 8 << 20); } }", false},
}

func hostileMemoryBombs(t *testing.T, s *Server, log *hostileLog, cases []memoryBomb) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			extra := map[string]any{"timeLimitMs": 10000}
			if c.lang == "python" || c.lang == "cpp" {
				extra["memoryLimitMb"] = 128
			}
			r := hostileRun(t, s, log, "memory bomb ("+c.name+")", c.lang, c.code, extra)
			if c.orOutputCap && r.Str("status") == "output_limit_exceeded" {
				if r.Result()["truncated"] != true {
					t.Errorf("output cap without truncated output: %.1500s", r.Raw)
				}
				return
			}
			wantStatus(t, r, "memory_limit_exceeded")
			if r.Str("errorMessage") != "Memory limit exceeded" {
				t.Errorf("message: %s", r.Raw)
			}
		})
	}
}

// hostileForkBomb: a fork bomb ends with one of the statuses given (the limit that stops it), its
// neighbour and the next request of its language run normally.
func hostileForkBomb(t *testing.T, s *Server, log *hostileLog, statuses ...string) {
	// Baseline: a node hello while nothing else runs.
	base := s.Execute(t, "javascript", `console.log("hi")`, nil)
	cases := []struct{ lang, code string }{
		{"python", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"},
		{"cpp", "#include <unistd.h>\nint main() { for (;;) fork(); }"},
	}
	for _, c := range cases {
		t.Run(c.lang, func(t *testing.T) {
			// A hello in another container while the bomb goes off: the bomb is held by its own
			// container's pids and CPU limits, so the neighbour runs at normal speed.
			var during *Response
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(300 * time.Millisecond)
				during = s.Post(t, "/api/v1/execute", map[string]any{"language": "javascript", "code": `console.log("hi")`})
			}()
			r := hostileRun(t, s, log, "fork bomb", c.lang, c.code, map[string]any{"timeLimitMs": 2000})
			wg.Wait()
			if st := r.Str("status"); !slices.Contains(statuses, st) {
				t.Errorf("status %q: %.1000s", st, r.Raw)
			}
			if r.Num("wallTimeMs") > 5500 {
				t.Errorf("the bomb ran %.0f ms under a 2000 ms CPU limit", r.Num("wallTimeMs"))
			}
			if during.Code != 200 || during.Str("stdout") != "hi\n" {
				t.Fatalf("neighbour during the bomb: HTTP %d %s", during.Code, during.Raw)
			}
			t.Logf("node hello: %.0f ms alone, %.0f ms during the bomb", base.Num("wallTimeMs"), during.Num("wallTimeMs"))
			if during.Num("wallTimeMs") > 3000 {
				t.Errorf("neighbour took %.0f ms during the bomb (alone %.0f ms)", during.Num("wallTimeMs"), base.Num("wallTimeMs"))
			}
			// The next request of the bombed language runs normally.
			next := s.Execute(t, c.lang, programs[c.lang].hello, nil)
			if next.Str("status") != "ok" || next.Num("wallTimeMs") > 2000 {
				t.Errorf("the request after the bomb: %s", next.Raw)
			}
		})
	}
}

func hostileFlood(t *testing.T, s *Server, log *hostileLog) {
	const limit = 1 << 20
	cases := []struct{ name, lang, code string }{
		{"python stdout", "python", "while True: print('x' * 1000)"},
		{"python stderr", "python", "import sys\nwhile True: sys.stderr.write('e' * 1000)"},
		{"python both", "python", "import sys\nwhile True:\n    print('o' * 500)\n    sys.stderr.write('e' * 500)"},
		{"cpp stdout", "cpp", "#include <cstdio>\nint main() { for (;;) putchar('x'); }"},
		// Each write waits for the last one: node keeps what a pipe cannot take yet in memory, so
		// a tight loop that never yields is a memory bomb (below), not a flood.
		{"node stderr", "javascript", "const s = 'e'.repeat(65536); (function w() { process.stderr.write(s, w) })()"},
		// Bytes that are not UTF-8 grow in JSON (U+FFFD and base64): still bounded.
		{"python invalid bytes", "python", "import sys\nwhile True: sys.stdout.buffer.write(b'\\xff' * 4096)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hostileRun(t, s, log, "flood ("+c.name+")", c.lang, c.code, map[string]any{"timeLimitMs": 5000})
			wantStatus(t, r, "output_limit_exceeded")
			out, errOut := r.Str("stdout"), r.Str("stderr")
			if b64 := r.Str("stdoutBase64"); b64 != "" {
				raw, err := base64.StdEncoding.DecodeString(b64)
				if err != nil {
					t.Fatal(err)
				}
				out = string(raw)
			}
			n := len(out) + len(errOut)
			if r.Result()["truncated"] != true || n > limit || n < limit/2 {
				t.Errorf("truncated output of at most %d bytes expected, got %d (truncated=%v)", limit, n, r.Result()["truncated"])
			}
			// Stopped at the cap, long before the 5 s CPU limit.
			if r.Num("wallTimeMs") > 5000 {
				t.Errorf("the flood ran %.0f ms: not stopped at the cap", r.Num("wallTimeMs"))
			}
			if len(r.Raw) > 5*limit {
				t.Errorf("response is %d bytes", len(r.Raw))
			}
			t.Logf("response %d bytes for %d bytes of output", len(r.Raw), n)
		})
	}
}

func hostileCompilerBombs(t *testing.T, s *Server, log *hostileLog) {
	cases := []struct{ name, code, message string }{
		// The compiler reads an endless file: its memory limit stops it.
		{"include /dev/zero", "#include \"/dev/zero\"\nint main() {}", "Compilation memory limit exceeded"},
		{"template recursion", "template<int N> struct F { enum { v = F<N-1>::v + F<N-2>::v }; };\ntemplate<> struct F<0> { enum { v = 0 }; };\ntemplate<> struct F<1> { enum { v = 1 }; };\nint main() { return F<100000>::v; }", "recursively required"},
		{"error flood", "#define A x x x x x x x x x x\n#define B A A A A A A A A A A\n#define C B B B B B B B B B B\n#define D C C C C C C C C C C\nint main() { D D D D D D D D D D }", "was not declared"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hostileRun(t, s, log, "compiler bomb ("+c.name+")", "cpp", c.code, nil)
			wantStatus(t, r, "compile_error")
			if !strings.Contains(r.Str("errorMessage"), c.message) || len(r.Raw) > 5<<20 {
				t.Errorf("want a message containing %q and a bounded answer (%d bytes): %.500s", c.message, len(r.Raw), r.Str("errorMessage"))
			}
		})
	}
}

// diskFillProbe tries to fill every mount point and a few usual paths, and says how much each
// took, the error that stopped it and the file system type.
const diskFillProbe = `
import errno, json, os
mounts = {}
for line in open('/proc/self/mounts'):
    dev, mnt, fs, opts = line.split()[:4]
    mounts[mnt] = fs
paths = set(mounts) | {'/', '/tmp', '/tmp/box', '/var/tmp', '/dev/shm', '/run', '/home', '/root', '/etc', '/usr', '/opt', '/var', '/codeexec'}
chunk = b'\0' * (1 << 20)
res = {}
for d in sorted(paths):
    if d.startswith('/proc') or d.startswith('/sys'):
        continue
    p = os.path.join(d, '.fill')
    n, err = 0, ''
    try:
        with open(p, 'wb', buffering=0) as f:
            while n < (512 << 20):
                n += f.write(chunk)
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
    res[d] = {'bytes': n, 'err': err, 'fs': mounts.get(d, '')}
    try:
        os.remove(p)
    except OSError:
        pass
print(json.dumps(res))
`

func hostileDiskFill(t *testing.T, s *Server, log *hostileLog) {
	r := hostileRun(t, s, log, "disk fill", "python", diskFillProbe, map[string]any{"timeLimitMs": 10000})
	wantStatus(t, r, "ok")
	var res map[string]struct {
		Bytes int64  `json:"bytes"`
		Err   string `json:"err"`
		FS    string `json:"fs"`
	}
	if err := json.Unmarshal([]byte(r.Str("stdout")), &res); err != nil {
		t.Fatalf("probe output: %v: %s", err, r.Raw)
	}
	var writable []string
	for path, p := range res {
		if p.Bytes == 0 {
			continue
		}
		writable = append(writable, fmt.Sprintf("%s (%s, %d MiB, stopped by %s)", path, p.FS, p.Bytes>>20, p.Err))
		// Anything writable must be memory (tmpfs), never the host's disk, and bounded: the
		// /tmp tmpfs is 64 MiB (python's tmpfsMb) and Docker's /dev/shm is 64 MiB.
		fs := p.FS
		if fs == "" && strings.HasPrefix(path, "/tmp") {
			fs = res["/tmp"].FS
		}
		if fs != "tmpfs" {
			t.Errorf("%s is writable and is %q, not tmpfs: %d bytes written", path, fs, p.Bytes)
		}
		if p.Bytes > 64<<20 || p.Err == "" {
			t.Errorf("%s took %d bytes (stopped by %q): not bounded by 64 MiB", path, p.Bytes, p.Err)
		}
	}
	sort.Strings(writable)
	t.Logf("writable paths: %s", strings.Join(writable, "; "))
	if res["/tmp"].Bytes < 32<<20 {
		t.Errorf("/tmp should be the writable tmpfs: %+v", res["/tmp"])
	}
	for _, p := range []string{"/", "/etc", "/usr", "/home", "/var", "/codeexec"} {
		if res[p].Bytes != 0 || res[p].Err == "" {
			t.Errorf("%s: %+v, want nothing written", p, res[p])
		}
	}
	// The run's memory cgroup paid for the tmpfs pages; the next run starts clean.
	next := s.Execute(t, "python", "import shutil\nprint(shutil.disk_usage('/tmp').used < (1 << 20))", nil)
	if next.Str("stdout") != "True\n" {
		t.Errorf("the next run's /tmp is not empty: %s", next.Raw)
	}
}

func hostileRootFS(t *testing.T, s *Server, log *hostileLog) {
	py := `
import errno, os
def tr(name, f):
    try:
        f()
        print(name, 'ALLOWED')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
tr('create /x', lambda: open('/x', 'w'))
tr('append /etc/passwd', lambda: open('/etc/passwd', 'a'))
tr('mkdir /usr/x', lambda: os.mkdir('/usr/x'))
tr('symlink /y', lambda: os.symlink('/tmp', '/y'))
tr('replace agent', lambda: open('/codeexec/agent', 'wb'))
tr('chmod /bin/sh', lambda: os.chmod('/bin/sh', 0o777))
tr('remove /bin/sh', lambda: os.remove('/bin/sh'))
`
	js := `
const fs = require('fs');
const tr = (name, f) => { try { f(); console.log(name, 'ALLOWED'); } catch (e) { console.log(name, e.code); } };
tr('create /x', () => fs.writeFileSync('/x', 'y'));
tr('append /etc/passwd', () => fs.appendFileSync('/etc/passwd', 'y'));
tr('mkdir /usr/x', () => fs.mkdirSync('/usr/x'));
tr('replace agent', () => fs.writeFileSync('/codeexec/agent', 'y'));
`
	for lang, code := range map[string]string{"python": py, "javascript": js} {
		t.Run(lang, func(t *testing.T) {
			r := hostileRun(t, s, log, "root fs write", lang, code, nil)
			wantStatus(t, r, "ok")
			out := strings.TrimSpace(r.Str("stdout"))
			for _, line := range strings.Split(out, "\n") {
				if !strings.HasSuffix(line, " EROFS") && !strings.HasSuffix(line, " EACCES") && !strings.HasSuffix(line, " EPERM") {
					t.Errorf("%s: want EROFS/EACCES/EPERM", line)
				}
			}
			t.Logf("%s", out)
		})
	}
}

// hostProcsWith counts host processes whose command line contains marker.
func hostProcsWith(marker string) int {
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(marker)) {
			n++
		}
	}
	return n
}

func hostileBackground(t *testing.T, s *Server, log *hostileLog) {
	// The marker is an argument of sleep, unique to this test run, to find the processes on the host.
	marker := fmt.Sprintf("%d", 900000+time.Now().UnixNano()%99999)
	cases := map[string]string{
		// A detached child in its own session holding stdout open, and a plain background child.
		"python":     fmt.Sprintf("import os, subprocess, time\nsubprocess.Popen(['sleep', '%s'])\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(%s)\n    os._exit(0)\nprint('main done')", marker, marker),
		"javascript": fmt.Sprintf("require('child_process').spawn('sleep', ['%s'], {detached: true, stdio: 'inherit'}).unref(); console.log('main done')", marker),
	}
	for _, lang := range []string{"python", "javascript"} {
		t.Run(lang, func(t *testing.T) {
			before := instanceContainers(t, s.Instance, lang)
			r := hostileRun(t, s, log, "background process", lang, cases[lang], map[string]any{"timeLimitMs": 3000})
			wantStatus(t, r, "ok")
			if r.Str("stdout") != "main done\n" {
				t.Errorf("stdout: %s", r.Raw)
			}
			// The answer does not wait for the child (limit: 3 s CPU, 7 s wall).
			if r.Num("wallTimeMs") > 1500 {
				t.Errorf("the answer waited %.0f ms for a background process", r.Num("wallTimeMs"))
			}
			// The children are gone, and so is the container they ran in.
			deadline := time.Now().Add(15 * time.Second)
			for {
				left := hostProcsWith("sleep\x00" + marker)
				gone := 0
				now := instanceContainers(t, s.Instance, lang)
				for id := range before {
					if !now[id] {
						gone++
					}
				}
				if left == 0 && gone >= 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("15 s after the answer: %d background processes alive, %d of the language's containers removed", left, gone)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// instanceContainers returns the IDs of an instance's containers of one language.
func instanceContainers(t testing.TB, instance, lang string) map[string]bool {
	cli := dockerClient(t)
	defer cli.Close()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", "codeexec.instance="+instance), filters.Arg("label", "codeexec.language="+lang))})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range list {
		ids[c.ID] = true
	}
	return ids
}

func hostileNetwork(t *testing.T, s *Server, log *hostileLog) {
	py := `
import socket
print(sorted(n for _, n in socket.if_nameindex()))
for host, port in [('1.1.1.1', 53), ('172.17.0.1', 2375), ('127.0.0.1', 3000)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print(host, 'CONNECTED')
    except OSError as e:
        print(host, type(e).__name__)
try:
    socket.getaddrinfo('example.com', 80)
    print('dns RESOLVED')
except OSError as e:
    print('dns', type(e).__name__)
`
	r := hostileRun(t, s, log, "network", "python", py, nil)
	wantStatus(t, r, "ok")
	out := r.Str("stdout")
	if !strings.HasPrefix(out, "['lo']\n") || strings.Contains(out, "CONNECTED") || strings.Contains(out, "RESOLVED") {
		t.Errorf("want only loopback and no connection: %s", out)
	}
	t.Logf("%s", out)
	js := `const os = require('os'); console.log(Object.keys(os.networkInterfaces()).sort().join(','));
require('net').connect(53, '1.1.1.1').on('connect', () => console.log('CONNECTED')).on('error', e => console.log(e.code));`
	r = hostileRun(t, s, log, "network", "javascript", js, nil)
	wantStatus(t, r, "ok")
	if out := r.Str("stdout"); strings.Contains(out, "CONNECTED") || strings.Contains(out, "eth") {
		t.Errorf("want only loopback and no connection: %s", out)
	}
	t.Logf("%s", r.Str("stdout"))
}

func hostilePrivileges(t *testing.T, s *Server, log *hostileLog) {
	hostilePrivilegesBut(t, s, log, nil, nil)
}

// hostilePrivilegesBut is hostilePrivileges without the checks of the fields in unseen: lines of
// /proc/self/status that a sandbox kernel does not show (their defence still holds where it is);
// and with the values of instead wanted for those fields, where a sandbox kernel answers otherwise.
func hostilePrivilegesBut(t *testing.T, s *Server, log *hostileLog, unseen map[string]string, instead map[string]any) {
	py := `
import errno, json, os, signal
st = {}
for line in open('/proc/self/status'):
    k, _, v = line.partition(':')
    st[k] = v.strip()
out = {k: st.get(k) for k in ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp']}
out['uid'], out['euid'], out['gid'], out['groups'] = os.getuid(), os.geteuid(), os.getgid(), os.getgroups()
out['sockets'] = [p for d in ['/run', '/var/run', '/tmp', '/'] if os.path.isdir(d)
                  for p in (os.path.join(d, n) for n in os.listdir(d)) if p.endswith('.sock')]
class Empty(Exception):
    pass
def empty():
    raise Empty()
def tr(name, f):
    if name in skip:
        return
    try:
        f()
        out[name] = 'ALLOWED'
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
    except Empty:
        out[name] = 'EMPTY'
tr('setuid0', lambda: os.setuid(0))
tr('readPid1Environ', lambda: open('/proc/1/environ', 'rb').read() or empty())
tr('readPid1Mem', lambda: open('/proc/1/mem', 'rb').read(1))
tr('ptracePid1Fd', lambda: os.listdir('/proc/1/fd'))
tr('openPid1Fd', lambda: os.open('/proc/1/fd/1', os.O_WRONLY))
out['mount'] = 'ALLOWED' if os.system('mount -t tmpfs x /tmp/box 2>/dev/null') == 0 else 'refused'
# PID 1 (the agent) is another user's: the kernel refuses the signal, and the answer arrives.
tr('killPid1', lambda: os.kill(1, signal.SIGKILL))
agent = {l.split(':')[0]: l.split()[1:] for l in open('/proc/1/status')}
out['agentThreads'] = agent['Threads'][0]
out['agentUid'], out['agentCapEff'] = agent['Uid'], agent.get('CapEff', ['?'])[0]
print(json.dumps(out))
`
	skip := []string{}
	for k := range unseen {
		skip = append(skip, k)
	}
	r := hostileRun(t, s, log, "privileges", "python", "skip = set("+pyList(skip)+")\n"+py, nil)
	wantStatus(t, r, "ok")
	var out map[string]any
	if err := json.Unmarshal([]byte(r.Str("stdout")), &out); err != nil {
		t.Fatalf("%v: %s", err, r.Raw)
	}
	t.Logf("%v", out)
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if _, ok := unseen[k]; ok {
			continue
		}
		if out[k] != "0000000000000000" {
			t.Errorf("%s = %v, want no capabilities", k, out[k])
		}
	}
	want := map[string]any{"uid": 10001.0, "euid": 10001.0, "gid": 10001.0, "NoNewPrivs": "1", "Seccomp": "2",
		"setuid0": "EPERM", "readPid1Environ": "EACCES", "readPid1Mem": "EACCES", "ptracePid1Fd": "EACCES",
		"openPid1Fd": "EACCES", "killPid1": "EPERM"}
	maps.Copy(want, instead)
	for k, v := range want {
		if _, ok := unseen[k]; ok {
			continue
		}
		if out[k] != v {
			t.Errorf("%s = %v, want %v", k, out[k], v)
		}
	}
	// The program and the agent are different users: were they one, the program could signal the
	// agent and, under gVisor (which ignores PR_SET_DUMPABLE), open its stdout.
	if uids, _ := out["agentUid"].([]any); len(uids) != 4 || slices.Contains(uids, any("10001")) {
		t.Errorf("the agent's uids (real, effective, saved, fs) %v: want none of them the program's 10001", out["agentUid"])
	}
	if groups, _ := out["groups"].([]any); len(groups) > 1 || len(groups) == 1 && groups[0] != 10001.0 {
		t.Errorf("the program's supplementary groups %v: want none but its own group", groups)
	}
	if socks, _ := out["sockets"].([]any); len(socks) != 0 {
		t.Errorf("sockets visible in the sandbox: %v", socks)
	}
	if out["mount"] == "ALLOWED" {
		t.Errorf("mount succeeded")
	}
	cpp := "#include <cstdio>\n#include <unistd.h>\n#include <sys/stat.h>\nint main() { struct stat st; printf(\"%d %d %d %d\\n\", getuid(), geteuid(), setuid(0), stat(\"/var/run/docker.sock\", &st)); }"
	r = hostileRun(t, s, log, "privileges", "cpp", cpp, nil)
	wantStatus(t, r, "ok")
	if r.Str("stdout") != "10001 10001 -1 -1\n" {
		t.Errorf("uid, euid, setuid(0), stat(docker.sock): %q", r.Str("stdout"))
	}
}

// hostileForgedAnswer: the program tries to write the agent's frames (its own output, a
// successful end of the step and of the job) into the agent's stdout, through /proc/1/fd and
// every thread's /proc/1/task/<tid>/fd, and to read the agent's environment the same ways. Each
// is refused (or, for gVisor's environ, finds it empty) and the answer is the program's own: a
// runtime error, without the forged output. Under gVisor, which ignores the agent being
// non-dumpable, the descriptors stay closed only because the program runs as another user than
// the agent.
func hostileForgedAnswer(t *testing.T, s *Server, log *hostileLog) {
	py := `
import errno, json, os, struct
def frame(kind, payload):
    return kind + struct.pack('>I', len(payload)) + payload
forged = (frame(b'o', b'FORGED\n') +
          frame(b'F', json.dumps({'outcome': 'exited', 'exitCode': 0}).encode()) +
          frame(b'D', b'{}'))
out = {}
def tr(name, f):
    try:
        out[name] = 'ALLOWED' if f() else 'EMPTY'
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
def write(p):
    fd = os.open(p, os.O_WRONLY)
    return os.write(fd, forged)
tasks = ['/proc/1'] + ['/proc/1/task/' + n for n in sorted(os.listdir('/proc/1/task'))]
for d in tasks:
    for fd in ('1', '2'):
        tr(d + '/fd/' + fd, lambda: write(d + '/fd/' + fd))
    tr(d + '/environ', lambda: open(d + '/environ', 'rb').read())  # EMPTY: nothing to read
print(json.dumps(out), flush=True)
raise SystemExit(3)
`
	r := hostileRun(t, s, log, "forged answer", "python", py, nil)
	wantStatus(t, r, "runtime_error")
	if r.Num("exitCode") != 3 || strings.Contains(r.Str("stdout")+r.Str("stderr"), "FORGED") {
		t.Errorf("the answer is not the program's own (exit 3, no forged output): %s", r.Raw)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(r.Str("stdout")), &out); err != nil {
		t.Fatalf("%v: %s", err, r.Raw)
	}
	t.Logf("%v", out)
	if len(out) < 6 { // /proc/1 and at least one thread, three tries each
		t.Errorf("too few tries: %v", out)
	}
	for what, got := range out {
		if got == "ALLOWED" {
			t.Errorf("%s: allowed", what)
		}
	}
	next := s.Execute(t, "python", programs["python"].hello, nil)
	if next.Str("stdout") != "hello\n" {
		t.Errorf("the request after: %s", next.Raw)
	}
}

func hostileIsolation(t *testing.T, s *Server, log *hostileLog) {
	nonce := fmt.Sprintf("n%d", time.Now().UnixNano())
	paths := []string{"/tmp/" + nonce, "/tmp/box/" + nonce, "/dev/shm/" + nonce}
	write := "import os\nfor p in " + pyList(paths) + ":\n    open(p, 'w').write('secret')\nprint(sorted(os.listdir('/tmp/box')))"
	r := hostileRun(t, s, log, "isolation between runs", "python", write, nil)
	wantStatus(t, r, "ok")
	for i := 0; i < 3; i++ { // enough runs to have gone through every warm container
		r = hostileRun(t, s, log, "isolation between runs", "python", "import os\nprint([os.path.exists(p) for p in "+pyList(paths)+"], sorted(os.listdir('/tmp/box')))", nil)
		if r.Str("stdout") != "[False, False, False] ['main.py']\n" {
			t.Errorf("a later run sees the files of an earlier one: %s", r.Str("stdout"))
		}
	}
	// Judge mode: the tests of one submission share a container, yet each starts from the files
	// as they were after compiling; what one test writes anywhere is gone in the next.
	snap := "import os\nprint([os.path.exists(p) for p in " + pyList(paths) + "], sorted(os.listdir('.')), sorted(os.listdir('/tmp')))\n" +
		"for p in " + pyList(paths) + ":\n    open(p, 'w').write('secret')\n" +
		"for d in ['/tmp', '/tmp/box']:\n    for n in os.listdir(d):\n        p = os.path.join(d, n)\n        if os.path.isdir(p) and n != 'box':\n            try:\n                open(os.path.join(p, 'planted'), 'w').write('x')\n            except OSError:\n                pass\n"
	begin := time.Now()
	r = s.Post(t, "/api/v1/execute", map[string]any{"language": "python", "code": snap, "tests": []map[string]any{{"stdin": ""}, {"stdin": ""}, {"stdin": ""}}})
	log.add("isolation between tests", "python", r.Str("status"), time.Since(begin))
	if r.Code != 200 {
		t.Fatalf("judge: HTTP %d %s", r.Code, r.Raw)
	}
	tests, _ := r.Result()["tests"].([]any)
	if len(tests) != 3 {
		t.Fatalf("judge: %s", r.Raw)
	}
	first := tests[0].(map[string]any)["stdout"]
	for i, tr := range tests {
		if out := tr.(map[string]any)["stdout"]; out != first || !strings.HasPrefix(out.(string), "[False, False, False] ['main.py']") {
			t.Errorf("test %d saw what an earlier test wrote: %q (first test: %q)", i+1, out, first)
		}
	}
	js := "const fs = require('fs'); console.log(" + pyList(paths) + ".map(p => fs.existsSync(p)).join(','))"
	r = hostileRun(t, s, log, "isolation between runs", "javascript", js, nil)
	if r.Str("stdout") != "false,false,false\n" {
		t.Errorf("another language sees the files: %s", r.Str("stdout"))
	}
}

func pyList(ss []string) string {
	b, _ := json.Marshal(ss)
	return string(b)
}

func hostileNames(t *testing.T, s *Server, log *hostileLog) {
	odd := []string{"-n.txt", "--help", "sp ace.txt", "ünï cödé ✓.txt", ".hidden", "deep/a/b/c/d.txt",
		"q'\"$(id)`x`;|&.txt", "*.txt", "lib/./x.txt", "%2e%2e/y.txt", "trailing/"}
	files := []map[string]any{{"filename": "main.py", "isEntryPoint": true, "code": `
import os
for root, dirs, names in os.walk('.'):
    for n in names:
        print(os.path.relpath(os.path.join(root, n), '.'))
`}}
	for _, n := range odd {
		if n == "trailing/" {
			n = "trailing/z.txt"
		}
		files = append(files, map[string]any{"filename": n, "code": "data " + n})
	}
	begin := time.Now()
	r := s.Post(t, "/api/v2/execute", map[string]any{"language": "python", "files": files})
	log.add("odd file names", "python", r.Str("status"), time.Since(begin))
	if r.Code != 200 {
		t.Fatalf("HTTP %d: %s", r.Code, r.Raw)
	}
	got := strings.Split(strings.TrimSpace(r.Str("stdout")), "\n")
	sort.Strings(got)
	want := []string{"main.py"}
	for _, n := range odd {
		switch n {
		case "lib/./x.txt":
			n = "lib/x.txt"
		case "trailing/":
			n = "trailing/z.txt"
		}
		want = append(want, n)
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files in the sandbox:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Entry points whose names look like options, or have spaces, still run (and compile).
	for _, c := range []struct{ lang, name, code string }{
		{"python", "-c.py", `print("dash")`},
		{"cpp", "my prog -O0.cpp", "#include <cstdio>\nint main() { puts(\"dash\"); }"},
		{"javascript", "--inspect.js", `console.log("dash")`},
	} {
		begin := time.Now()
		r := s.Post(t, "/api/v2/execute", map[string]any{"language": c.lang, "files": []map[string]any{{"filename": c.name, "code": c.code}}})
		log.add("odd entry name", c.lang, r.Str("status"), time.Since(begin))
		if r.Code != 200 || r.Str("stdout") != "dash\n" {
			t.Errorf("entry %q: HTTP %d %.800s", c.name, r.Code, r.Raw)
		}
	}
	// Symlinks the program plants only reach what its own user may reach anyway: the agent
	// writes the files before any user code runs, and nothing outside the container follows them.
	py := `
import errno, os
os.symlink('/etc/shadow', 'shadow')
os.symlink('/', 'root')
os.symlink('/proc/1/root', 'pid1root')
for p in ['shadow', 'root/etc/shadow', 'pid1root/etc/hostname']:
    try:
        open(p).read()
        print(p, 'READ')
    except OSError as e:
        print(p, errno.errorcode[e.errno])
`
	r = hostileRun(t, s, log, "planted symlinks", "python", py, nil)
	wantStatus(t, r, "ok")
	if strings.Contains(r.Str("stdout"), "READ") {
		t.Errorf("a planted symlink gave access: %s", r.Str("stdout"))
	}
	t.Logf("%s", r.Str("stdout"))
}

// hostileStdinData is exactly n bytes of UTF-8 text with line ends of both kinds, tabs, NUL
// bytes, and characters of 2, 3 and 4 bytes.
func hostileStdinData(n int) string {
	pieces := []string{"line ", "\r\n", "\t", "é", "€", "😀", "\x00", "z\n", "ÿ", "日本"}
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		p := pieces[i%len(pieces)]
		if b.Len()+len(p) > n {
			p = strings.Repeat("a", n-b.Len())
		}
		b.WriteString(p)
	}
	return b.String()
}

func hostileStdin(t *testing.T, s *Server, log *hostileLog) {
	const mib = 1 << 20
	data := hostileStdinData(mib)
	if len(data) != mib || !utf8.ValidString(data) {
		t.Fatalf("test data: %d bytes", len(data))
	}
	sum := sha256.Sum256([]byte(data))
	want := fmt.Sprintf("%d %s\n", mib, hex.EncodeToString(sum[:]))
	hashers := map[string]string{
		"python":     "import hashlib, sys\nb = sys.stdin.buffer.read()\nprint(len(b), hashlib.sha256(b).hexdigest())",
		"javascript": "const b = require('fs').readFileSync(0); console.log(b.length, require('crypto').createHash('sha256').update(b).digest('hex'))",
		"java": `import java.security.*; public class Main { public static void main(String[] a) throws Exception {
byte[] b = System.in.readAllBytes(); StringBuilder s = new StringBuilder();
for (byte x : MessageDigest.getInstance("SHA-256").digest(b)) s.append(String.format("%02x", x));
System.out.println(b.length + " " + s); } }`,
	}
	for _, lang := range []string{"python", "javascript", "java"} {
		t.Run("hash "+lang, func(t *testing.T) {
			r := hostileRun(t, s, log, "stdin 1 MiB (hash)", lang, hashers[lang], map[string]any{"stdin": data})
			wantStatus(t, r, "ok")
			if r.Str("stdout") != want {
				t.Errorf("got %q, want %q", r.Str("stdout"), want)
			}
		})
	}
	// Echoed back: exactly the output cap (server.outputLimitBytes is 1 MiB for stdout and
	// stderr together) is still a complete answer; one byte more is output_limit_exceeded.
	echo := "import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())"
	t.Run("echo at the cap", func(t *testing.T) {
		r := hostileRun(t, s, log, "stdin 1 MiB (echo)", "python", echo, map[string]any{"stdin": data})
		wantStatus(t, r, "ok")
		if r.Str("stdout") != data || r.Result()["truncated"] != false {
			t.Errorf("echo of 1 MiB is not byte-exact: %d bytes back, truncated=%v", len(r.Str("stdout")), r.Result()["truncated"])
		}
	})
	t.Run("echo past the cap", func(t *testing.T) {
		r := hostileRun(t, s, log, "stdin 1 MiB+1 (echo)", "python", echo, map[string]any{"stdin": data + "!"})
		wantStatus(t, r, "output_limit_exceeded")
		if r.Str("stdout") != data || r.Result()["truncated"] != true {
			t.Errorf("want the first 1 MiB exactly and truncated: %d bytes back", len(r.Str("stdout")))
		}
	})
}

func hostileEncoding(t *testing.T, s *Server, log *hostileLog) {
	bad := "A\xffB\xc3(C\xed\xa0\x80D\xf0\x9f\x98\x80E\xe2\x82\n"
	cases := []struct{ lang, code, stdout, stderr string }{
		{"python", `import sys
sys.stdout.buffer.write(b'A\xffB\xc3(C\xed\xa0\x80D\xf0\x9f\x98\x80E\xe2\x82\n')
sys.stderr.buffer.write(b'\xfe')`, bad, "\xfe"},
		{"javascript", `process.stdout.write(Buffer.from([0x41, 0xff, 0x42, 0xc3, 0x28, 0x43, 0xed, 0xa0, 0x80, 0x44, 0xf0, 0x9f, 0x98, 0x80, 0x45, 0xe2, 0x82, 0x0a])); process.stderr.write(Buffer.from([0xfe]))`, bad, "\xfe"},
		{"cpp", "#include <cstdio>\nint main() { fputs(\"A\\xff\" \"B\\xc3(C\\xed\\xa0\\x80\" \"D\\xf0\\x9f\\x98\\x80\" \"E\\xe2\\x82\\n\", stdout); fputs(\"\\xfe\", stderr); }", bad, "\xfe"},
	}
	for _, c := range cases {
		t.Run("invalid "+c.lang, func(t *testing.T) {
			r := hostileRun(t, s, log, "invalid UTF-8 output", c.lang, c.code, nil)
			if !json.Valid(r.Raw) {
				t.Fatalf("the answer is not valid JSON")
			}
			wantStatus(t, r, "ok")
			for _, f := range []struct{ name, raw string }{{"stdout", c.stdout}, {"stderr", c.stderr}} {
				if got := r.Str(f.name); got != strings.ToValidUTF8(f.raw, "\uFFFD") {
					t.Errorf("%s = %q, want U+FFFD in place of bad bytes: %q", f.name, got, strings.ToValidUTF8(f.raw, "\uFFFD"))
				}
				exact, err := base64.StdEncoding.DecodeString(r.Str(f.name + "Base64"))
				if err != nil || string(exact) != f.raw {
					t.Errorf("%sBase64 does not hold the exact bytes: %q (%v)", f.name, exact, err)
				}
			}
		})
	}
	uni := "héllo wörld ✓ 日本語 עברית 😀👩‍👩‍👧 \u200b\ufeff\u0000end\n"
	for _, c := range []struct{ lang, code string }{
		{"python", "import sys\nsys.stdout.write(sys.stdin.read())"},
		{"java", "public class Main { public static void main(String[] a) throws Exception { String s = new String(System.in.readAllBytes(), \"UTF-8\"); System.out.print(s); System.out.flush(); } }"},
	} {
		t.Run("unicode "+c.lang, func(t *testing.T) {
			r := hostileRun(t, s, log, "unicode output", c.lang, c.code, map[string]any{"stdin": uni})
			wantStatus(t, r, "ok")
			if r.Str("stdout") != uni || r.Str("stdoutBase64") != "" {
				t.Errorf("stdout %q (base64 %q), want %q", r.Str("stdout"), r.Str("stdoutBase64"), uni)
			}
		})
	}
}

func hostileBadRequests(t *testing.T, s *Server, log *hostileLog) {
	file := func(name string) map[string]any { return map[string]any{"filename": name, "code": "print(1)"} }
	many := make([]map[string]any, 1000)
	for i := range many {
		many[i] = file(fmt.Sprintf("f%d.py", i))
	}
	deep := `{"language": "python", "code": "x", "args": ` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	tests := make([]map[string]any, 101)
	for i := range tests {
		tests[i] = map[string]any{"stdin": ""}
	}
	cases := []struct {
		name, method, path string
		body               any
		code               int
		msg                string
	}{
		{"truncated JSON", "POST", "/api/v1/execute", `{"language": "python", "code": "print(1)"`, 400, "malformed JSON"},
		{"two values", "POST", "/api/v1/execute", `{"language": "python", "code": "x"} {}`, 400, "more than one value"},
		{"array body", "POST", "/api/v1/execute", `[1, 2]`, 400, "malformed JSON"},
		{"deep nesting", "POST", "/api/v1/execute", deep, 400, "malformed JSON"},
		{"null code", "POST", "/api/v1/execute", `{"language": "python", "code": null}`, 400, "code is required"},
		{"language not a string", "POST", "/api/v1/execute", `{"language": ["python"], "code": "x"}`, 400, `"language"`},
		{"number overflow", "POST", "/api/v1/execute", `{"language": "python", "code": "x", "timeLimitMs": 1e30}`, 400, "timeLimitMs"},
		{"fractional limit", "POST", "/api/v1/execute", `{"language": "python", "code": "x", "memoryLimitMb": 0.5}`, 400, "memoryLimitMb"},
		{"unknown language", "POST", "/api/v1/execute", map[string]any{"language": "brainfuck", "code": "+"}, 400, "unknown language"},
		{"language path", "POST", "/api/v1/execute", map[string]any{"language": "../python", "code": "x"}, 400, "unknown language"},
		{"empty language", "POST", "/api/v1/execute", map[string]any{"language": "", "code": "x"}, 400, "language is required"},
		{"time limit above max", "POST", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "timeLimitMs": 15001}, 400, "above the maximum 15000"},
		{"memory above max", "POST", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "memoryLimitMb": 1025}, 400, "above the maximum 1024"},
		{"memory below min", "POST", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "memoryLimitMb": 1}, 400, "at least"},
		{"stdin too large", "POST", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "stdin": strings.Repeat("s", 2<<20+1)}, 400, "stdin is"},
		{"NUL in args", "POST", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "args": []string{"a\x00b"}}, 400, "NUL"},
		{"too many args", "POST", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "args": make([]string, 600000)}, 400, "the limits are"},
		{"huge arg", "POST", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "args": []string{strings.Repeat("b", 3<<20)}}, 400, "the limits are"},
		{"too many tests", "POST", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "tests": tests}, 400, "the limit is 100"},
		{"huge body", "POST", "/api/v1/execute", `{"language": "python", "code": "` + strings.Repeat("x", 32<<20) + `"}`, 413, "larger than"},
		{"too many files", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": many}, 400, "the limit is 64"},
		{"traversal", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file("../../etc/passwd")}}, 400, "'..'"},
		{"traversal inside", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file("lib/../../x.py")}}, 400, "'..'"},
		{"traversal dot", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file("./../x.py")}}, 400, "'..'"},
		{"bare dot-dot", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file("..")}}, 400, "'..'"},
		{"absolute", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file("/tmp/box/main.py")}}, 400, "absolute"},
		{"backslash", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file(`..\..\x.py`)}}, 400, "backslash"},
		{"NUL in name", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file("a\x00.py")}}, 400, "NUL"},
		{"newline in name", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file("a\n.py")}}, 400, "control character"},
		{"dot name", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file("./")}}, 400, "names no file"},
		{"long name", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{file(strings.Repeat("n", 300))}}, 400, "longer than 255"},
		{"file and folder", "POST", "/api/v2/execute", map[string]any{"language": "python", "files": []any{
			map[string]any{"filename": "a", "code": "", "isEntryPoint": true}, file("a/b.py")}}, 400, "also used as a folder"},
		{"missing files", "POST", "/api/v2/execute", `{"language": "python"}`, 400, "files is required"},
		{"GET execute", "GET", "/api/v1/execute", nil, 405, "not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			begin := time.Now()
			var r *Response
			if c.method == "GET" {
				resp, err := http.Get(s.URL + c.path)
				if err != nil {
					t.Fatal(err)
				}
				r = readResponse(t, resp)
			} else {
				r = s.Post(t, c.path, c.body)
			}
			log.add("bad request ("+c.name+")", "-", fmt.Sprint(r.Code), time.Since(begin))
			if r.Code != c.code {
				t.Fatalf("HTTP %d, want %d: %.500s", r.Code, c.code, r.Raw)
			}
			msg, _ := r.Body["errorMessage"].(string)
			if r.Body["succeeded"] != false || !strings.Contains(msg, c.msg) {
				t.Errorf("want succeeded=false and a message containing %q: %.500s", c.msg, r.Raw)
			}
		})
	}
}
