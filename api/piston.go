package api

// Piston compatibility: GET /api/v2/runtimes and Piston's request and answer shapes on
// POST /api/v2/execute, so that clients of engineer-man/piston work unchanged.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/codeexec/codeexec/runner"
)

type pistonRuntime struct {
	Language string   `json:"language"`
	Version  string   `json:"version"`
	Aliases  []string `json:"aliases"`
}

func (s *Server) pistonRuntimes(w http.ResponseWriter, r *http.Request) {
	out := []pistonRuntime{}
	for _, name := range s.cfg.LanguageNames() {
		l := s.cfg.Languages[name]
		aliases := l.Aliases
		if aliases == nil {
			aliases = []string{}
		}
		out = append(out, pistonRuntime{Language: name, Version: l.Version, Aliases: aliases})
	}
	writeJSON(w, http.StatusOK, out)
}

// writePistonError is Piston's error shape.
func writePistonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Message string `json:"message"`
	}{msg})
}

// isPiston tells Piston's request shape from ours: Piston sends files[].content (ours is
// files[].code) and a version (ours has none).
func isPiston(b []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) != nil {
		return false // not an object: our decoder says what is wrong
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

type pistonFile struct {
	Name     string  `json:"name"`
	Content  *string `json:"content"`
	Encoding string  `json:"encoding"`
}

// pistonRequest is Piston's execute request. Numbers are float64 because JavaScript clients
// may send any number; unknown fields are ignored, as Piston does.
type pistonRequest struct {
	Language           *string      `json:"language"`
	Version            *string      `json:"version"`
	Files              []pistonFile `json:"files"`
	Stdin              string       `json:"stdin"`
	Args               []string     `json:"args"`
	CompileTimeout     float64      `json:"compile_timeout"`
	RunTimeout         float64      `json:"run_timeout"`
	CompileMemoryLimit float64      `json:"compile_memory_limit"`
	RunMemoryLimit     float64      `json:"run_memory_limit"`
}

// pistonStage is the answer of one stage (compile or run) in Piston's shape.
type pistonStage struct {
	Stdout  string  `json:"stdout"`
	Stderr  string  `json:"stderr"`
	Output  string  `json:"output"`
	Code    *int    `json:"code"`
	Signal  *string `json:"signal"`
	Message *string `json:"message"`
	Status  *string `json:"status"`
	// Measurements, named as Piston names them: milliseconds and bytes.
	CPUTime  float64 `json:"cpu_time"`
	WallTime float64 `json:"wall_time"`
	Memory   int64   `json:"memory"`
}

type pistonAnswer struct {
	Language string       `json:"language"`
	Version  string       `json:"version"`
	Run      *pistonStage `json:"run,omitempty"`
	Compile  *pistonStage `json:"compile,omitempty"`
}

func (s *Server) executePiston(w http.ResponseWriter, r *http.Request, b []byte) {
	var pr pistonRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&pr); err != nil {
		writePistonError(w, http.StatusBadRequest, "malformed JSON: "+jsonProblem(err))
		return
	}
	req, msg := s.fromPiston(&pr)
	if msg != "" {
		writePistonError(w, http.StatusBadRequest, msg)
		return
	}
	res, err := s.exec.Execute(r.Context(), req)
	if err != nil {
		s.failWith(w, r, err, writePistonError)
		return
	}
	if s.OnExecuted != nil {
		s.OnExecuted(req, res, false)
	}
	out := pistonAnswer{Language: res.Language, Version: res.Version}
	if res.Compile != nil {
		out.Compile = toPistonStage(res.Compile)
	}
	// As Piston does, a failed compile has no run stage.
	if res.Status != runner.CompileError {
		out.Run = toPistonStage(&res.Run)
	}
	writeJSON(w, http.StatusOK, out)
}

// fromPiston turns Piston's request into ours; msg is Piston-style error text.
func (s *Server) fromPiston(pr *pistonRequest) (req *runner.Request, msg string) {
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
	lang, ok := s.cfg.Lookup(*pr.Language)
	if !ok || !versionMatches(version, lang.Version) {
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
		req.TimeLimitMs = min(int64(pr.RunTimeout), lang.MaxRunTimeoutMs)
	}
	if pr.CompileTimeout > 0 {
		req.CompileTimeLimitMs = int64(pr.CompileTimeout) // the runner never raises it above the language's
	}
	// One container runs both stages, so it gets the larger of the two memory limits (in bytes;
	// -1 is the server's default).
	if mem := max(pr.RunMemoryLimit, pr.CompileMemoryLimit); mem > 0 {
		req.MemoryLimitMB = min((int64(mem)+(1<<20)-1)>>20, lang.MaxMemoryMB)
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

// toPistonStage maps one measured step to Piston's stage. Piston reports code null and the
// signal's name when the process was killed, and a two-letter status when it did not end well.
func toPistonStage(st *runner.Step) *pistonStage {
	out := &pistonStage{CPUTime: st.CPUTimeMs, WallTime: st.WallTimeMs, Memory: st.MemoryBytes}
	out.Stdout, _ = text(st.Stdout)
	out.Stderr, _ = text(st.Stderr)
	// Piston interleaves both streams in arrival order; they are captured apart here.
	out.Output = out.Stdout + out.Stderr
	if st.Signal != "" {
		sig := st.Signal
		out.Signal = &sig
	} else {
		code := st.ExitCode
		out.Code = &code
	}
	status, message := pistonStatus(st)
	if status != "" {
		out.Status, out.Message = &status, &message
	}
	return out
}

func pistonStatus(st *runner.Step) (status, message string) {
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
