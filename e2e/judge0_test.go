//go:build integration

package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
)

// j0 is a Judge0 answer: any JSON value.
type j0 struct {
	code int
	v    any
	raw  []byte
}

func (a j0) obj() map[string]any { m, _ := a.v.(map[string]any); return m }
func (a j0) arr() []any          { l, _ := a.v.([]any); return l }

// judge0Call sends a request to the Judge0 routes (prefix /judge0) and decodes any JSON answer.
func judge0Call(t *testing.T, s *Server, method, path string, body any) j0 {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.(string)
		if !ok {
			raw, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			b = string(raw)
		}
		rd = strings.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+"/judge0"+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := j0{code: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &a.v)
	return a
}

// status is an answer's status id.
func status(m map[string]any) int {
	st, _ := m["status"].(map[string]any)
	id, _ := st["id"].(float64)
	return int(id)
}

// pollJudge0 gets a submission until its status is past Processing, as a Judge0 client does.
func pollJudge0(t *testing.T, s *Server, token, query string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		a := judge0Call(t, s, "GET", "/submissions/"+token+"?"+query, nil)
		if a.code != 200 {
			t.Fatalf("GET submission %s: HTTP %d %s", token, a.code, a.raw)
		}
		if id := status(a.obj()); id > 2 || time.Now().After(deadline) {
			return a.obj()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

var (
	tokenPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	secondsPattern = regexp.MustCompile(`^\d+\.\d+$`)
)

// docsC is the C program of Judge0's documentation (create_a_submission.md); it is C++ too.
const docsC = "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}"

func TestJudge0API(t *testing.T) {
	callbacks := make(chan []byte, 4)
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		callbacks <- append([]byte(r.Method+" "), b...)
	}))
	defer listener.Close()
	s := StartServer(t, ServerOptions{Languages: []string{"python", "cpp"}, Edit: func(cfg map[string]any) {
		cfg["queue"].(map[string]any)["callbackAllow"] = []string{"127.0.0.1/32"}
	}})

	t.Run("hello with wait=true (the documentation's example)", func(t *testing.T) {
		a := judge0Call(t, s, "POST", "/submissions?wait=true", map[string]any{
			"source_code": docsC, "language_id": "54", "stdin": "Judge0", "expected_output": "hello, Judge0"})
		m := a.obj()
		if a.code != 201 || status(m) != 3 || m["stdout"] != "hello, Judge0\n" || m["stderr"] != nil || m["compile_output"] != nil || m["message"] != nil {
			t.Fatalf("HTTP %d %s", a.code, a.raw)
		}
		if got := strings.Join(keys(m), ","); got != "compile_output,memory,message,status,stderr,stdout,time,token" {
			t.Errorf("default fields %s", got)
		}
		if tm, _ := m["time"].(string); !secondsPattern.MatchString(tm) {
			t.Errorf("time %#v: want seconds as a string", m["time"])
		}
		if mem, _ := m["memory"].(float64); mem <= 0 || mem != float64(int(mem)) {
			t.Errorf("memory %v: want KB as an integer", m["memory"])
		}
		if st := m["status"].(map[string]any); st["description"] != "Accepted" {
			t.Errorf("status %v", st)
		}
		if tok, _ := m["token"].(string); !tokenPattern.MatchString(tok) {
			t.Errorf("token %v", m["token"])
		}
		// The token stays: a later GET answers the same.
		if again := pollJudge0(t, s, m["token"].(string), ""); again["stdout"] != "hello, Judge0\n" || status(again) != 3 {
			t.Errorf("GET after wait=true: %v", again)
		}
	})

	t.Run("async create and poll with base64", func(t *testing.T) {
		src := base64.StdEncoding.EncodeToString([]byte(docsC))
		a := judge0Call(t, s, "POST", "/submissions?base64_encoded=true&wait=false", map[string]any{
			"source_code": src, "language_id": 54, "stdin": "SnVkZ2Uw"})
		if a.code != 201 || len(a.obj()) != 1 || !tokenPattern.MatchString(a.obj()["token"].(string)) {
			t.Fatalf("create: HTTP %d %s", a.code, a.raw)
		}
		m := pollJudge0(t, s, a.obj()["token"].(string), "base64_encoded=true")
		// Ruby's encode64: a line break at the end.
		if status(m) != 3 || m["stdout"] != "aGVsbG8sIEp1ZGdlMAo=\n" {
			t.Errorf("polled: %v", m)
		}
	})

	t.Run("batch create and get", func(t *testing.T) {
		a := judge0Call(t, s, "POST", "/submissions/batch", map[string]any{"submissions": []map[string]any{
			{"language_id": 71, "source_code": `print("hello from Python")`},
			{"language_id": 123456789, "source_code": `print("hello from Python")`},
			{"language_id": 54, "source_code": ""},
			{"language_id": 105, "source_code": "#include <iostream>\nint main() { std::cout << \"hello from C++\\n\"; }"},
		}})
		items := a.arr()
		if a.code != 201 || len(items) != 4 {
			t.Fatalf("HTTP %d %s", a.code, a.raw)
		}
		if e := mustJSON(items[1]); e != `{"language_id":["language with id 123456789 doesn't exist"]}` {
			t.Errorf("item 2: %s", e)
		}
		if e := mustJSON(items[2]); e != `{"source_code":["can't be blank"]}` {
			t.Errorf("item 3: %s", e)
		}
		tokens := []string{items[0].(map[string]any)["token"].(string), "not-a-token", items[3].(map[string]any)["token"].(string)}
		var subs []any
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			g := judge0Call(t, s, "GET", "/submissions/batch?tokens="+strings.Join(tokens, ",")+"&fields=token,stdout,status_id,language_id", nil)
			if g.code != 200 {
				t.Fatalf("batch get: HTTP %d %s", g.code, g.raw)
			}
			subs = g.obj()["submissions"].([]any)
			if subs[0].(map[string]any)["status_id"].(float64) > 2 && subs[2].(map[string]any)["status_id"].(float64) > 2 {
				break
			}
		}
		first, third := subs[0].(map[string]any), subs[2].(map[string]any)
		if first["stdout"] != "hello from Python\n" || first["status_id"] != 3.0 || first["language_id"] != 71.0 || len(first) != 4 {
			t.Errorf("first: %v", first)
		}
		if subs[1] != nil {
			t.Errorf("unknown token: %v, want null", subs[1])
		}
		if third["stdout"] != "hello from C++\n" || third["language_id"] != 105.0 {
			t.Errorf("third: %v", third)
		}
		bad := judge0Call(t, s, "POST", "/submissions/batch", map[string]any{"submissions": []map[string]any{{"language_id": 1}}})
		if bad.code != 422 {
			t.Errorf("all invalid: HTTP %d %s, want 422", bad.code, bad.raw)
		}
		many := make([]map[string]any, 21)
		for i := range many {
			many[i] = map[string]any{"language_id": 71, "source_code": "print(1)"}
		}
		if big := judge0Call(t, s, "POST", "/submissions/batch", map[string]any{"submissions": many}); big.code != 400 ||
			big.obj()["error"] != "number of submissions in a batch should be less than or equal to 20" {
			t.Errorf("21 submissions: HTTP %d %s", big.code, big.raw)
		}
	})

	run := func(t *testing.T, body map[string]any, query string) map[string]any {
		t.Helper()
		a := judge0Call(t, s, "POST", "/submissions?wait=true"+query, body)
		if a.code != 201 {
			t.Fatalf("HTTP %d %s", a.code, a.raw)
		}
		return a.obj()
	}

	t.Run("compile error", func(t *testing.T) {
		m := run(t, map[string]any{"language_id": 54, "source_code": "int main() { return x; }"}, "&fields=*")
		if status(m) != 6 || !strings.Contains(m["compile_output"].(string), "not declared") || m["stdout"] != nil || m["time"] != nil || m["exit_code"] != nil {
			t.Errorf("%v", m)
		}
		if st := m["status"].(map[string]any); st["description"] != "Compilation Error" {
			t.Errorf("status %v", st)
		}
	})

	t.Run("runtime error per signal", func(t *testing.T) {
		cases := []struct {
			name, code string
			status     int
			signal     float64
			desc       string
		}{
			{"SIGSEGV", "int main() { volatile int *p = 0; *p = 1; }", 7, 11, "Runtime Error (SIGSEGV)"},
			{"SIGXFSZ", "#include <csignal>\nint main() { std::raise(SIGXFSZ); }", 8, 25, "Runtime Error (SIGXFSZ)"},
			{"SIGFPE", "int main() { volatile int one = 1, z = 0; return one / z; }", 9, 8, "Runtime Error (SIGFPE)"},
			{"SIGABRT", "#include <cstdlib>\nint main() { std::abort(); }", 10, 6, "Runtime Error (SIGABRT)"},
			{"other signal", "#include <csignal>\nint main() { std::raise(SIGUSR1); }", 12, 10, "Runtime Error (Other)"},
		}
		for _, c := range cases {
			m := run(t, map[string]any{"language_id": 54, "source_code": c.code}, "&fields=status,exit_signal,exit_code,message")
			if status(m) != c.status || m["exit_signal"] != c.signal || m["status"].(map[string]any)["description"] != c.desc || m["exit_code"] != 0.0 {
				t.Errorf("%s: %v", c.name, m)
			}
		}
		m := run(t, map[string]any{"language_id": 71, "source_code": "import sys\nprint('out')\nsys.exit(3)"}, "&fields=status,exit_code,exit_signal,stdout,message")
		if status(m) != 11 || m["exit_code"] != 3.0 || m["exit_signal"] != nil || m["stdout"] != "out\n" || m["message"] != "Exited with error status 3" {
			t.Errorf("NZEC: %v", m)
		}
	})

	t.Run("time limit exceeded", func(t *testing.T) {
		m := run(t, map[string]any{"language_id": 71, "source_code": "while True: pass", "cpu_time_limit": 0.5}, "&fields=status,time,message")
		if status(m) != 5 || m["status"].(map[string]any)["description"] != "Time Limit Exceeded" {
			t.Errorf("%v", m)
		}
	})

	t.Run("wrong answer and the trailing-space rule", func(t *testing.T) {
		m := run(t, map[string]any{"language_id": 71, "source_code": "print('hello  ')\nprint()", "expected_output": "hello"}, "")
		if status(m) != 3 {
			t.Errorf("trailing white space: %v", m)
		}
		m = run(t, map[string]any{"language_id": 71, "source_code": "print(' hello')", "expected_output": "hello"}, "")
		if status(m) != 4 || m["status"].(map[string]any)["description"] != "Wrong Answer" || m["stdout"] != " hello\n" {
			t.Errorf("leading white space: %v", m)
		}
	})

	t.Run("fields", func(t *testing.T) {
		m := run(t, map[string]any{"language_id": 71, "source_code": "print(1)", "stdin": "x", "command_line_arguments": "a 'b c'"}, "&fields=*")
		if len(m) != 35 {
			t.Errorf("fields=* gave %d fields: %v", len(m), keys(m))
		}
		lang, _ := m["language"].(map[string]any)
		if m["source_code"] != "print(1)" || m["stdin"] != "x" || m["language_id"] != 71.0 || m["status_id"] != 3.0 ||
			lang["id"] != 71.0 || !strings.HasPrefix(lang["name"].(string), "Python (3.") || m["number_of_runs"] != 1.0 ||
			m["exit_code"] != 0.0 || m["command_line_arguments"] != "a 'b c'" || m["enable_network"] != false {
			t.Errorf("fields=*: %v", m)
		}
		for _, f := range []string{"created_at", "finished_at"} {
			if _, err := time.Parse(time.RFC3339, m[f].(string)); err != nil {
				t.Errorf("%s %v: %v", f, m[f], err)
			}
		}
		if w, _ := m["wall_time"].(string); !secondsPattern.MatchString(w) {
			t.Errorf("wall_time %v", m["wall_time"])
		}
		tok := m["token"].(string)
		bad := judge0Call(t, s, "GET", "/submissions/"+tok+"?fields=stdout,nope,worse", nil)
		if bad.code != 400 || bad.obj()["error"] != "invalid fields: [nope, worse]" {
			t.Errorf("bad fields: HTTP %d %s", bad.code, bad.raw)
		}
	})

	t.Run("additional_files", func(t *testing.T) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("lib/helper.py")
		_, _ = w.Write([]byte("GREETING = 'from the zip'\n"))
		w, _ = zw.Create("data.txt")
		_, _ = w.Write([]byte("42\n"))
		_ = zw.Close()
		m := run(t, map[string]any{"language_id": 71, "additional_files": base64.StdEncoding.EncodeToString(buf.Bytes()),
			"source_code": "from lib.helper import GREETING\nprint(GREETING, open('data.txt').read().strip())"}, "")
		if status(m) != 3 || m["stdout"] != "from the zip 42\n" {
			t.Errorf("%v", m)
		}
		buf.Reset()
		zw = zip.NewWriter(&buf)
		w, _ = zw.Create("../escape.py")
		_, _ = w.Write([]byte("x"))
		_ = zw.Close()
		a := judge0Call(t, s, "POST", "/submissions", map[string]any{"language_id": 71, "source_code": "print(1)", "additional_files": base64.StdEncoding.EncodeToString(buf.Bytes())})
		if a.code != 422 || !strings.Contains(string(a.raw), `"additional_files":["files[1]: file name \"../escape.py\" contains '..'"]`) {
			t.Errorf("../ in the zip: HTTP %d %s", a.code, a.raw)
		}
	})

	t.Run("callback", func(t *testing.T) {
		a := judge0Call(t, s, "POST", "/submissions", map[string]any{"language_id": 71, "source_code": "print('called back')", "callback_url": listener.URL + "/done"})
		if a.code != 201 {
			t.Fatalf("HTTP %d %s", a.code, a.raw)
		}
		select {
		case got := <-callbacks:
			method, body, _ := strings.Cut(string(got), " ")
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("callback body %q: %v", body, err)
			}
			// Judge0 sends the default fields, base64-encoded, with PUT.
			stdout, _ := base64.StdEncoding.DecodeString(m["stdout"].(string))
			if method != "PUT" || m["token"] != a.obj()["token"] || status(m) != 3 || string(stdout) != "called back\n" || len(m) != 8 {
				t.Errorf("callback %s %v", method, m)
			}
		case <-time.After(time.Minute):
			t.Fatal("no callback within a minute")
		}
	})

	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			body map[string]any
			want string
		}{
			{map[string]any{"source_code": docsC}, `{"language_id":["can't be blank","language with id  doesn't exist"]}`},
			{map[string]any{"source_code": docsC, "language_id": 150000, "stdin": "world", "expected_output": "hello, world"}, `{"language_id":["language with id 150000 doesn't exist"]}`},
			{map[string]any{"source_code": docsC, "language_id": 54, "wall_time_limit": 100000}, `{"wall_time_limit":["must be less than or equal to 22.7"]}`},
			{map[string]any{"source_code": "", "language_id": 71}, `{"source_code":["can't be blank"]}`},
			{map[string]any{"source_code": "print(1)", "language_id": 71, "enable_network": true}, `{"enable_network":["enabling network is not allowed"]}`},
			{map[string]any{"source_code": "print(1)", "language_id": 71, "memory_limit": 1000}, `{"memory_limit":["must be greater than or equal to 32768"]}`},
			{map[string]any{"source_code": "print(1)", "language_id": 71, "cpu_time_limit": 100}, `{"cpu_time_limit":["must be less than or equal to 15"]}`},
			{map[string]any{"source_code": "print(1)", "language_id": 71, "number_of_runs": 21}, `{"number_of_runs":["must be less than or equal to 20"]}`},
			{map[string]any{"source_code": "x", "language_id": 54, "compiler_options": "-O3"}, `{"compiler_options":["setting compiler options is not allowed"]}`},
			{map[string]any{"source_code": "print(1)", "language_id": 71, "callback_url": "http://169.254.169.254/latest/meta-data"}, `{"callback_url":["host 169.254.169.254 is not in the server's callback allow-list (queue.callbackAllow)"]}`},
			{map[string]any{"source_code": "print(1)", "language_id": 71, "enable_per_process_and_thread_time_limit": true}, `{"enable_per_process_and_thread_time_limit":["this option cannot be enabled"]}`},
		}
		for _, c := range cases {
			a := judge0Call(t, s, "POST", "/submissions", c.body)
			if a.code != 422 || strings.TrimSpace(string(a.raw)) != c.want {
				t.Errorf("%v: HTTP %d %s, want 422 %s", c.body, a.code, a.raw, c.want)
			}
		}
		if a := judge0Call(t, s, "GET", "/submissions/00000000-0000-0000-0000-000000000000", nil); a.code != 404 {
			t.Errorf("unknown token: HTTP %d %s", a.code, a.raw)
		}
		// Output that is not UTF-8: Judge0's message, and the bytes with base64_encoded=true.
		a := judge0Call(t, s, "POST", "/submissions?wait=true", map[string]any{"language_id": 71, "source_code": "import sys\nsys.stdout.buffer.write(b'\\xfe')"})
		if a.code != 201 || a.obj()["error"] != "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter" || a.obj()["token"] == nil {
			t.Fatalf("not UTF-8 with wait=true: HTTP %d %s", a.code, a.raw)
		}
		tok := a.obj()["token"].(string)
		if g := judge0Call(t, s, "GET", "/submissions/"+tok, nil); g.code != 400 || !strings.Contains(g.obj()["error"].(string), "cannot be converted to UTF-8") {
			t.Errorf("GET not UTF-8: HTTP %d %s", g.code, g.raw)
		}
		if g := judge0Call(t, s, "GET", "/submissions/"+tok+"?base64_encoded=true", nil); g.code != 200 || g.obj()["stdout"] != "/g==\n" {
			t.Errorf("GET base64: HTTP %d %s", g.code, g.raw)
		}
	})

	t.Run("languages, statuses, about, config_info, workers", func(t *testing.T) {
		langs := judge0Call(t, s, "GET", "/languages", nil)
		ids := map[float64]string{}
		for _, l := range langs.arr() {
			m := l.(map[string]any)
			ids[m["id"].(float64)] = m["name"].(string)
		}
		for _, id := range []float64{71, 113, 63, 102, 62, 60, 107, 54, 105, 72} {
			if ids[id] == "" {
				t.Errorf("/languages lacks id %v: %s", id, langs.raw)
			}
		}
		if !strings.HasPrefix(ids[54], "C++ (GCC ") || !strings.HasPrefix(ids[63], "JavaScript (Node.js ") {
			t.Errorf("names: %v", ids)
		}
		all := judge0Call(t, s, "GET", "/languages/all", nil)
		if len(all.arr()) != len(langs.arr()) || all.arr()[0].(map[string]any)["is_archived"] != false {
			t.Errorf("/languages/all: %s", all.raw)
		}
		one := judge0Call(t, s, "GET", "/languages/54", nil).obj()
		if one["source_file"] != "main.cpp" || !strings.HasPrefix(one["compile_cmd"].(string), "g++ ") || one["run_cmd"] == "" {
			t.Errorf("/languages/54: %v", one)
		}
		if py := judge0Call(t, s, "GET", "/languages/71", nil).obj(); py["compile_cmd"] != nil {
			t.Errorf("/languages/71: %v", py)
		}
		if a := judge0Call(t, s, "GET", "/languages/4", nil); a.code != 404 {
			t.Errorf("/languages/4: HTTP %d", a.code)
		}
		st := judge0Call(t, s, "GET", "/statuses", nil).arr()
		if len(st) != 14 || mustJSON(st[0]) != `{"description":"In Queue","id":1}` || mustJSON(st[13]) != `{"description":"Exec Format Error","id":14}` {
			t.Errorf("/statuses: %v", st)
		}
		about := judge0Call(t, s, "GET", "/about", nil).obj()
		if about["version"] != "1.13.1" || about["codeexec_version"] == nil {
			t.Errorf("/about: %v", about)
		}
		// Judge0's limits are one set for every language: ours is the one that holds for all of them.
		cfg, err := config.Load(filepath.Join(repoRoot, "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		maxMemKB := int64(math.MaxInt64)
		for _, l := range cfg.Languages {
			maxMemKB = min(maxMemKB, l.MaxMemoryMB<<10)
		}
		ci := judge0Call(t, s, "GET", "/config_info", nil).obj()
		if ci["max_cpu_time_limit"] != 15.0 || ci["cpu_time_limit"] != 3.0 || ci["max_memory_limit"] != float64(maxMemKB) || ci["enable_callbacks"] != true ||
			ci["max_submission_batch_size"] != 20.0 || ci["allow_enable_network"] != false || ci["enable_wait_result"] != true || len(ci) != 39 {
			t.Errorf("/config_info: %v", ci)
		}
		w := judge0Call(t, s, "GET", "/workers", nil).arr()
		if len(w) != 1 || w[0].(map[string]any)["available"] != 4.0 {
			t.Errorf("/workers: %v", w)
		}
	})

	t.Run("an unchanged Judge0 client flow (node, from the docs)", func(t *testing.T) {
		testJudge0Client(t, s)
	})
}

// testJudge0Client runs e2e/judge0/client.mjs, a client written from Judge0's documentation in
// JavaScript with nothing of ours but the base URL.
func testJudge0Client(t *testing.T, s *Server) {
	node := exec.Command("node", filepath.Join(repoRoot, "e2e", "judge0", "client.mjs"))
	node.Env = append(os.Environ(), "JUDGE0_URL="+s.URL+"/judge0")
	node.Stderr = os.Stderr
	raw, err := node.Output()
	if err != nil {
		t.Fatalf("node client.mjs: %v\n%s", err, raw)
	}
	var out struct {
		About   map[string]any
		Created struct {
			Status int
			JSON   map[string]any `json:"json"`
		}
		Polled       map[string]any
		PolledStdout string
		Waited       map[string]any
		BatchCreated struct {
			Status int
			JSON   []map[string]any `json:"json"`
		}
		BatchShown []map[string]any
		NoLanguage struct {
			Status int
			JSON   map[string]any `json:"json"`
		}
		UnknownToken struct{ Status int }
		BadFields    struct {
			Status int
			JSON   map[string]any `json:"json"`
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if out.About["version"] != "1.13.1" {
		t.Errorf("about: %v", out.About)
	}
	if out.Created.Status != 201 || status(out.Polled) != 3 || out.PolledStdout != "hello, Judge0\n" || out.Polled["language_id"] != 71.0 {
		t.Errorf("create and poll: %v / %v / %q", out.Created, out.Polled, out.PolledStdout)
	}
	if status(out.Waited) != 3 || out.Waited["stdout"] != "42\n" {
		t.Errorf("wait=true: %v", out.Waited)
	}
	if out.BatchCreated.Status != 201 || len(out.BatchCreated.JSON) != 3 || out.BatchCreated.JSON[1]["language_id"] == nil {
		t.Errorf("batch create: %v", out.BatchCreated)
	}
	if len(out.BatchShown) != 2 || out.BatchShown[0]["stdout"] != "hello from Python\n" || out.BatchShown[0]["status_id"] != 3.0 ||
		out.BatchShown[1]["status_id"] != 11.0 || out.BatchShown[1]["exit_code"] != 3.0 ||
		out.BatchShown[0]["created"] != true || out.BatchShown[0]["finished"] != true {
		t.Errorf("batch get: %v", out.BatchShown)
	}
	if out.NoLanguage.Status != 422 || out.NoLanguage.JSON["language_id"] == nil {
		t.Errorf("no language: %v", out.NoLanguage)
	}
	if out.UnknownToken.Status != 404 || out.BadFields.Status != 400 || out.BadFields.JSON["error"] != "invalid fields: [nope]" {
		t.Errorf("errors: %v %v", out.UnknownToken, out.BadFields)
	}
}

// TestJudge0QueueFull fills a one-place queue: Judge0's 503.
func TestJudge0QueueFull(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, Edit: func(cfg map[string]any) {
		cfg["server"].(map[string]any)["maxConcurrent"] = 1
		// The queue holds the jobs not finished: the one running and the one waiting.
		cfg["queue"].(map[string]any)["maxPending"] = 2
	}})
	// It runs longer than the workers' heartbeat period, so /workers sees it running.
	slow := map[string]any{"language_id": 71, "source_code": "import time\ntime.sleep(3)", "cpu_time_limit": 3}
	first := judge0Call(t, s, "POST", "/submissions", slow)
	if first.code != 201 {
		t.Fatalf("first: HTTP %d %s", first.code, first.raw)
	}
	// Once the one worker runs the first, one more may wait and the next is refused.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if m := judge0Call(t, s, "GET", "/submissions/"+first.obj()["token"].(string), nil).obj(); status(m) != 1 || time.Now().After(deadline) {
			break
		}
	}
	if second := judge0Call(t, s, "POST", "/submissions", slow); second.code != 201 {
		t.Fatalf("second: HTTP %d %s", second.code, second.raw)
	}
	third := judge0Call(t, s, "POST", "/submissions", slow)
	if third.code != 503 || strings.TrimSpace(string(third.raw)) != `{"error":"queue is full"}` {
		t.Errorf("third: HTTP %d %s, want 503 queue is full", third.code, third.raw)
	}
	batch := judge0Call(t, s, "POST", "/submissions/batch", map[string]any{"submissions": []map[string]any{slow}})
	if batch.code != 503 {
		t.Errorf("batch on a full queue: HTTP %d %s", batch.code, batch.raw)
	}
	// /workers is as of the workers' last heartbeat.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		w := judge0Call(t, s, "GET", "/workers", nil).arr()
		if len(w) == 1 && w[0].(map[string]any)["size"] == 1.0 && w[0].(map[string]any)["working"] == 1.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/workers: %v, want size 1 (the second) and working 1 (the first)", w)
		}
	}
}
