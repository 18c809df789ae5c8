//go:build integration

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/codeexec/codeexec/config"
)

// shared is one server for the tests of this file; it starts on first use.
var (
	sharedOnce sync.Once
	shared     *Server
)

type program struct {
	hello string // prints "hello"
	echo  string // prints stdin upper-cased
	multi []map[string]any
}

var programs = map[string]program{
	"python": {
		hello: `print("hello")`,
		echo:  "import sys\nprint(sys.stdin.read().upper(), end='')",
		multi: []map[string]any{
			{"filename": "main.py", "code": "from lib.util import greet\nprint(greet())", "isEntryPoint": true},
			{"filename": "lib/util.py", "code": "def greet():\n    return 'multi'"},
		},
	},
	"javascript": {
		hello: `console.log("hello")`,
		echo:  "process.stdout.write(require('fs').readFileSync(0, 'utf8').toUpperCase())",
		multi: []map[string]any{
			{"filename": "main.js", "code": "console.log(require('./lib/util.js').greet())", "isEntryPoint": true},
			{"filename": "lib/util.js", "code": "exports.greet = () => 'multi'"},
		},
	},
	"ruby": {
		hello: `puts "hello"`,
		echo:  "print STDIN.read.upcase",
		multi: []map[string]any{
			{"filename": "main.rb", "code": "require_relative 'lib/util'\nputs greet", "isEntryPoint": true},
			{"filename": "lib/util.rb", "code": "def greet = 'multi'"},
		},
	},
	"go": {
		hello: "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello\") }",
		echo:  "package main\nimport (\"io\"; \"os\"; \"strings\")\nfunc main() { b, _ := io.ReadAll(os.Stdin); os.Stdout.WriteString(strings.ToUpper(string(b))) }",
		multi: []map[string]any{
			{"filename": "main.go", "code": "package main\nimport \"fmt\"\nfunc main() { fmt.Println(greet()) }", "isEntryPoint": true},
			{"filename": "greet.go", "code": "package main\nfunc greet() string { return \"multi\" }"},
		},
	},
	"cpp": {
		hello: "#include <iostream>\nint main() { std::cout << \"hello\" << std::endl; }",
		echo:  "#include <bits/stdc++.h>\nint main() { std::string s((std::istreambuf_iterator<char>(std::cin)), {}); for (auto &c : s) c = toupper(c); std::cout << s; }",
		multi: []map[string]any{
			{"filename": "main.cpp", "code": "#include <iostream>\n#include \"my-util+.h\"\nint main() { std::cout << greet() << std::endl; }", "isEntryPoint": true},
			{"filename": "my-util+.h", "code": "#include <string>\nstd::string greet();"},
			{"filename": "my-util+.cpp", "code": "#include \"my-util+.h\"\nstd::string greet() { return \"multi\"; }"},
		},
	},
	"java": {
		hello: "public class Main { public static void main(String[] a) { System.out.println(\"hello\"); } }",
		echo:  "public class Main { public static void main(String[] a) throws Exception { System.out.print(new String(System.in.readAllBytes()).toUpperCase()); } }",
		multi: []map[string]any{
			{"filename": "test.java", "code": "public class test { public static void main(String[] a) { System.out.println(Util.greet()); } }", "isEntryPoint": true},
			{"filename": "Util.java", "code": "public class Util { static String greet() { return \"multi\"; } }"},
		},
	},
}

func sharedServer(t *testing.T) *Server {
	sharedOnce.Do(func() {
		// Warm pools for the languages these tests use, not for every configured one.
		langs := []string{"python", "javascript", "ruby", "java", "go", "cpp"}
		shared = StartServer(t, ServerOptions{Languages: langs, PoolSize: 2})
	})
	if shared == nil {
		t.Fatal("shared server did not start")
	}
	return shared
}

// The shared server is stopped by the first test's cleanup; later tests start their own.
// To keep one server for the whole file, the tests below run as subtests of one test.
func TestExecute(t *testing.T) {
	s := sharedServer(t)
	t.Run("languages", func(t *testing.T) { testLanguages(t, s) })
	t.Run("statuses", func(t *testing.T) { testStatuses(t, s) })
	t.Run("bad requests", func(t *testing.T) { testBadRequests(t, s) })
	t.Run("endpoints", func(t *testing.T) { testEndpoints(t, s) })
}

func testLanguages(t *testing.T, s *Server) {
	for lang, p := range programs {
		t.Run(lang, func(t *testing.T) {
			r := s.Execute(t, lang, p.hello, nil)
			if r.Str("status") != "ok" || r.Str("stdout") != "hello\n" || r.Str("output") != "hello\n" {
				t.Errorf("hello: %s", r.Raw)
			}
			if r.Str("runTimeStatus") != "succeeded" || r.Str("jobId") == "" || r.Num("memoryBytes") <= 0 || r.Num("wallTimeMs") <= 0 {
				t.Errorf("hello: missing measurements: %s", r.Raw)
			}
			r = s.Execute(t, lang, p.echo, map[string]any{"stdin": "abc\nxyz\n"})
			if r.Str("stdout") != "ABC\nXYZ\n" {
				t.Errorf("stdin: got %q: %s", r.Str("stdout"), r.Raw)
			}
			r = s.Post(t, "/api/v2/execute", map[string]any{"language": lang, "files": p.multi})
			if r.Code != 200 || r.Str("stdout") != "multi\n" {
				t.Errorf("multi-file: HTTP %d %s", r.Code, r.Raw)
			}
		})
	}
}

func testStatuses(t *testing.T, s *Server) {
	cases := []struct {
		name, lang, code string
		extra            map[string]any
		status           string
		check            func(t *testing.T, r *Response)
	}{
		{name: "go compile error", lang: "go", code: "package main\nfunc main() { undefined() }", status: "compile_error",
			check: func(t *testing.T, r *Response) {
				if !strings.Contains(r.Str("compileOutput"), "undefined") || !strings.Contains(r.Str("errorMessage"), "undefined") {
					t.Errorf("compiler message missing: %s", r.Raw)
				}
			}},
		{name: "cpp compile error", lang: "cpp", code: "int main() { return x; }", status: "compile_error",
			check: func(t *testing.T, r *Response) {
				if !strings.Contains(r.Str("compileOutput"), "was not declared in this scope") {
					t.Errorf("compiler message missing: %s", r.Raw)
				}
			}},
		{name: "java compile error", lang: "java", code: "public class Main { public static void main(String[] a) { int x = \"s\"; } }", status: "compile_error",
			check: func(t *testing.T, r *Response) {
				if !strings.Contains(r.Str("compileOutput"), "incompatible types") {
					t.Errorf("compiler message missing: %s", r.Raw)
				}
			}},
		{name: "runtime error exit code", lang: "python", code: "import sys\nprint('bye', file=sys.stderr)\nsys.exit(3)", status: "runtime_error",
			check: func(t *testing.T, r *Response) {
				if r.Num("exitCode") != 3 || r.Str("stderr") != "bye\n" || r.Str("errorMessage") != "bye" || r.Str("runTimeStatus") != "Error" {
					t.Errorf("exit code 3 and stderr expected: %s", r.Raw)
				}
			}},
		{name: "runtime error exception", lang: "java", code: "public class Main { public static void main(String[] a) { throw new RuntimeException(\"boom\"); } }", status: "runtime_error",
			check: func(t *testing.T, r *Response) {
				if r.Num("exitCode") != 1 || !strings.Contains(r.Str("stderr"), "boom") {
					t.Errorf("exception expected: %s", r.Raw)
				}
			}},
		{name: "segfault signal", lang: "cpp", code: "int main() { volatile int *p = nullptr; return *p; }", status: "runtime_error",
			check: func(t *testing.T, r *Response) {
				if r.Str("signal") != "SIGSEGV" || r.Num("exitCode") != 139 {
					t.Errorf("SIGSEGV expected: %s", r.Raw)
				}
			}},
		{name: "cpu time limit", lang: "python", code: "while True: pass", extra: map[string]any{"timeLimitMs": 500}, status: "time_limit_exceeded",
			check: func(t *testing.T, r *Response) {
				if r.Num("cpuTimeMs") < 450 || r.Str("errorMessage") != "Time limit exceeded" {
					t.Errorf("stopped too early or wrong message: %s", r.Raw)
				}
			}},
		{name: "wall time limit", lang: "python", code: "import time\ntime.sleep(60)", extra: map[string]any{"timeLimitMs": 300}, status: "time_limit_exceeded",
			check: func(t *testing.T, r *Response) {
				if r.Num("wallTimeMs") > 10000 || !strings.Contains(r.Str("errorMessage"), "wall clock") {
					t.Errorf("sleep should be stopped by the wall limit: %s", r.Raw)
				}
			}},
		{name: "memory limit", lang: "python", code: "x = bytearray(400 << 20)\nprint(len(x))", extra: map[string]any{"memoryLimitMb": 128}, status: "memory_limit_exceeded",
			check: func(t *testing.T, r *Response) {
				if r.Str("errorMessage") != "Memory limit exceeded" {
					t.Errorf("message: %s", r.Raw)
				}
			}},
		{name: "memory within raised limit", lang: "python", code: "x = bytearray(300 << 20)\nprint(len(x) >> 20)", extra: map[string]any{"memoryLimitMb": 512}, status: "ok",
			check: func(t *testing.T, r *Response) {
				if r.Str("stdout") != "300\n" || r.Num("memoryBytes") < 300<<20 {
					t.Errorf("300 MB under a 512 MB limit should run: %s", r.Raw)
				}
			}},
		{name: "output cap", lang: "python", code: "while True: print('x' * 1000)", status: "output_limit_exceeded",
			check: func(t *testing.T, r *Response) {
				if r.Result()["truncated"] != true || len(r.Str("stdout")) > 1<<20 || len(r.Str("stdout")) < 1<<19 {
					t.Errorf("truncated output of at most the cap expected (got %d bytes)", len(r.Str("stdout")))
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Execute(t, c.lang, c.code, c.extra)
			if got := r.Str("status"); got != c.status {
				t.Fatalf("status %q, want %q: %.2000s", got, c.status, r.Raw)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

func testBadRequests(t *testing.T, s *Server) {
	big := strings.Repeat("x", 5<<20)
	files := func(fs ...map[string]any) map[string]any { return map[string]any{"language": "python", "files": fs} }
	f := func(name string, entry bool) map[string]any {
		return map[string]any{"filename": name, "code": "print(1)", "isEntryPoint": entry}
	}
	many := []map[string]any{}
	for i := 0; i < 65; i++ {
		many = append(many, f(fmt.Sprintf("f%d.py", i), i == 0))
	}
	cases := []struct {
		name, path string
		body       any
		code       int
		msg        string
	}{
		{"malformed JSON", "/api/v1/execute", `{"language": "python", "code": `, 400, "malformed JSON"},
		{"empty body", "/api/v1/execute", ``, 400, "body is empty"},
		{"wrong type", "/api/v1/execute", `{"language": 1, "code": "x"}`, 400, `"language"`},
		{"unknown field", "/api/v1/execute", `{"language": "python", "code": "x", "colour": 1}`, 400, "colour"},
		{"missing language", "/api/v1/execute", map[string]any{"code": "print(1)"}, 400, "language is required"},
		{"missing code", "/api/v1/execute", map[string]any{"language": "python"}, 400, "code is required"},
		{"unknown language", "/api/v1/execute", map[string]any{"language": "brainfuck", "code": "x"}, 400, `unknown language "brainfuck"`},
		{"time limit above max", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "timeLimitMs": 999999}, 400, "above the maximum"},
		{"memory above max", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "memoryLimitMb": 99999}, 400, "above the maximum"},
		{"negative limit", "/api/v1/execute", map[string]any{"language": "python", "code": "x", "timeLimitMs": -1}, 400, "positive"},
		{"body too large", "/api/v1/execute", map[string]any{"language": "python", "code": big}, 413, "larger than"},
		{"no files", "/api/v2/execute", map[string]any{"language": "python", "files": []any{}}, 400, "files is required"},
		{"absolute name", "/api/v2/execute", files(f("/etc/passwd", true)), 400, "absolute"},
		{"dot-dot name", "/api/v2/execute", files(f("../x.py", true)), 400, "'..'"},
		{"empty name", "/api/v2/execute", files(f("", true)), 400, "empty"},
		{"no entry point", "/api/v2/execute", files(f("a.py", false), f("b.py", false)), 400, "no entry point"},
		{"two entry points", "/api/v2/execute", files(f("a.py", true), f("b.py", true)), 400, "exactly one"},
		{"duplicate name", "/api/v2/execute", files(f("a.py", true), f("./a.py", false)), 400, "used twice"},
		{"too many files", "/api/v2/execute", files(many...), 400, "the limit is 64"},
		{"unknown route", "/api/v9/execute", `{}`, 404, "no route"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Post(t, c.path, c.body)
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

func testEndpoints(t *testing.T, s *Server) {
	if r := s.Get(t, "/health"); r.Code != 200 {
		t.Errorf("/health: %d", r.Code)
	}
	if r := s.Get(t, "/ready"); r.Code != 200 || r.Body["ready"] != true {
		t.Errorf("/ready: %d %s", r.Code, r.Raw)
	}
	r := s.Get(t, "/api/v1/languages")
	var names []string
	for _, l := range parseArray(t, r.Raw) {
		name := l["name"].(string)
		names = append(names, name)
		// The languages of these tests have warm pools of 2 (sharedServer); the others none.
		target := 0.0
		if _, ok := programs[name]; ok {
			target = 2
		}
		if l["poolTarget"].(float64) != target || l["version"] == "" {
			t.Errorf("language entry: %v", l)
		}
	}
	cfg, err := config.Load(filepath.Join(repoRoot, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(names, ","), strings.Join(cfg.LanguageNames(), ","); got != want {
		t.Errorf("languages: %s, want every configured one: %s", got, want)
	}
	m := s.Get(t, "/metrics")
	for _, want := range []string{"codeexec_pool_ready_containers{language=\"python\"}", "codeexec_execution_duration_seconds_bucket", "codeexec_executions_total{language=\"python\",status=\"ok\"}"} {
		if !strings.Contains(string(m.Raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
