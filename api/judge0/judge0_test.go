package judge0

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/runner"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
languages:
  python:
    image: python
    version: 3.11.2
    source: main.py
    run: [python3, "{entry}"]
    memoryMb: 256
    maxMemoryMb: 1024
    runTimeoutMs: 3000
    maxRunTimeoutMs: 15000
    judge0Ids: [71, 113]
    judge0Name: "Python ({version})"
  cpp:
    image: cpp
    version: 12.2.0
    source: main.cpp
    compile: [g++, -o, .prog, "{sources}"]
    run: [./.prog]
    judge0Ids: [54, 105]
    judge0Name: "C++ (GCC {version})"
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// allowNone and allowAll stand for the queue's allow-list check; whether callbacks are on at all
// is the config's queue.callbackAllow.
type allowNone struct{}

func (allowNone) CheckCallback(string) error { return errors.New("off") }

type allowAll struct{}

func (allowAll) CheckCallback(u string) error {
	if strings.HasPrefix(u, "http://10.") {
		return errors.New("host 10.0.0.1 is not in the server's callback allow-list (queue.callbackAllow)")
	}
	return nil
}

func TestStatusMapping(t *testing.T) {
	step := func(st runner.Status, code int, sig string) runner.Step {
		return runner.Step{Status: st, ExitCode: code, Signal: sig, Stdout: []byte("out\n"),
			CPU: 12345 * time.Microsecond, Wall: 20 * time.Millisecond, MemoryBytes: 3 << 20}
	}
	cases := []struct {
		name          string
		st            runner.Step
		expected      *string
		status        int
		signal        *int
		exitCode      int
		message       string
		timeStr, wall string
	}{
		{"accepted", step(runner.OK, 0, ""), nil, Accepted, nil, 0, "", "0.012", "0.02"},
		{"accepted trailing space", step(runner.OK, 0, ""), ptr("out   \n\n"), Accepted, nil, 0, "", "0.012", "0.02"},
		{"wrong answer", step(runner.OK, 0, ""), ptr("other"), WrongAnswer, nil, 0, "", "0.012", "0.02"},
		{"leading space is wrong", step(runner.OK, 0, ""), ptr(" out"), WrongAnswer, nil, 0, "", "0.012", "0.02"},
		{"tle", step(runner.TimeLimitExceeded, 0, "SIGKILL"), nil, TimeLimitExceeded, ptr(9), 0, "Time limit exceeded", "0.012", "0.02"},
		{"sigsegv", step(runner.RuntimeError, 0, "SIGSEGV"), nil, RuntimeSIGSEGV, ptr(11), 0, "Caught fatal signal 11", "0.012", "0.02"},
		{"sigxfsz", step(runner.RuntimeError, 0, "SIGXFSZ"), nil, RuntimeSIGXFSZ, ptr(25), 0, "Caught fatal signal 25", "0.012", "0.02"},
		{"sigfpe", step(runner.RuntimeError, 0, "SIGFPE"), nil, RuntimeSIGFPE, ptr(8), 0, "Caught fatal signal 8", "0.012", "0.02"},
		{"sigabrt", step(runner.RuntimeError, 0, "SIGABRT"), nil, RuntimeSIGABRT, ptr(6), 0, "Caught fatal signal 6", "0.012", "0.02"},
		{"sigterm is other", step(runner.RuntimeError, 0, "SIGTERM"), nil, RuntimeOther, ptr(15), 0, "Caught fatal signal 15", "0.012", "0.02"},
		{"nzec", step(runner.RuntimeError, 3, ""), nil, RuntimeNZEC, nil, 3, "Exited with error status 3", "0.012", "0.02"},
		{"oom killed", step(runner.MemoryLimitExceeded, 0, "SIGKILL"), nil, RuntimeOther, ptr(9), 0, "Memory limit exceeded", "0.012", "0.02"},
		{"runtime oom", step(runner.MemoryLimitExceeded, 1, ""), nil, RuntimeNZEC, nil, 1, "Memory limit exceeded", "0.012", "0.02"},
		{"output limit", step(runner.OutputLimitExceeded, 0, "SIGKILL"), nil, RuntimeSIGXFSZ, ptr(25), 0, "Output limit exceeded", "0.012", "0.02"},
	}
	for _, c := range cases {
		res := &runner.Result{Status: c.st.Status, Run: c.st}
		var exp []byte
		if c.expected != nil {
			exp = []byte(*c.expected)
		}
		o := FromResult(res, exp, c.expected != nil, false)
		if o.Status != c.status {
			t.Errorf("%s: status %d, want %d", c.name, o.Status, c.status)
		}
		if !reflect.DeepEqual(o.ExitSignal, c.signal) {
			t.Errorf("%s: exit_signal %v, want %v", c.name, deInt(o.ExitSignal), deInt(c.signal))
		}
		if *o.ExitCode != c.exitCode {
			t.Errorf("%s: exit_code %d, want %d", c.name, *o.ExitCode, c.exitCode)
		}
		if got := deStr(o.Message); got != c.message {
			t.Errorf("%s: message %q, want %q", c.name, got, c.message)
		}
		if *o.Time != c.timeStr || *o.WallTime != c.wall || *o.Memory != 3072 {
			t.Errorf("%s: time %s wall %s memory %d, want %s %s 3072", c.name, *o.Time, *o.WallTime, *o.Memory, c.timeStr, c.wall)
		}
	}
	wall := step(runner.TimeLimitExceeded, 0, "SIGKILL")
	wall.TimeLimit = agentproto.WallLimit
	if o := FromResult(&runner.Result{Run: wall}, nil, false, false); deStr(o.Message) != "Time limit exceeded (wall clock)" {
		t.Errorf("wall TLE message %q", deStr(o.Message))
	}
}

func TestCompileErrorAndOutput(t *testing.T) {
	ce := &runner.Result{Status: runner.CompileError, Compile: &runner.Step{Status: runner.RuntimeError, ExitCode: 1, Stderr: []byte("main.cpp:1: error\n")}}
	o := FromResult(ce, nil, false, false)
	if o.Status != CompilationError || string(o.CompileOutput) != "main.cpp:1: error\n" || o.Time != nil || o.Stdout != nil || o.ExitCode != nil || o.Message != nil {
		t.Errorf("compile error: %+v", o)
	}
	cto := &runner.Result{Status: runner.CompileError, Compile: &runner.Step{Status: runner.TimeLimitExceeded}}
	if o := FromResult(cto, nil, false, false); string(o.CompileOutput) != "Compilation time limit exceeded." {
		t.Errorf("compile TLE output %q", o.CompileOutput)
	}
	// Warnings of a compile that succeeded are kept; an empty stream is null.
	ok := &runner.Result{Status: runner.Accepted, Compile: &runner.Step{Status: runner.OK, Stderr: []byte("warning\n")},
		Tests: []runner.TestResult{{Step: runner.Step{Status: runner.OK, Stderr: []byte("e")}}}}
	o = FromResult(ok, nil, false, false)
	if string(o.CompileOutput) != "warning\n" || o.Stdout != nil || string(o.Stderr) != "e" || o.Status != Accepted {
		t.Errorf("compiled run: %+v", o)
	}
	if o = FromResult(ok, nil, false, true); string(o.Stdout) != "e" || o.Stderr != nil {
		t.Errorf("redirect_stderr_to_stdout: stdout %q stderr %q", o.Stdout, o.Stderr)
	}
}

func TestNumberOfRunsAveragesUntilNotAccepted(t *testing.T) {
	run := func(cpuMs int, memKB int64, out string) runner.TestResult {
		return runner.TestResult{Step: runner.Step{Status: runner.OK, CPU: time.Duration(cpuMs) * time.Millisecond, MemoryBytes: memKB << 10, Stdout: []byte(out)}}
	}
	res := &runner.Result{Tests: []runner.TestResult{run(10, 1000, "a"), run(20, 2000, "b"), run(30, 3000, "a")}}
	o := FromResult(res, []byte("a"), true, false)
	// The second run is a wrong answer: Judge0 stops there and averages the two.
	if o.Status != WrongAnswer || *o.Time != "0.015" || *o.Memory != 1500 || string(o.Stdout) != "b" {
		t.Errorf("got status %d time %s memory %d stdout %q", o.Status, *o.Time, *o.Memory, o.Stdout)
	}
}

func TestRubyStrip(t *testing.T) {
	cases := []struct {
		exp, got string
		same     bool
	}{
		{"hello", "hello\n", true},
		{"a\nb", "a  \nb\t\n\n\n", true},
		{"a\n\nb", "a\nb", false},
		{"a", " a", false},
		{"", "", false}, // Judge0 stores empty stdout as null: strip("") != strip(nil)
		{"x\r\n", "x", true},
	}
	for _, c := range cases {
		if got := sameOutput([]byte(c.exp), []byte(c.got)); got != c.same {
			t.Errorf("sameOutput(%q, %q) = %v, want %v", c.exp, c.got, got, c.same)
		}
	}
}

func TestRequestedFields(t *testing.T) {
	want, bad := requestedFields("")
	if !reflect.DeepEqual(want, defaultFields) || bad != nil {
		t.Errorf("empty: %v %v", want, bad)
	}
	want, _ = requestedFields("*")
	if len(want) != len(fields) {
		t.Errorf("*: %d fields, want %d", len(want), len(fields))
	}
	want, bad = requestedFields("stdout,status_id,nope,stdout,")
	if !reflect.DeepEqual(want, []string{"stdout", "status_id"}) || !reflect.DeepEqual(bad, []string{"nope"}) {
		t.Errorf("mixed: %v %v", want, bad)
	}
}

func TestBase64(t *testing.T) {
	long := strings.Repeat("x", 100)
	enc := encodeBase64([]byte(long))
	lines := strings.Split(strings.TrimSuffix(enc, "\n"), "\n")
	if len(lines) != 3 || len(lines[0]) != 60 || !strings.HasSuffix(enc, "\n") {
		t.Errorf("encode64 layout: %q", enc)
	}
	for _, in := range []string{enc, "aGVsbG8sIEp1ZGdlMAo=\n", "aGVsbG8sIEp1ZGdlMAo", "aGVsbG8s\r\nIEp1ZGdlMAo="} {
		b, err := decodeBase64(in)
		if err != nil || (in != enc && string(b) != "hello, Judge0\n") || (in == enc && string(b) != long) {
			t.Errorf("decode %q: %q %v", in, b, err)
		}
	}
	if _, err := decodeBase64("not base64!"); err == nil {
		t.Error("decode of garbage succeeded")
	}
}

func TestShellWords(t *testing.T) {
	got := shellWords(`a "b c" 'd e' f\ g; rm -rf $HOME`)
	want := []string{"a", "b c", "d e", "f g", "rm", "-rf", "HOME"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("shellWords = %q, want %q", got, want)
	}
}

func TestParseToRunner(t *testing.T) {
	cfg := testConfig(t)
	body := `{"source_code": "cHJpbnQoaW5wdXQoKSk=", "language_id": "113", "stdin": "SnVkZ2Uw\n", "expected_output": "SnVkZ2Uw",
		"cpu_time_limit": 2.5, "memory_limit": 65536, "number_of_runs": 3, "command_line_arguments": "x 'y z'", "input": "ignored"}`
	p, errs := parse(context.Background(), cfg, allowNone{}, json.RawMessage(body), true)
	if errs != nil {
		t.Fatal(errs)
	}
	req := p.req
	if req.Language != "python" || string(req.Files[0].Content) != "print(input())" || req.Files[0].Name != "main.py" || !req.Files[0].Entry {
		t.Errorf("files: %+v", req.Files)
	}
	if req.TimeLimit != 2500*time.Millisecond || req.MemoryLimitBytes != 64<<20 || !reflect.DeepEqual(req.Args, []string{"x", "y z"}) {
		t.Errorf("limits/args: %v %d %q", req.TimeLimit, req.MemoryLimitBytes, req.Args)
	}
	if len(req.Tests) != 3 || string(req.Tests[2].Stdin) != "Judge0" || req.Tests[0].Expected != nil || !req.StopOnFirstFailure {
		t.Errorf("tests: %+v", req.Tests)
	}
	if string(*p.attrs.ExpectedOutput) != "Judge0" || p.attrs.LanguageID != 113 || p.attrs.WallTimeLimit != 4.7 {
		t.Errorf("attrs: %+v", p.attrs)
	}
	if _, err := runner.NewPlan(cfg, req); err != nil {
		t.Errorf("plan: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	cfg := testConfig(t)
	cases := []struct {
		body string
		cb   CallbackChecker
		want Errors
	}{
		{`{"source_code": "x"}`, allowNone{}, Errors{"language_id": {"can't be blank", "language with id  doesn't exist"}}},
		{`{"source_code": "x", "language_id": 150000}`, allowNone{}, Errors{"language_id": {"language with id 150000 doesn't exist"}}},
		{`{"source_code": "  ", "language_id": 71}`, allowNone{}, Errors{"source_code": {"can't be blank"}}},
		{`{"source_code": "x", "language_id": 71, "wall_time_limit": 100000}`, allowNone{}, Errors{"wall_time_limit": {"must be less than or equal to 22.7"}}},
		{`{"source_code": "x", "language_id": 71, "wall_time_limit": 0.5}`, allowNone{}, Errors{"wall_time_limit": {"must be greater than or equal to 1"}}},
		{`{"source_code": "x", "language_id": 71, "cpu_time_limit": 16}`, allowNone{}, Errors{"cpu_time_limit": {"must be less than or equal to 15"}}},
		{`{"source_code": "x", "language_id": 71, "cpu_time_limit": "abc"}`, allowNone{}, Errors{"cpu_time_limit": {"is not a number"}}},
		{`{"source_code": "x", "language_id": 71, "memory_limit": 2048}`, allowNone{}, Errors{"memory_limit": {"must be greater than or equal to 32768"}}},
		{`{"source_code": "x", "language_id": 71, "memory_limit": 2000000}`, allowNone{}, Errors{"memory_limit": {"must be less than or equal to 1048576"}}},
		{`{"source_code": "x", "language_id": 71, "number_of_runs": 0}`, allowNone{}, Errors{"number_of_runs": {"must be greater than 0"}}},
		{`{"source_code": "x", "language_id": 71, "number_of_runs": 21}`, allowNone{}, Errors{"number_of_runs": {"must be less than or equal to 20"}}},
		{`{"source_code": "x", "language_id": 71, "cpu_extra_time": 6}`, allowNone{}, Errors{"cpu_extra_time": {"must be less than or equal to 5"}}},
		{`{"source_code": "x", "language_id": 71, "stack_limit": 128001}`, allowNone{}, Errors{"stack_limit": {"must be less than or equal to 128000"}}},
		{`{"source_code": "x", "language_id": 71, "max_processes_and_or_threads": 0}`, allowNone{}, Errors{"max_processes_and_or_threads": {"must be greater than 0"}}},
		{`{"source_code": "x", "language_id": 71, "max_file_size": 5000}`, allowNone{}, Errors{"max_file_size": {"must be less than or equal to 4096"}}},
		{`{"source_code": "x", "language_id": 71, "compiler_options": "-O3"}`, allowNone{}, Errors{"compiler_options": {"setting compiler options is not allowed"}}},
		{`{"source_code": "x", "language_id": 71, "command_line_arguments": "` + strings.Repeat("a", 513) + `"}`, allowNone{}, Errors{"command_line_arguments": {"is too long (maximum is 512 characters)"}}},
		{`{"source_code": "x", "language_id": 71, "enable_network": true}`, allowNone{}, Errors{"enable_network": {"enabling network is not allowed"}}},
		{`{"source_code": "x", "language_id": 71, "enable_per_process_and_thread_time_limit": true}`, allowNone{}, Errors{"enable_per_process_and_thread_time_limit": {"this option cannot be enabled"}}},
		{`{"source_code": "x", "language_id": 71, "enable_per_process_and_thread_memory_limit": "true"}`, allowNone{}, Errors{"enable_per_process_and_thread_memory_limit": {"this option cannot be enabled"}}},
		{`{"source_code": "x", "language_id": 71, "callback_url": "http://127.0.0.1/"}`, allowNone{}, Errors{"callback_url": {"setting callback is not allowed"}}},
		{`{"source_code": "x", "language_id": 71, "callback_url": "http://10.0.0.1/"}`, allowAll{}, Errors{"callback_url": {"host 10.0.0.1 is not in the server's callback allow-list (queue.callbackAllow)"}}},
		{`{"source_code": "x", "language_id": 71, "additional_files": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}`, allowNone{}, nil},
		{`{"source_code": "x", "language_id": 71, "additional_files": "bm90IGEgemlw"}`, allowNone{}, Errors{"additional_files": {"is not a zip archive: zip: not a valid zip file"}}},
		{`[1]`, allowNone{}, Errors{"base": {"the submission must be a JSON object"}}},
	}
	for _, c := range cases {
		cfg.Queue.CallbackAllow = nil
		if _, on := c.cb.(allowAll); on {
			cfg.Queue.CallbackAllow = []string{"127.0.0.1"}
		}
		_, errs := parse(context.Background(), cfg, c.cb, json.RawMessage(c.body), false)
		if !reflect.DeepEqual(errs, c.want) {
			t.Errorf("%.90s:\n got %v\nwant %v", c.body, errs, c.want)
		}
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAdditionalFiles(t *testing.T) {
	cfg := testConfig(t)
	z := zipOf(t, map[string]string{"lib/helper.py": "X = 1\n", "main.py": "replaced?", "lib/": ""})
	body, _ := json.Marshal(map[string]any{"source_code": "import lib.helper", "language_id": 71, "additional_files": base64.StdEncoding.EncodeToString(z)})
	p, errs := parse(context.Background(), cfg, allowNone{}, body, false)
	if errs != nil {
		t.Fatal(errs)
	}
	// The archive's main.py does not replace the source (Judge0 unzips with -n).
	if len(p.req.Files) != 2 || p.req.Files[1].Name != "lib/helper.py" || string(p.req.Files[0].Content) != "import lib.helper" {
		t.Errorf("files: %+v", p.req.Files)
	}
	// A name the runner refuses is a 422 of the planning.
	z = zipOf(t, map[string]string{"../evil.py": "x"})
	body, _ = json.Marshal(map[string]any{"source_code": "x", "language_id": 71, "additional_files": base64.StdEncoding.EncodeToString(z)})
	p, errs = parse(context.Background(), cfg, allowNone{}, body, false)
	if errs != nil {
		t.Fatal(errs)
	}
	if _, err := runner.NewPlan(cfg, p.req); err == nil || !strings.Contains(err.Error(), "..") {
		t.Errorf("../ name planned: %v", err)
	} else if e := planErrors(err.Error()); e["additional_files"] == nil {
		t.Errorf("plan error under %v", e)
	}
}

func TestZipBombRefused(t *testing.T) {
	// 4 MB of zeros compress to about 4 KB: counted as read, they are refused at the limit.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "zeros", Method: zip.Deflate})
	zero := make([]byte, 1<<20)
	for range 4 {
		_, _ = w.Write(zero)
	}
	_ = zw.Close()
	if _, err := unzipFiles(buf.Bytes(), 10, 1<<20); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("bomb: %v", err)
	}
	many := map[string]string{}
	for i := range 5 {
		many[string(rune('a'+i))] = "x"
	}
	if _, err := unzipFiles(zipOf(t, many), 4, 1<<20); err == nil || !strings.Contains(err.Error(), "more than 4 files") {
		t.Errorf("too many files: %v", err)
	}
	// A symbolic link is refused.
	buf.Reset()
	zw = zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "link"}
	h.SetMode(os.ModeSymlink | 0o777)
	lw, _ := zw.CreateHeader(h)
	_, _ = lw.Write([]byte("/etc/passwd"))
	_ = zw.Close()
	if _, err := unzipFiles(buf.Bytes(), 4, 1<<20); err == nil || !strings.Contains(err.Error(), "regular files") {
		t.Errorf("symlink: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func deInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func deStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
