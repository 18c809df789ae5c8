package api

import (
	"testing"
	"time"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/execlog"
	"github.com/codeexec/codeexec/runner"
)

// The execution log's record and the API's answer are made from the same result; their shared
// fields must mean the same.
func TestRecordMatchesAnswer(t *testing.T) {
	ok := &runner.Result{JobID: "j1", Language: "python", Version: "3.11.2", Status: runner.OK,
		Run: runner.Step{Status: runner.OK, Stdout: []byte("hi\n"), Wall: 41600 * time.Microsecond, CPU: 20 * time.Millisecond, MemoryBytes: 8 << 20}}
	ce := &runner.Result{JobID: "j2", Language: "cpp", Status: runner.CompileError, ErrorMessage: "main.cpp:1: error",
		Compile: &runner.Step{Status: runner.RuntimeError, ExitCode: 1, Stderr: []byte("main.cpp:1: error"), Wall: 300 * time.Millisecond}}
	plan := func(entry string, files ...agentproto.File) *runner.Plan {
		return &runner.Plan{Entry: entry, Job: agentproto.Job{Files: files}}
	}
	multi := plan("main.cpp", agentproto.File{Path: "lib.cpp", Content: []byte("int f();")}, agentproto.File{Path: "main.cpp", Content: []byte("int main(){}")})
	for _, tc := range []struct {
		name                        string
		plan                        *runner.Plan
		res                         *runner.Result
		code, status, rts, errMsg   string
		nFiles                      int
		execTime, compileMs, wallMs float64
	}{
		{"v1 ok", plan("main.py", agentproto.File{Path: "main.py", Content: []byte("print('hi')")}), ok,
			"print('hi')", "ok", "succeeded", "", 0, 0.042, 0, 41.6},
		{"v2 single file", plan("a.py", agentproto.File{Path: "a.py", Content: []byte("x")}), ok,
			"x", "ok", "succeeded", "", 0, 0.042, 0, 41.6},
		{"v2 several files, compile error", multi, ce,
			"int main(){}", "compile_error", "Error", "main.cpp:1: error", 2, 0, 300, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := execlog.FromResult(tc.plan, tc.res)
			j := toResult(tc.res)
			if r.JobID != tc.res.JobID || r.UserID != "anonymous" || r.ProjectID != "default" || r.Language != tc.res.Language {
				t.Errorf("identity fields: %+v", r)
			}
			if r.Code != tc.code || len(r.Files) != tc.nFiles || r.Status != tc.status || r.RunTimeStatus != tc.rts ||
				r.ErrorMessage != tc.errMsg || r.ExecutionTime != tc.execTime || r.CompileTimeMs != tc.compileMs || r.WallTimeMs != tc.wallMs {
				t.Errorf("got %+v", r)
			}
			// The legacy fields mean what the answer's do.
			if r.Output != j.Output || r.MemoryUsage != j.MemoryUsage || r.CPUUsage != j.CPUUsage || r.ExitCode != j.ExitCode ||
				r.ErrorMessage != j.ErrorMessage || r.ExecutionTime != j.ExecutionTime || r.RunTimeStatus != j.RunTimeStatus ||
				r.WallTimeMs != j.WallTimeMs || r.CPUTimeMs != j.CPUTimeMs || r.MemoryBytes != j.MemoryBytes {
				t.Errorf("record %+v differs from the answer %+v", r, j)
			}
			if tc.nFiles > 0 && (r.Files[0].Filename != "lib.cpp" || r.Files[1].Code != "int main(){}") {
				t.Errorf("files %+v", r.Files)
			}
		})
	}
}
