package api

import (
	"math"
	"strings"
	"time"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/runner"
)

// fileV2 is a file in the v2 request.
type fileV2 struct {
	Filename     string `json:"filename"`
	Code         string `json:"code"`
	IsEntryPoint bool   `json:"isEntryPoint"`
}

type testJSON struct {
	Stdin          string  `json:"stdin"`
	ExpectedOutput *string `json:"expectedOutput"`
}

// options are the fields both execute endpoints share.
type options struct {
	Language           string     `json:"language"`
	Stdin              string     `json:"stdin"`
	Args               []string   `json:"args"`
	SaveMetric         bool       `json:"saveMetric"`
	TimeLimitMs        int64      `json:"timeLimitMs"`
	MemoryLimitMb      int64      `json:"memoryLimitMb"`
	Tests              []testJSON `json:"tests"`
	Compare            string     `json:"compare"`
	StopOnFirstFailure bool       `json:"stopOnFirstFailure"`
	// Interactive keeps stdin open for a live session (GET /api/v1/ws).
	Interactive bool `json:"interactive"`
}

type requestV1 struct {
	options
	Code *string `json:"code"`
}

type requestV2 struct {
	options
	Files []fileV2 `json:"files"`
}

// toRunner converts the shared fields; files come from code (v1) or files (v2).
func (o *options) toRunner(files []runner.File) *runner.Request {
	req := &runner.Request{
		Language: o.Language, Files: files, Stdin: []byte(o.Stdin), Args: o.Args,
		TimeLimit:        time.Duration(saturatingMul(o.TimeLimitMs, int64(time.Millisecond))),
		MemoryLimitBytes: saturatingMul(o.MemoryLimitMb, 1<<20),
		Compare:          o.Compare, StopOnFirstFailure: o.StopOnFirstFailure, Save: o.SaveMetric,
		Interactive: o.Interactive,
	}
	for _, t := range o.Tests {
		req.Tests = append(req.Tests, runner.Test{Stdin: []byte(t.Stdin), Expected: t.ExpectedOutput})
	}
	return req
}

// saturatingMul is n*unit, held at the int64 bounds: a huge limit stays huge (and is refused as
// above the maximum) instead of wrapping round to a small or negative one.
func saturatingMul(n, unit int64) int64 {
	switch {
	case n > math.MaxInt64/unit:
		return math.MaxInt64
	case n < math.MinInt64/unit:
		return math.MinInt64
	}
	return n * unit
}

// withCode is the request with v1's single file, which the runner names as the language's.
func (o *options) withCode(code string) *runner.Request {
	req := o.toRunner(nil)
	req.Code = []byte(code)
	return req
}

func filesToRunner(fs []fileV2) []runner.File {
	out := make([]runner.File, len(fs))
	for i, f := range fs {
		out[i] = runner.File{Name: f.Filename, Content: []byte(f.Code), Entry: f.IsEntryPoint}
	}
	return out
}

// stepJSON is one measured process.
type stepJSON struct {
	Status       runner.Status `json:"status"`
	ExitCode     int           `json:"exitCode"`
	Signal       string        `json:"signal,omitempty"`
	Stdout       string        `json:"stdout"`
	Stderr       string        `json:"stderr"`
	StdoutBase64 string        `json:"stdoutBase64,omitempty"`
	StderrBase64 string        `json:"stderrBase64,omitempty"`
	Truncated    bool          `json:"truncated"`
	// OutputDropped: the answer's output budget (server.maxAnswerBytes) ran out before this
	// step's output; it was judged in full but is not in the answer.
	OutputDropped bool    `json:"outputDropped,omitempty"`
	WallTimeMs    float64 `json:"wallTimeMs"`
	CPUTimeMs     float64 `json:"cpuTimeMs"`
	MemoryBytes   int64   `json:"memoryBytes"`
}

type testResultJSON struct {
	Verdict runner.Status `json:"verdict"`
	stepJSON
}

// resultJSON is the "result" of a successful response.
type resultJSON struct {
	JobID    string        `json:"jobId"`
	Language string        `json:"language"`
	Version  string        `json:"version"`
	Status   runner.Status `json:"status"`
	stepJSON
	CompileOutput string           `json:"compileOutput"`
	Compile       *stepJSON        `json:"compile,omitempty"`
	Tests         []testResultJSON `json:"tests,omitempty"`
	Verdict       runner.Status    `json:"verdict,omitempty"`
	Passed        *int             `json:"passed,omitempty"`
	Total         *int             `json:"total,omitempty"`
	TimeLimitMs   int64            `json:"timeLimitMs"`
	MemoryLimitMb int64            `json:"memoryLimitMb"`

	// Fields kept from the service this one replaces.
	Output        string  `json:"output"`
	ErrorMessage  string  `json:"errorMessage"`
	ExecutionTime float64 `json:"executionTime"` // seconds
	MemoryUsage   string  `json:"memoryUsage"`
	CPUUsage      string  `json:"cpuUsage"`
	RunTimeStatus string  `json:"runTimeStatus"`
}

func toStep(s *runner.Step) stepJSON {
	out := stepJSON{
		Status: s.Status, ExitCode: s.ExitCode, Signal: s.Signal, Truncated: s.Truncated, OutputDropped: s.OutputDropped,
		WallTimeMs: runner.Millis(s.Wall), CPUTimeMs: runner.Millis(s.CPU), MemoryBytes: s.MemoryBytes,
	}
	out.Stdout, out.StdoutBase64 = httpjson.Text(s.Stdout)
	out.Stderr, out.StderrBase64 = httpjson.Text(s.Stderr)
	return out
}

func toResult(r *runner.Result) *resultJSON {
	sum := r.Summary()
	out := &resultJSON{
		JobID: r.JobID, Language: r.Language, Version: r.Version, Status: r.Status,
		TimeLimitMs: r.TimeLimit.Milliseconds(), MemoryLimitMb: r.MemoryLimitBytes >> 20,
		Output: sum.Output, ErrorMessage: sum.ErrorMessage, ExecutionTime: sum.ExecutionTime,
		MemoryUsage: sum.MemoryUsage, CPUUsage: sum.CPUUsage, RunTimeStatus: sum.RunTimeStatus,
	}
	if r.Compile != nil {
		c := toStep(r.Compile)
		out.Compile = &c
		out.CompileOutput = strings.TrimSpace(c.Stderr + c.Stdout)
	}
	if r.Status != runner.CompileError {
		out.stepJSON = toStep(&r.Run)
		out.stepJSON.Status = r.Status
	} else {
		out.stepJSON.Status = r.Status
		out.stepJSON.ExitCode = r.Compile.ExitCode
	}
	if r.TestCount > 0 {
		for i := range r.Tests {
			out.Tests = append(out.Tests, testResultJSON{Verdict: r.Tests[i].Verdict, stepJSON: toStep(&r.Tests[i].Step)})
		}
		out.Verdict = r.Status
		passed, total := r.Passed, r.TestCount
		out.Passed, out.Total = &passed, &total
	}
	return out
}
