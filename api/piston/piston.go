// Package piston is the Piston dialect: GET /api/v2/runtimes, and Piston's request and answer
// shapes on POST /api/v2/execute, so that clients of engineer-man/piston work unchanged. It
// converts Piston's wire shapes to runner.Request and from runner.Result in one place, and runs
// them on the server's one execution path.
package piston

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/runner"
)

// Core is what the dialect needs from the server: its one execution path and its one mapping
// of errors to HTTP statuses.
type Core interface {
	// Execute plans and runs a request; sink (may be nil) gets its events as they happen.
	Execute(ctx context.Context, req *runner.Request, sink runner.Sink) (*runner.Result, error)
	// Fail answers an error of Execute with the server's status for it, in writeErr's shape.
	Fail(w http.ResponseWriter, r *http.Request, err error, writeErr httpjson.ErrorWriter)
}

// Route adds a handler to the server's router; limited puts it behind the per-client rate limit.
type Route func(method, path string, limited bool, h http.HandlerFunc)

// Dialect serves Piston's API.
type Dialect struct {
	cfg  *config.Config
	core Core
}

// New makes the dialect. It needs the languages' config for what is Piston's own business:
// version matching, file names and capping the limits Piston clients send.
func New(cfg *config.Config, core Core) *Dialect {
	return &Dialect{cfg: cfg, core: core}
}

// Routes adds the routes that are Piston's alone. POST /api/v2/execute is shared with the
// native v2 API, which hands Piston's bodies (IsRequest) to Execute.
func (d *Dialect) Routes(add Route) {
	add(http.MethodGet, "/api/v2/runtimes", false, d.runtimes)
}

type runtime struct {
	Language string   `json:"language"`
	Version  string   `json:"version"`
	Aliases  []string `json:"aliases"`
}

func (d *Dialect) runtimes(w http.ResponseWriter, r *http.Request) {
	out := []runtime{}
	for _, name := range d.cfg.LanguageNames() {
		l := d.cfg.Languages[name]
		aliases := l.Aliases
		if aliases == nil {
			aliases = []string{}
		}
		out = append(out, runtime{Language: name, Version: l.Version(), Aliases: aliases})
	}
	httpjson.Write(w, http.StatusOK, out)
}

// WriteError is Piston's error shape.
func WriteError(w http.ResponseWriter, code int, msg string) {
	httpjson.Write(w, code, struct {
		Message string `json:"message"`
	}{msg})
}

// IsRequest tells Piston's request shape from the native v2 one: Piston sends files[].content
// (the native one files[].code) and a version (the native one has none).
func IsRequest(b []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) != nil {
		return false // not an object: the native decoder says what is wrong
	}
	if _, ok := probe["version"]; ok {
		return true
	}
	var files []map[string]json.RawMessage
	if json.Unmarshal(probe["files"], &files) != nil {
		return false
	}
	for _, f := range files {
		if _, ok := f["content"]; ok {
			return true
		}
	}
	return false
}

type file struct {
	Name     string  `json:"name"`
	Content  *string `json:"content"`
	Encoding string  `json:"encoding"`
}

// Request is Piston's execute request. Numbers are float64 because JavaScript clients may send
// any number; unknown fields are ignored, as Piston does.
type Request struct {
	Language           *string  `json:"language"`
	Version            *string  `json:"version"`
	Files              []file   `json:"files"`
	Stdin              string   `json:"stdin"`
	Args               []string `json:"args"`
	CompileTimeout     float64  `json:"compile_timeout"`
	RunTimeout         float64  `json:"run_timeout"`
	CompileMemoryLimit float64  `json:"compile_memory_limit"`
	RunMemoryLimit     float64  `json:"run_memory_limit"`
}

// Stage is the answer of one stage (compile or run) in Piston's shape.
type Stage struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Output string `json:"output"`
	Exit
}

// Exit is how a stage ended, in Piston's shape: the stage of an answer without its output, and
// the exit message of a /api/v2/connect session.
type Exit struct {
	Code    *int    `json:"code"`
	Signal  *string `json:"signal"`
	Message *string `json:"message"`
	Status  *string `json:"status"`
	// Measurements, named as Piston names them: milliseconds and bytes.
	CPUTime  float64 `json:"cpu_time"`
	WallTime float64 `json:"wall_time"`
	Memory   int64   `json:"memory"`
}

// Answer is Piston's execute answer.
type Answer struct {
	Language string `json:"language"`
	Version  string `json:"version"`
	Run      *Stage `json:"run,omitempty"`
	Compile  *Stage `json:"compile,omitempty"`
}

// Execute answers a Piston execute request whose body b the v2 route has read.
func (d *Dialect) Execute(w http.ResponseWriter, r *http.Request, b []byte) {
	var pr Request
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&pr); err != nil {
		WriteError(w, http.StatusBadRequest, "malformed JSON: "+httpjson.Problem(err))
		return
	}
	req, msg := d.ToRunner(&pr)
	if msg != "" {
		WriteError(w, http.StatusBadRequest, msg)
		return
	}
	res, err := d.core.Execute(r.Context(), req, nil)
	if err != nil {
		d.core.Fail(w, r, err, WriteError)
		return
	}
	httpjson.Write(w, http.StatusOK, FromResult(res))
}

// ToRunner turns Piston's request into the runner's; msg is Piston-style error text.
func (d *Dialect) ToRunner(pr *Request) (req *runner.Request, msg string) {
	if pr.Language == nil || *pr.Language == "" {
		return nil, "language is required as a string"
	}
	if len(pr.Files) == 0 {
		return nil, "files is required as an array with at least one {content}"
	}
	version := "*" // piston-client leaves version out when called with an alias
	if pr.Version != nil {
		version = *pr.Version
	}
	lang, ok := d.cfg.Lookup(*pr.Language)
	if !ok || !versionMatches(version, lang.Version()) {
		return nil, fmt.Sprintf("%s-%s runtime is unknown; GET /api/v2/runtimes lists them", *pr.Language, version)
	}
	req = &runner.Request{Language: lang.Name, Stdin: []byte(pr.Stdin), Args: pr.Args}
	for i, f := range pr.Files {
		if f.Content == nil {
			return nil, fmt.Sprintf("files[%d].content is required as a string", i)
		}
		content, err := decodeContent(*f.Content, f.Encoding)
		if err != nil {
			return nil, fmt.Sprintf("files[%d]: %v", i, err)
		}
		name := f.Name
		switch {
		case name == "" && i == 0:
			name = lang.Source
		case name == "":
			// Unnamed files get the entry's extension, so compiled languages build them too.
			name = fmt.Sprintf("file%d%s", i, path.Ext(lang.Source))
		}
		// Piston runs the first file.
		req.Files = append(req.Files, runner.File{Name: name, Content: content, Entry: i == 0})
	}
	// Piston's limits are capped by ours instead of refused: its clients send their own defaults.
	if pr.RunTimeout > 0 {
		req.TimeLimit = time.Duration(min(int64(pr.RunTimeout), lang.MaxRunTimeoutMs)) * time.Millisecond
	}
	if pr.CompileTimeout > 0 {
		// The runner never raises it above the language's; capped here only so that it fits.
		req.CompileTimeLimit = time.Duration(min(int64(pr.CompileTimeout), lang.CompileTimeoutMs)) * time.Millisecond
	}
	// One container runs both stages, so it gets the larger of the two memory limits (in bytes;
	// -1 is the server's default), rounded up to whole MiB.
	if mem := max(pr.RunMemoryLimit, pr.CompileMemoryLimit); mem > 0 {
		req.MemoryLimitBytes = min((int64(mem)+(1<<20)-1)>>20, lang.MaxMemoryMB) << 20
	}
	return req, ""
}

// versionMatches accepts "*", an exact version, or a prefix of it such as "3", "3.11" or "3.x".
func versionMatches(want, have string) bool {
	want = strings.TrimSpace(want)
	for strings.HasSuffix(want, ".x") || strings.HasSuffix(want, ".*") {
		want = want[:len(want)-2]
	}
	switch want {
	case "", "*", "x", "latest":
		return true
	}
	return have == want || strings.HasPrefix(have, want+".")
}

func decodeContent(content, encoding string) ([]byte, error) {
	switch encoding {
	case "", "utf8", "utf-8":
		return []byte(content), nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, fmt.Errorf("content is not valid base64: %v", err)
		}
		return b, nil
	case "hex":
		b, err := hex.DecodeString(content)
		if err != nil {
			return nil, fmt.Errorf("content is not valid hex: %v", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("encoding %q is not supported; use utf8, base64 or hex", encoding)
}

// FromResult is Piston's answer for a result. As Piston does, a failed compile has no run stage.
func FromResult(res *runner.Result) *Answer {
	out := &Answer{Language: res.Language, Version: res.Version}
	if res.Compile != nil {
		out.Compile = stage(res.Compile)
	}
	if res.Status != runner.CompileError {
		out.Run = stage(&res.Run)
	}
	return out
}

// stage maps one measured step to Piston's stage. Piston reports code null and the signal's
// name when the process was killed, and a two-letter status when it did not end well.
func stage(st *runner.Step) *Stage {
	out := &Stage{Exit: ExitOf(st)}
	out.Stdout, _ = httpjson.Text(st.Stdout)
	out.Stderr, _ = httpjson.Text(st.Stderr)
	// Piston interleaves both streams in arrival order; they are captured apart here.
	out.Output = out.Stdout + out.Stderr
	return out
}

// ExitOf is how a measured step ended, in Piston's shape.
func ExitOf(st *runner.Step) Exit {
	out := Exit{CPUTime: runner.Millis(st.CPU), WallTime: runner.Millis(st.Wall), Memory: st.MemoryBytes}
	if st.Signal != "" {
		sig := st.Signal
		out.Signal = &sig
	} else {
		code := st.ExitCode
		out.Code = &code
	}
	status, message := status(st)
	if status != "" {
		out.Status, out.Message = &status, &message
	}
	return out
}

func status(st *runner.Step) (status, message string) {
	switch st.Status {
	case runner.OK:
		return "", ""
	case runner.TimeLimitExceeded:
		return "TO", "Time limit exceeded"
	case runner.OutputLimitExceeded:
		return "OL", "Output limit exceeded"
	case runner.MemoryLimitExceeded:
		if st.Signal != "" {
			return "SG", "Memory limit exceeded"
		}
		return "RE", "Memory limit exceeded"
	}
	if st.Signal != "" {
		return "SG", "Killed by " + st.Signal
	}
	return "RE", fmt.Sprintf("Exited with code %d", st.ExitCode)
}
