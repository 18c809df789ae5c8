//go:build integration

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pistonScript uses the npm package piston-client, unchanged, against our server.
const pistonScript = `import piston from "piston-client";
const client = piston({ server: process.env.SERVER });
const out = {};
out.runtimes = await client.runtimes();
out.python = await client.execute("python", "import sys\nprint(sys.argv[1:])\nprint(input()[::-1])", { stdin: "olleh\n", args: ["x", "y z"] });
out.pythonDefaults = await client.execute("python", "import sys\nprint(sys.argv[1:])");
out.cpp = await client.execute("cpp", "#include <bits/stdc++.h>\nint main(int argc, char **argv) { std::string s; std::cin >> s; std::cout << s << ' ' << argc - 1 << ' ' << argv[2] << std::endl; }", { stdin: "hello", args: ["first", "second"] });
out.alias = await client.execute("py", "print('via alias')");
out.compileError = await client.execute("cpp", "int main() { return x; }");
out.runtimeError = await client.execute("python", "import sys\nprint('out')\nsys.exit(4)");
out.unknown = await client.execute("brainfuck", "+.");
console.log(JSON.stringify(out));
`

func TestPistonClient(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm is needed for this test: apt-get install npm (.ci/run installs it)")
	}
	dir := t.TempDir()
	install := exec.Command(npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "piston-client@1.0.2")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install piston-client@1.0.2: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "check.mjs"), []byte(pistonScript), 0o644); err != nil {
		t.Fatal(err)
	}
	s := StartServer(t, ServerOptions{Languages: []string{"python", "cpp"}})

	node := exec.Command("node", "check.mjs")
	node.Dir = dir
	node.Env = append(os.Environ(), "SERVER="+s.URL)
	node.Stderr = os.Stderr
	raw, err := node.Output()
	if err != nil {
		t.Fatalf("node check.mjs: %v\n%s", err, raw)
	}
	var out struct {
		Runtimes []struct {
			Language string   `json:"language"`
			Version  string   `json:"version"`
			Aliases  []string `json:"aliases"`
		} `json:"runtimes"`
		Python, PythonDefaults, CPP, Alias, CompileError, RuntimeError pistonAnswer
		Unknown                                                        struct {
			Message string `json:"message"`
		} `json:"unknown"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}

	aliases := map[string][]string{}
	for _, rt := range out.Runtimes {
		aliases[rt.Language] = rt.Aliases
		if rt.Version == "" {
			t.Errorf("runtime %s has no version", rt.Language)
		}
	}
	for lang, want := range map[string]string{"python": "py", "javascript": "node", "cpp": "c++", "go": "golang", "ruby": "rb"} {
		if !contains(aliases[lang], want) {
			t.Errorf("runtime %s: aliases %v lack %q", lang, aliases[lang], want)
		}
	}
	if out.Python.Language != "python" || out.Python.Version == "" || out.Python.Run == nil ||
		out.Python.Run.Stdout != "['x', 'y z']\nhello\n" || out.Python.Run.Output != out.Python.Run.Stdout || out.Python.Run.Code == nil || *out.Python.Run.Code != 0 {
		t.Errorf("python with stdin and args: %s", mustJSON(out.Python))
	}
	if out.Python.Compile != nil {
		t.Errorf("python has no compile stage: %s", mustJSON(out.Python))
	}
	// piston-client sends args ["1", "2", "3"] when none are given.
	if out.PythonDefaults.Run == nil || out.PythonDefaults.Run.Stdout != "['1', '2', '3']\n" {
		t.Errorf("python with the client's default args: %s", mustJSON(out.PythonDefaults))
	}
	if out.CPP.Run == nil || out.CPP.Run.Stdout != "hello 2 second\n" || out.CPP.Compile == nil || out.CPP.Compile.Code == nil || *out.CPP.Compile.Code != 0 {
		t.Errorf("cpp with stdin and args: %s", mustJSON(out.CPP))
	}
	if out.Alias.Language != "python" || out.Alias.Run == nil || out.Alias.Run.Stdout != "via alias\n" {
		t.Errorf("alias py: %s", mustJSON(out.Alias))
	}
	if c := out.CompileError.Compile; c == nil || c.Code == nil || *c.Code == 0 || !strings.Contains(c.Stderr, "not declared") || out.CompileError.Run != nil {
		t.Errorf("compile error: want a failed compile stage and no run stage: %s", mustJSON(out.CompileError))
	}
	if r := out.RuntimeError.Run; r == nil || r.Code == nil || *r.Code != 4 || r.Stdout != "out\n" || r.Status == nil || *r.Status != "RE" {
		t.Errorf("exit code 4: %s", mustJSON(out.RuntimeError))
	}
	if !strings.Contains(out.Unknown.Message, "runtime is unknown") {
		t.Errorf("unknown language: want Piston's {message}: %+v", out.Unknown)
	}

	t.Run("raw requests", func(t *testing.T) { testPistonRaw(t, s) })
}

// testPistonRaw checks what the npm client does not send: encodings, names, limits, errors,
// and that our own v2 shape still works on the same path.
func testPistonRaw(t *testing.T, s *Server) {
	post := func(body string) *Response {
		t.Helper()
		resp, err := http.Post(s.URL+"/api/v2/execute", "text/plain;charset=UTF-8", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return readResponse(t, resp)
	}
	r := post(`{"language": "python", "version": "3.x", "files": [
		{"name": "main.py", "content": "from lib import greet\ngreet()"},
		{"name": "lib.py", "content": "ZGVmIGdyZWV0KCk6IHByaW50KCdiNjQnKQ==", "encoding": "base64"}],
		"run_timeout": 999999, "compile_timeout": 999999, "run_memory_limit": 134217728, "compile_memory_limit": -1, "extra": true}`)
	if run, _ := r.Body["run"].(map[string]any); r.Code != 200 || run == nil || run["stdout"] != "b64\n" {
		t.Errorf("base64 file, capped limits, unknown field ignored: HTTP %d %.800s", r.Code, r.Raw)
	}
	r = post(`{"language": "python", "version": "*", "files": [{"content": "while True: pass"}], "run_timeout": 300}`)
	if run, _ := r.Body["run"].(map[string]any); run == nil || run["status"] != "TO" || run["signal"] != "SIGKILL" || run["code"] != nil {
		t.Errorf("time limit: want status TO, signal SIGKILL, code null: %.800s", r.Raw)
	}
	for _, c := range []struct{ body, msg string }{
		{`{"language": "python", "version": "2.7", "files": [{"content": "print 1"}]}`, "python-2.7 runtime is unknown"},
		{`{"version": "*", "files": [{"content": "x"}]}`, "language is required"},
		{`{"language": "python", "version": "*", "files": []}`, "files is required"},
		{`{"language": "python", "version": "*", "files": [{"name": "a.py"}]}`, "files[0].content is required"},
		{`{"language": "python", "version": "*", "files": [{"content": "zz", "encoding": "hex"}]}`, "not valid hex"},
		{`{"language": "python", "version": "*", "files": [{"name": "../x.py", "content": "x"}]}`, "'..'"},
		{`{"language": "python", "version": 3, "files": [{"content": "x"}]}`, `"version" must be string`},
	} {
		r := post(c.body)
		msg, _ := r.Body["message"].(string)
		if r.Code != 400 || !strings.Contains(msg, c.msg) || r.Body["succeeded"] != nil {
			t.Errorf("want 400 {message: ...%s...}: HTTP %d %.500s", c.msg, r.Code, r.Raw)
		}
	}
	// Our own v2 shape on the same path is unchanged, strict about unknown fields as before.
	r = post(`{"language": "python", "files": [{"filename": "a.py", "code": "print(5)", "isEntryPoint": true}]}`)
	if r.Code != 200 || r.Str("stdout") != "5\n" || r.Body["succeeded"] != true {
		t.Errorf("our v2 shape: HTTP %d %.500s", r.Code, r.Raw)
	}
	r = post(`{"language": "python", "files": [{"filename": "a.py", "code": "print(5)"}], "colour": 1}`)
	if msg, _ := r.Body["errorMessage"].(string); r.Code != 400 || !strings.Contains(msg, "colour") {
		t.Errorf("our v2 shape, unknown field: HTTP %d %.500s", r.Code, r.Raw)
	}
}

// pistonAnswer is Piston's execute answer.
type pistonAnswer struct {
	Language string       `json:"language"`
	Version  string       `json:"version"`
	Run      *pistonStage `json:"run"`
	Compile  *pistonStage `json:"compile"`
	Message  string       `json:"message"`
}

type pistonStage struct {
	Stdout string  `json:"stdout"`
	Stderr string  `json:"stderr"`
	Output string  `json:"output"`
	Code   *int    `json:"code"`
	Signal *string `json:"signal"`
	Status *string `json:"status"`
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
