package piston

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/runner"
)

func TestIsPiston(t *testing.T) {
	cases := []struct {
		body string
		want bool
	}{
		{`{"language": "python", "version": "*", "files": [{"content": "print(1)"}]}`, true},
		{`{"language": "python", "files": [{"name": "a.py", "content": "print(1)"}]}`, true},
		{`{"language": "python", "version": "3.11"}`, true},
		{`{"language": "python", "files": [{"filename": "a.py", "code": "print(1)"}]}`, false},
		{`{"language": "python", "files": "x"}`, false},
		{`[1]`, false},
		{`{"language": `, false},
	}
	for _, c := range cases {
		if got := IsRequest([]byte(c.body)); got != c.want {
			t.Errorf("IsRequest(%s) = %v, want %v", c.body, got, c.want)
		}
	}
}

func TestVersionMatches(t *testing.T) {
	cases := []struct {
		want, have string
		ok         bool
	}{
		{"*", "3.11.2", true},
		{"", "3.11.2", true},
		{"3.11.2", "3.11.2", true},
		{"3.11", "3.11.2", true},
		{"3", "3.11.2", true},
		{"3.x", "3.11.2", true},
		{"3.11.x", "3.11.2", true},
		{"3.1", "3.11.2", false},
		{"3.10.0", "3.11.2", false},
		{"2", "3.11.2", false},
	}
	for _, c := range cases {
		if got := versionMatches(c.want, c.have); got != c.ok {
			t.Errorf("versionMatches(%q, %q) = %v, want %v", c.want, c.have, got, c.ok)
		}
	}
}

func TestDecodeContent(t *testing.T) {
	cases := []struct {
		content, encoding, want string
		err                     bool
	}{
		{"print(1)", "", "print(1)", false},
		{"print(1)", "utf8", "print(1)", false},
		{"cHJpbnQoMSk=", "base64", "print(1)", false},
		{"7072696e74283129", "hex", "print(1)", false},
		{"%%%", "base64", "", true},
		{"zz", "hex", "", true},
		{"x", "rot13", "", true},
	}
	for _, c := range cases {
		got, err := decodeContent(c.content, c.encoding)
		if (err != nil) != c.err || string(got) != c.want {
			t.Errorf("decodeContent(%q, %q) = %q, %v", c.content, c.encoding, got, err)
		}
	}
}

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
languages:
  python:
    image: python
    version: 3.11.2
    aliases: [py]
    source: main.py
    run: [python3, "{entry}"]
    maxRunTimeoutMs: 15000
    maxMemoryMb: 1024
  cpp:
    image: cpp
    version: 12.2.0
    source: main.cpp
    compile: [g++, "{sources}"]
    compileTimeoutMs: 10000
    run: [./a.out]
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestToRunner(t *testing.T) {
	d := New(testConfig(t), nil)
	parse := func(body string) *Request {
		var pr Request
		if err := json.Unmarshal([]byte(body), &pr); err != nil {
			t.Fatal(err)
		}
		return &pr
	}
	req, msg := d.ToRunner(parse(`{"language": "py", "version": "3.x", "files": [{"content": "cHJpbnQoMSk=", "encoding": "base64"}, {"content": "x = 1"}],
		"stdin": "in", "args": ["a"], "run_timeout": 999999, "compile_timeout": 999999, "run_memory_limit": 134217729, "compile_memory_limit": -1, "extra": true}`))
	if msg != "" {
		t.Fatal(msg)
	}
	want := &runner.Request{Language: "python", Stdin: []byte("in"), Args: []string{"a"},
		Files: []runner.File{{Name: "main.py", Content: []byte("print(1)"), Entry: true}, {Name: "file1.py", Content: []byte("x = 1")}},
		// Capped at the language's maxima; memory is rounded up to whole MiB.
		TimeLimit: 15 * time.Second, CompileTimeLimit: 10 * time.Second, MemoryLimitBytes: 129 << 20}
	if g, w := mustJSON(t, req), mustJSON(t, want); g != w {
		t.Errorf("request\n got %s\nwant %s", g, w)
	}
	req, _ = d.ToRunner(parse(`{"language": "python", "files": [{"name": "a.py", "content": "x"}], "run_timeout": 300, "run_memory_limit": 99999999999}`))
	if req.TimeLimit != 300*time.Millisecond || req.MemoryLimitBytes != 1024<<20 || req.CompileTimeLimit != 0 || req.Files[0].Name != "a.py" {
		t.Errorf("limits %v %d %v, file %q", req.TimeLimit, req.MemoryLimitBytes, req.CompileTimeLimit, req.Files[0].Name)
	}
	for body, want := range map[string]string{
		`{"files": [{"content": "x"}]}`: "language is required as a string",
		`{"language": "python"}`:        "files is required as an array with at least one {content}",
		`{"language": "python", "version": "2", "files": [{"content": "x"}]}`:     "python-2 runtime is unknown; GET /api/v2/runtimes lists them",
		`{"language": "cobol", "files": [{"content": "x"}]}`:                      "cobol-* runtime is unknown; GET /api/v2/runtimes lists them",
		`{"language": "python", "files": [{"name": "a.py"}]}`:                     "files[0].content is required as a string",
		`{"language": "python", "files": [{"content": "zz", "encoding": "hex"}]}`: "files[0]: content is not valid hex: encoding/hex: invalid byte: U+007A 'z'",
	} {
		if _, msg := d.ToRunner(parse(body)); msg != want {
			t.Errorf("%s: %q, want %q", body, msg, want)
		}
	}
}

func TestFromResult(t *testing.T) {
	ok := &runner.Result{Language: "python", Version: "3.11.2", Status: runner.OK,
		Run: runner.Step{Status: runner.OK, Stdout: []byte("hi\n"), Stderr: []byte("\xffwarn"), Wall: 32900 * time.Microsecond, CPU: 15300 * time.Microsecond, MemoryBytes: 7860224}}
	killed := &runner.Result{Language: "cpp", Version: "12.2.0", Status: runner.MemoryLimitExceeded,
		Compile: &runner.Step{Status: runner.OK, Wall: 300 * time.Millisecond},
		Run:     runner.Step{Status: runner.MemoryLimitExceeded, Signal: "SIGKILL", ExitCode: 137}}
	failed := &runner.Result{Language: "cpp", Version: "12.2.0", Status: runner.CompileError,
		Compile: &runner.Step{Status: runner.RuntimeError, ExitCode: 1, Stderr: []byte("error")}}
	for _, c := range []struct {
		res  *runner.Result
		want string
	}{
		{ok, `{"language":"python","version":"3.11.2","run":{"stdout":"hi\n","stderr":"�warn","output":"hi\n�warn","code":0,"signal":null,"message":null,"status":null,"cpu_time":15.3,"wall_time":32.9,"memory":7860224}}`},
		{killed, `{"language":"cpp","version":"12.2.0","run":{"stdout":"","stderr":"","output":"","code":null,"signal":"SIGKILL","message":"Memory limit exceeded","status":"SG","cpu_time":0,"wall_time":0,"memory":0},` +
			`"compile":{"stdout":"","stderr":"","output":"","code":0,"signal":null,"message":null,"status":null,"cpu_time":0,"wall_time":300,"memory":0}}`},
		{failed, `{"language":"cpp","version":"12.2.0","compile":{"stdout":"","stderr":"error","output":"error","code":1,"signal":null,"message":"Exited with code 1","status":"RE","cpu_time":0,"wall_time":0,"memory":0}}`},
	} {
		if got := mustJSON(t, FromResult(c.res)); got != c.want {
			t.Errorf("answer\n got %s\nwant %s", got, c.want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
