package api

import (
	"testing"

	"github.com/codeexec/codeexec/runner"
)

func TestNewRecord(t *testing.T) {
	ok := &runner.Result{JobID: "j1", Language: "python", Version: "3.11.2", Status: runner.OK,
		Run: runner.Step{Status: runner.OK, Stdout: []byte("hi\n"), WallTimeMs: 41.6, CPUTimeMs: 20, MemoryBytes: 8 << 20}}
	ce := &runner.Result{JobID: "j2", Language: "cpp", Status: runner.CompileError, ErrorMessage: "main.cpp:1: error",
		Compile: &runner.Step{Status: runner.RuntimeError, ExitCode: 1, Stderr: []byte("main.cpp:1: error"), WallTimeMs: 300}}
	multi := []runner.File{{Name: "lib.cpp", Content: []byte("int f();")}, {Name: "main.cpp", Content: []byte("int main(){}"), Entry: true}}
	for _, tc := range []struct {
		name                        string
		files                       []runner.File
		res                         *runner.Result
		code, status, rts, errMsg   string
		nFiles                      int
		execTime, compileMs, wallMs float64
	}{
		{"v1 ok", []runner.File{{Name: "main.py", Content: []byte("print('hi')"), Entry: true}}, ok,
			"print('hi')", "ok", "succeeded", "", 0, 0.042, 0, 41.6},
		{"v2 single file without entry flag", []runner.File{{Name: "a.py", Content: []byte("x")}}, ok,
			"x", "ok", "succeeded", "", 0, 0.042, 0, 41.6},
		{"v2 several files, compile error", multi, ce,
			"int main(){}", "compile_error", "Error", "main.cpp:1: error", 2, 0, 300, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecord(&runner.Request{Files: tc.files}, tc.res)
			j := toResult(tc.res)
			if r.JobID != tc.res.JobID || r.UserID != "anonymous" || r.ProjectID != "default" || r.Language != tc.res.Language {
				t.Errorf("identity fields: %+v", r)
			}
			if r.Code != tc.code || len(r.Files) != tc.nFiles || r.Status != tc.status || r.RunTimeStatus != tc.rts ||
				r.ErrorMessage != tc.errMsg || r.ExecutionTime != tc.execTime || r.CompileTimeMs != tc.compileMs || r.WallTimeMs != tc.wallMs {
				t.Errorf("got %+v", r)
			}
			// The legacy fields mean what the answer's do.
			if r.Output != j.Output || r.MemoryUsage != j.MemoryUsage || r.CPUUsage != j.CPUUsage || r.ExitCode != j.ExitCode {
				t.Errorf("record %+v differs from the answer %+v", r, j)
			}
		})
	}
}
