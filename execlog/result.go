package execlog

import (
	"strings"

	"github.com/codeexec/codeexec/runner"
)

// FromResult is the stored form of an execution: the seed service's flat fields (the same
// runner.Summary the native API answers with), the status, exit code and times, and the code.
// Nothing about the client.
func FromResult(p *runner.Plan, r *runner.Result) Record {
	sum := r.Summary()
	rec := Record{
		JobID: r.JobID, UserID: "anonymous", ProjectID: "default", Language: r.Language, Version: r.Version,
		Output: sum.Output, ErrorMessage: sum.ErrorMessage, ExecutionTime: sum.ExecutionTime,
		MemoryUsage: sum.MemoryUsage, CPUUsage: sum.CPUUsage, RunTimeStatus: sum.RunTimeStatus,
		Status: string(r.Status), Interactive: p.Job.Interactive, Typed: strings.ToValidUTF8(string(r.Typed), "\uFFFD"),
	}
	if r.Status == runner.CompileError && r.Compile != nil {
		// The run never happened: its exit code is the compiler's and its times stay zero.
		rec.ExitCode = r.Compile.ExitCode
	} else {
		rec.ExitCode = r.Run.ExitCode
		rec.WallTimeMs, rec.CPUTimeMs, rec.MemoryBytes = runner.Millis(r.Run.Wall), runner.Millis(r.Run.CPU), r.Run.MemoryBytes
	}
	if r.Compile != nil {
		rec.CompileTimeMs = runner.Millis(r.Compile.Wall)
	}
	files := p.Job.Files
	for _, f := range files {
		if f.Path == p.Entry || len(files) == 1 {
			rec.Code = string(f.Content)
		}
		if len(files) > 1 {
			rec.Files = append(rec.Files, File{Filename: f.Path, Code: string(f.Content)})
		}
	}
	return rec
}
