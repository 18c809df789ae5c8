//go:build integration

package e2e

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// judgeVerdictPrograms read one word from stdin and then behave as that word says: "ok" prints
// the expected 42, "wa" prints 41, "tle" loops, "mle" allocates without end, "ole" prints
// without end, "re" exits 3. One submission with one test per word shows every run verdict,
// each test getting its own stdin and its own limits.
var judgeVerdictPrograms = map[string]string{
	"python": `import sys
w = sys.stdin.readline().strip()
if w == "ok": print(42)
elif w == "wa": print(41)
elif w == "tle":
    while True: pass
elif w == "mle":
    a = []
    while True: a.append(bytearray(16 << 20))
elif w == "ole":
    while True: print("x" * 1000)
elif w == "re": sys.exit(3)
`,
	"cpp": `#include <bits/stdc++.h>
int main() {
    std::string w; std::cin >> w;
    if (w == "ok") std::cout << 42 << std::endl;
    else if (w == "wa") std::cout << 41 << std::endl;
    else if (w == "tle") { volatile unsigned long x = 0; for (;;) x++; }
    else if (w == "mle") { std::vector<char*> v; for (;;) { char *p = new char[16 << 20]; memset(p, 1, 16 << 20); v.push_back(p); } }
    else if (w == "ole") { for (;;) std::cout << std::string(1000, 'x') << '\n'; }
    else if (w == "re") return 3;
}
`,
	"java": `import java.util.*;
public class Main {
    public static void main(String[] a) {
        String w = new Scanner(System.in).next();
        switch (w) {
            case "ok": System.out.println(42); break;
            case "wa": System.out.println(41); break;
            case "tle": { long x = 0; while (true) { x++; if (x == -1) break; } System.out.println(x); break; }
            case "mle": { List<long[]> l = new ArrayList<>(); while (true) l.add(new long[1 << 20]); }
            case "ole": { String s = "x".repeat(1000); while (true) System.out.println(s); }
            case "re": System.exit(3);
        }
    }
}
`,
}

var judgeCompileErrors = map[string]string{
	"python": "print(",
	"cpp":    "int main() { return undefined_name; }",
	"java":   "public class Main { public static void main(String[] a) { int x = \"s\"; } }",
}

// tests returns body["result"]["tests"].
func (r *Response) tests() []map[string]any {
	var out []map[string]any
	list, _ := r.Result()["tests"].([]any)
	for _, t := range list {
		out = append(out, t.(map[string]any))
	}
	return out
}

func TestJudge(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python", "cpp", "java"}, PoolSize: 2})
	t.Run("every verdict", func(t *testing.T) { testJudgeVerdicts(t, s) })
	t.Run("compile once, run many", func(t *testing.T) { testCompileOnce(t, s) })
	t.Run("measurements", func(t *testing.T) { testMeasurements(t, s) })
	t.Run("options", func(t *testing.T) { testJudgeOptions(t, s) })
	t.Run("batch", func(t *testing.T) { testBatch(t, s) })
}

func testJudgeVerdicts(t *testing.T, s *Server) {
	words := []string{"ok", "wa", "tle", "mle", "ole", "re"}
	want := []string{"accepted", "wrong_answer", "time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded", "runtime_error"}
	var tests []map[string]any
	for _, w := range words {
		tests = append(tests, map[string]any{"stdin": w + "\n", "expectedOutput": "42"})
	}
	for _, lang := range []string{"python", "cpp", "java"} {
		t.Run(lang, func(t *testing.T) {
			limits := map[string]any{"tests": tests, "timeLimitMs": 1000, "memoryLimitMb": 256}
			r := s.Execute(t, lang, judgeVerdictPrograms[lang], limits)
			got := r.tests()
			if len(got) != len(words) {
				t.Fatalf("%d test results, want %d: %.3000s", len(got), len(words), r.Raw)
			}
			for i, tr := range got {
				if tr["verdict"] != want[i] {
					t.Errorf("test %d (%s): verdict %v, want %s: %.500v", i+1, words[i], tr["verdict"], want[i], tr)
				}
				for _, f := range []string{"stdout", "stderr", "exitCode", "cpuTimeMs", "wallTimeMs", "memoryBytes"} {
					if _, ok := tr[f]; !ok {
						t.Errorf("test %d lacks %s", i+1, f)
					}
				}
			}
			// The overall verdict is the first failing test's; the counts say how many passed.
			if r.Result()["verdict"] != "wrong_answer" || r.Num("passed") != 1 || r.Num("total") != 6 {
				t.Errorf("overall: verdict %v passed %v total %v", r.Result()["verdict"], r.Result()["passed"], r.Result()["total"])
			}
			if got[0]["stdout"] != "42\n" || got[5]["exitCode"] != 3.0 {
				t.Errorf("stdout of ok %q, exit code of re %v", got[0]["stdout"], got[5]["exitCode"])
			}
			if out, _ := got[4]["stdout"].(string); got[4]["truncated"] != true || len(out) > 1<<20 {
				t.Errorf("output limit: truncated %v, %d bytes", got[4]["truncated"], len(out))
			}
			if cpu, _ := got[2]["cpuTimeMs"].(float64); cpu < 900 {
				t.Errorf("time limit test stopped after %.0f ms of CPU; the limit is 1000", cpu)
			}

			r = s.Execute(t, lang, judgeCompileErrors[lang], map[string]any{"tests": tests[:2]})
			if lang == "python" {
				// No compile step: every test fails on its own with the syntax error.
				if r.Result()["verdict"] != "runtime_error" || !strings.Contains(r.Str("stderr"), "SyntaxError") {
					t.Errorf("python syntax error: %.1000s", r.Raw)
				}
				return
			}
			if r.Result()["verdict"] != "compile_error" || r.Str("compileOutput") == "" || len(r.tests()) != 0 ||
				r.Num("passed") != 0 || r.Num("total") != 2 {
				t.Errorf("compile error: %.1500s", r.Raw)
			}
		})
	}
}

// testCompileOnce runs A+B with 100 tests in cpp and compares with one single run, timed the
// same way (a whole HTTP request, compile included).
func testCompileOnce(t *testing.T, s *Server) {
	const code = "#include <cstdio>\nint main() { long long a, b; if (scanf(\"%lld %lld\", &a, &b) != 2) return 1; printf(\"%lld\\n\", a + b); }"
	begin := time.Now()
	single := s.Execute(t, "cpp", code, map[string]any{"stdin": "1 2\n"})
	singleTook := time.Since(begin)
	if single.Str("stdout") != "3\n" {
		t.Fatalf("single run: %.1000s", single.Raw)
	}
	var tests []map[string]any
	for i := 0; i < 100; i++ {
		tests = append(tests, map[string]any{"stdin": fmt.Sprintf("%d %d\n", i, i*i), "expectedOutput": fmt.Sprint(i + i*i)})
	}
	begin = time.Now()
	r := s.Execute(t, "cpp", code, map[string]any{"tests": tests})
	manyTook := time.Since(begin)
	if r.Result()["verdict"] != "accepted" || r.Num("passed") != 100 || len(r.tests()) != 100 {
		t.Fatalf("100 tests: verdict %v passed %v: %.2000s", r.Result()["verdict"], r.Result()["passed"], r.Raw)
	}
	// One compile block for the whole submission, none per test.
	if strings.Count(string(r.Raw), `"compile":`) != 1 || r.Result()["compile"] == nil {
		t.Errorf("want exactly one compile block in the answer")
	}
	var runMs float64
	for _, tr := range r.tests() {
		runMs += tr["wallTimeMs"].(float64)
	}
	compile := r.Result()["compile"].(map[string]any)
	t.Logf("single A+B: %v (compile %.0f ms wall); 100 tests: %v (one compile %.0f ms wall, the 100 runs %.0f ms wall together) = %.1f × a single run",
		singleTook.Round(time.Millisecond), single.Result()["compile"].(map[string]any)["wallTimeMs"], manyTook.Round(time.Millisecond),
		compile["wallTimeMs"], runMs, float64(manyTook)/float64(singleTook))
	// Compiling 100 times would take at least 100 compiles; "well under 100 ×" is asserted as
	// under 10 ×, which fails loudly if tests were compiled one by one.
	if manyTook > 10*singleTook {
		t.Errorf("100 tests took %v, more than 10 × a single run (%v)", manyTook, singleTook)
	}
}

func testMeasurements(t *testing.T, s *Server) {
	t.Run("CPU time varies by at most 10 % over 20 runs", func(t *testing.T) {
		// About 130 ms of CPU; the result depends on the input so nothing is computed ahead.
		code := "#include <cstdio>\nint main() { unsigned n; scanf(\"%u\", &n); unsigned long long x = n; for (unsigned i = 0; i < 100000000u; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL; printf(\"%llu\\n\", x & 1); }"
		var tests []map[string]any
		for i := 0; i < 20; i++ {
			tests = append(tests, map[string]any{"stdin": fmt.Sprint(i)})
		}
		r := s.Execute(t, "cpp", code, map[string]any{"tests": tests})
		var cpu []float64
		for _, tr := range r.tests() {
			cpu = append(cpu, tr["cpuTimeMs"].(float64))
		}
		if len(cpu) != 20 || r.Result()["verdict"] != "accepted" {
			t.Fatalf("want 20 accepted runs: %.2000s", r.Raw)
		}
		mean, sd := meanSD(cpu)
		t.Logf("CPU time over 20 runs: mean %.1f ms, sd %.1f ms, CV %.2f %% (min %.1f, max %.1f)", mean, sd, 100*sd/mean, minOf(cpu), maxOf(cpu))
		if sd/mean > 0.10 {
			t.Errorf("coefficient of variation %.1f %% > 10 %%: %v", 100*sd/mean, cpu)
		}
	})
	t.Run("100 MB touched reports 100-130 MB", func(t *testing.T) {
		progs := map[string]string{
			"cpp":    "#include <bits/stdc++.h>\nint main() { std::vector<char> v(100 << 20); for (size_t i = 0; i < v.size(); i += 4096) v[i] = 1; printf(\"%d\\n\", v[v.size() / 2]); }",
			"python": "b = bytearray(100 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint(b[len(b) // 2])",
		}
		for lang, code := range progs {
			r := s.Execute(t, lang, code, nil)
			mb := r.Num("memoryBytes") / (1 << 20)
			t.Logf("%s: peak %.1f MB", lang, mb)
			if r.Str("status") != "ok" || mb < 100 || mb > 130 {
				t.Errorf("%s: status %s, peak %.1f MB, want 100-130", lang, r.Str("status"), mb)
			}
		}
	})
	t.Run("memory is each test's own peak", func(t *testing.T) {
		// Test 1 touches 100 MB, the others little but print ~900 KB each: neither the first
		// test's peak nor the outputs the agent holds may show up in later tests.
		code := "#include <bits/stdc++.h>\nint main() { int n; std::cin >> n; std::vector<char> v((size_t)n << 20); for (size_t i = 0; i < v.size(); i += 4096) v[i] = 1; std::string s(900 << 10, 'x'); puts(s.c_str()); }"
		tests := []map[string]any{{"stdin": "100"}}
		for i := 0; i < 19; i++ {
			tests = append(tests, map[string]any{"stdin": "0"})
		}
		r := s.Execute(t, "cpp", code, map[string]any{"tests": tests})
		got := r.tests()
		if len(got) != 20 {
			t.Fatalf("%.1000s", r.Raw)
		}
		first := got[0]["memoryBytes"].(float64) / (1 << 20)
		var later []float64
		for _, tr := range got[1:] {
			later = append(later, tr["memoryBytes"].(float64)/(1<<20))
		}
		t.Logf("test 1: %.1f MB; tests 2-20: %.1f to %.1f MB", first, minOf(later), maxOf(later))
		if first < 100 || maxOf(later) > 12 {
			t.Errorf("test 1 %.1f MB (want >= 100), later tests up to %.1f MB (want < 12): %v", first, maxOf(later), later)
		}
	})
	t.Run("sleeping 1 s under a 500 ms CPU limit is a wall-clock time limit", func(t *testing.T) {
		for _, lang := range []string{"python", "cpp"} {
			code := map[string]string{
				"python": "import time\ntime.sleep(1)\nprint('woke')",
				"cpp":    "#include <unistd.h>\n#include <cstdio>\nint main() { sleep(1); puts(\"woke\"); }",
			}[lang]
			r := s.Execute(t, lang, code, map[string]any{"timeLimitMs": 500, "tests": []map[string]any{{"stdin": "", "expectedOutput": "woke"}}})
			got := r.tests()
			if len(got) != 1 || got[0]["verdict"] != "time_limit_exceeded" || !strings.Contains(r.Str("errorMessage"), "wall clock") {
				t.Errorf("%s: %.1000s", lang, r.Raw)
				continue
			}
			if cpu := got[0]["cpuTimeMs"].(float64); cpu > 400 {
				t.Errorf("%s: a sleeping program used %.0f ms of CPU", lang, cpu)
			}
		}
	})
}

func testJudgeOptions(t *testing.T, s *Server) {
	py := func(code string, extra map[string]any) *Response { return s.Execute(t, "python", code, extra) }
	t.Run("compare trim and exact", func(t *testing.T) {
		code := "print('1 2  ')\nprint()\nprint()"
		tests := []map[string]any{{"stdin": "", "expectedOutput": "1 2\n"}}
		if r := py(code, map[string]any{"tests": tests}); r.Result()["verdict"] != "accepted" {
			t.Errorf("trim (the default) should ignore trailing spaces and blank lines: %.800s", r.Raw)
		}
		if r := py(code, map[string]any{"tests": tests, "compare": "exact"}); r.Result()["verdict"] != "wrong_answer" {
			t.Errorf("exact should not: %.800s", r.Raw)
		}
	})
	t.Run("stopOnFirstFailure", func(t *testing.T) {
		tests := []map[string]any{{"stdin": "1", "expectedOutput": "1"}, {"stdin": "2", "expectedOutput": "3"}, {"stdin": "4", "expectedOutput": "4"}}
		r := py("print(input())", map[string]any{"tests": tests, "stopOnFirstFailure": true})
		if len(r.tests()) != 2 || r.Result()["verdict"] != "wrong_answer" || r.Num("passed") != 1 || r.Num("total") != 3 {
			t.Errorf("want 2 reported tests, wrong_answer, 1 of 3 passed: %.1500s", r.Raw)
		}
		r = py("print(input())", map[string]any{"tests": tests})
		if len(r.tests()) != 3 || r.Num("passed") != 2 {
			t.Errorf("without it every test runs: %.1500s", r.Raw)
		}
	})
	t.Run("fresh files per test", func(t *testing.T) {
		code := "import os\nprint(os.path.exists('state'))\nopen('state', 'w').write('x')"
		r := py(code, map[string]any{"tests": []map[string]any{{"expectedOutput": "False"}, {"expectedOutput": "False"}}})
		if r.Result()["verdict"] != "accepted" {
			t.Errorf("a file written by test 1 was seen by test 2: %.1000s", r.Raw)
		}
	})
	t.Run("expected output never enters the sandbox", func(t *testing.T) {
		// The program looks everywhere it can read for the expected answer: files, every
		// process's command line and environment, its own stdin.
		code := `import os, sys
secret = b"EXPECTED-" + b"7f3a9c"
found = secret in sys.stdin.buffer.read()
for root, dirs, files in os.walk("/tmp"):
    for f in files:
        try: found |= secret in open(os.path.join(root, f), "rb").read()
        except Exception: pass
for p in os.listdir("/proc"):
    for f in ("cmdline", "environ"):
        try: found |= secret in open("/proc/%s/%s" % (p, f), "rb").read()
        except Exception: pass
print("found" if found else "not found")`
		r := py(code, map[string]any{"tests": []map[string]any{{"stdin": "", "expectedOutput": "EXPECTED-7f3a9c"}}})
		if got := r.tests(); len(got) != 1 || got[0]["stdout"] != "not found\n" || got[0]["verdict"] != "wrong_answer" {
			t.Errorf("%.1000s", r.Raw)
		}
	})
	t.Run("args", func(t *testing.T) {
		r := py("import sys\nprint(sys.argv[1:])", map[string]any{"args": []string{"a b", "-c"}})
		if r.Str("stdout") != "['a b', '-c']\n" {
			t.Errorf("args: %.800s", r.Raw)
		}
	})
	t.Run("bad judge input", func(t *testing.T) {
		many := make([]map[string]any, 101)
		for i := range many {
			many[i] = map[string]any{"stdin": ""}
		}
		for _, c := range []struct {
			body map[string]any
			msg  string
		}{
			{map[string]any{"language": "python", "code": "x", "tests": many}, "101 tests; the limit is 100"},
			{map[string]any{"language": "python", "code": "x", "compare": "fuzzy", "tests": many[:1]}, `compare must be "trim" or "exact"`},
			{map[string]any{"language": "python", "code": "x", "tests": []map[string]any{{"input": "1"}}}, `unknown field "input"`},
		} {
			r := s.Post(t, "/api/v1/execute", c.body)
			if msg, _ := r.Body["errorMessage"].(string); r.Code != 400 || !strings.Contains(msg, c.msg) || r.Body["succeeded"] != false {
				t.Errorf("want 400 with %q: HTTP %d %.500s", c.msg, r.Code, r.Raw)
			}
		}
	})
}

func testBatch(t *testing.T, s *Server) {
	// Each program prints when it started and ended; overlapping intervals show the batch ran
	// submissions at the same time.
	timed := "import time\nt0 = time.time()\ntime.sleep(1)\nprint(t0, time.time())"
	// Both python submissions must find a warm container, or one would wait for a refill.
	waitPoolReady(t, s, "python", 2)
	body := map[string]any{"submissions": []any{
		map[string]any{"language": "python", "code": timed},
		map[string]any{"language": "brainfuck", "code": "x"},
		map[string]any{"language": "python", "files": []map[string]any{{"filename": "m.py", "code": timed}}},
		map[string]any{"language": "python", "code": "x", "colour": 1},
		map[string]any{"language": "cpp", "code": "#include <cstdio>\nint main() { int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a + b); }",
			"tests": []map[string]any{{"stdin": "1 2", "expectedOutput": "3"}, {"stdin": "2 2", "expectedOutput": "5"}}},
		map[string]any{"language": "python", "code": "x", "timeLimitMs": 999999},
	}}
	r := s.Post(t, "/api/v1/batch", body)
	if r.Code != 200 || r.Body["succeeded"] != true {
		t.Fatalf("HTTP %d: %.2000s", r.Code, r.Raw)
	}
	results, _ := r.Body["results"].([]any)
	if len(results) != 6 {
		t.Fatalf("%d results, want 6: %.2000s", len(results), r.Raw)
	}
	entry := func(i int) map[string]any { return results[i].(map[string]any) }
	res := func(i int) map[string]any { m, _ := entry(i)["result"].(map[string]any); return m }
	for _, i := range []int{0, 2, 4} {
		if entry(i)["succeeded"] != true || res(i) == nil {
			t.Errorf("submission %d should have run: %v", i, entry(i))
		}
	}
	for i, want := range map[int]string{1: `unknown language "brainfuck"`, 3: `unknown field "colour"`, 5: "above the maximum"} {
		if msg, _ := entry(i)["errorMessage"].(string); entry(i)["succeeded"] != false || entry(i)["status"] != 400.0 || !strings.Contains(msg, want) || !strings.Contains(msg, fmt.Sprintf("submissions[%d]", i)) {
			t.Errorf("submission %d: want its own 400 naming it and %q: %v", i, want, entry(i))
		}
	}
	if res(4) != nil && (res(4)["verdict"] != "wrong_answer" || res(4)["passed"] != 1.0) {
		t.Errorf("cpp judge submission in a batch: %v", res(4))
	}
	var iv [2][2]float64
	for k, i := range []int{0, 2} {
		if res(i) == nil {
			return
		}
		if _, err := fmt.Sscan(res(i)["stdout"].(string), &iv[k][0], &iv[k][1]); err != nil {
			t.Fatalf("submission %d printed %q", i, res(i)["stdout"])
		}
	}
	if iv[0][0] >= iv[1][1] || iv[1][0] >= iv[0][1] {
		t.Errorf("submissions 0 and 2 did not overlap in time (%v): the batch ran them one after another", iv)
	}

	for _, c := range []struct {
		body any
		msg  string
	}{
		{map[string]any{"submissions": []any{}}, "submissions is required"},
		{map[string]any{"submissions": make([]map[string]any, 21)}, "21 submissions; the limit is 20"},
		{`{"submissions": [`, "malformed JSON"},
	} {
		r := s.Post(t, "/api/v1/batch", c.body)
		if msg, _ := r.Body["errorMessage"].(string); r.Code != 400 || !strings.Contains(msg, c.msg) {
			t.Errorf("want 400 with %q: HTTP %d %.300s", c.msg, r.Code, r.Raw)
		}
	}
}

func meanSD(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

// waitPoolReady waits until a language's pool has n warm containers.
func waitPoolReady(t *testing.T, s *Server, lang string, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := s.Get(t, "/api/v1/languages")
		for _, l := range parseArray(t, r.Raw) {
			if l["name"] == lang && l["poolReady"].(float64) >= float64(n) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s pool did not get %d warm containers in 90 s", lang, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
