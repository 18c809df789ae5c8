package api

import (
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

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
}

type requestV1 struct {
	options
	Code *string `json:"code"`
}

type requestV2 struct {
	options
	Files []fileV2 `json:"files"`
}

func (o *options) toRunner(files []runner.File) *runner.Request {
	req := &runner.Request{
		Language: o.Language, Files: files, Stdin: []byte(o.Stdin), Args: o.Args,
		TimeLimitMs: o.TimeLimitMs, MemoryLimitMB: o.MemoryLimitMb,
		Compare: o.Compare, StopOnFirstFailure: o.StopOnFirstFailure,
	}
	for _, t := range o.Tests {
		req.Tests = append(req.Tests, runner.Test{Stdin: []byte(t.Stdin), Expected: t.ExpectedOutput})
	}
	return req
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
	WallTimeMs   float64       `json:"wallTimeMs"`
	CPUTimeMs    float64       `json:"cpuTimeMs"`
	MemoryBytes  int64         `json:"memoryBytes"`
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

// text returns b as a JSON-safe string: bytes that are not UTF-8 become U+FFFD, and then the
// exact bytes are also given in base64.
func text(b []byte) (s, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), base64.StdEncoding.EncodeToString(b)
}

func toStep(s *runner.Step) stepJSON {
	out := stepJSON{
		Status: s.Status, ExitCode: s.ExitCode, Signal: s.Signal, Truncated: s.Truncated,
		WallTimeMs: s.WallTimeMs, CPUTimeMs: s.CPUTimeMs, MemoryBytes: s.MemoryBytes,
	}
	out.Stdout, out.StdoutBase64 = text(s.Stdout)
	out.Stderr, out.StderrBase64 = text(s.Stderr)
	return out
}

func toResult(r *runner.Result) *resultJSON {
	out := &resultJSON{
		JobID: r.JobID, Language: r.Language, Version: r.Version, Status: r.Status,
		TimeLimitMs: r.TimeLimitMs, MemoryLimitMb: r.MemoryLimitBytes >> 20,
		ErrorMessage: r.ErrorMessage,
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
	out.Output = out.Stdout
	if out.ErrorMessage == "" && r.Status != runner.OK && r.Status != runner.Accepted {
		out.ErrorMessage = string(r.Status)
	}
	out.ExecutionTime = math.Round(r.Run.WallTimeMs) / 1000 // seconds, to the millisecond
	out.MemoryUsage = fmt.Sprintf("%.1fMB", float64(r.Run.MemoryBytes)/(1<<20))
	cpu := 0.0
	if r.Run.WallTimeMs > 0 {
		cpu = 100 * r.Run.CPUTimeMs / r.Run.WallTimeMs
	}
	out.CPUUsage = fmt.Sprintf("%.1f%%", cpu)
	out.RunTimeStatus = "Error"
	if r.Status == runner.OK || r.Status == runner.Accepted {
		out.RunTimeStatus = "succeeded"
	}
	return out
}
