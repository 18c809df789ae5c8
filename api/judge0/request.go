package judge0

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/runner"
)

// Attrs are a submission's request attributes as Judge0 keeps them (its submissions table):
// what the client sent, with our defaults filled in. They travel with the plan as the
// submission's meta, so that any API process can answer for a token.
type Attrs struct {
	SourceCode           *[]byte   `json:"source_code"`
	LanguageID           int       `json:"language_id"`
	Stdin                *[]byte   `json:"stdin"`
	ExpectedOutput       *[]byte   `json:"expected_output"`
	NumberOfRuns         int       `json:"number_of_runs"`
	CPUTimeLimit         float64   `json:"cpu_time_limit"`
	CPUExtraTime         float64   `json:"cpu_extra_time"`
	WallTimeLimit        float64   `json:"wall_time_limit"`
	MemoryLimit          int64     `json:"memory_limit"`
	StackLimit           int64     `json:"stack_limit"`
	MaxProcesses         int64     `json:"max_processes_and_or_threads"`
	PerProcessTime       bool      `json:"enable_per_process_and_thread_time_limit"`
	PerProcessMemory     bool      `json:"enable_per_process_and_thread_memory_limit"`
	MaxFileSize          int64     `json:"max_file_size"`
	CompilerOptions      *string   `json:"compiler_options"`
	CommandLineArguments *string   `json:"command_line_arguments"`
	RedirectStderr       bool      `json:"redirect_stderr_to_stdout"`
	CallbackURL          *string   `json:"callback_url"`
	AdditionalFiles      *[]byte   `json:"additional_files"`
	EnableNetwork        bool      `json:"enable_network"`
	CreatedAt            time.Time `json:"created_at"`
}

// Errors is Rails' errors hash: attribute → messages. It is Judge0's 422 body.
type Errors map[string][]string

func (e Errors) add(attr, format string, a ...any) {
	e[attr] = append(e[attr], fmt.Sprintf(format, a...))
}

// Limits Judge0 validates against (app/helpers/config.rb), with ours where we have them.
const (
	maxNumberOfRuns  = 20
	maxCPUExtraTime  = 5.0
	maxStackLimit    = 128000
	maxProcesses     = 120
	maxMaxFileSize   = 4096
	maxOptionLength  = 512
	minMemoryLimitKB = 32 << 10 // the runner's least memory: runtimes fail in odd ways below it
	callbackTries    = 3
	callbackTimeout  = 5 * time.Second
)

// permitted are the request attributes Judge0 reads (its permit list); it ignores any other.
var permitted = []string{"source_code", "language_id", "compiler_options", "command_line_arguments",
	"number_of_runs", "stdin", "expected_output", "cpu_time_limit", "cpu_extra_time", "wall_time_limit",
	"memory_limit", "stack_limit", "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
	"enable_per_process_and_thread_memory_limit", "max_file_size", "redirect_stderr_to_stdout", "callback_url",
	"additional_files", "enable_network"}

// CallbackChecker says why a callback URL is refused (nil: allowed); *queue.Queue is one.
type CallbackChecker interface {
	CheckCallback(url string) error
}

// parsed is a validated submission: its attributes and what the runner gets.
type parsed struct {
	attrs Attrs
	lang  *config.Language
	req   *runner.Request
}

// parse reads one submission object as Judge0's controller and model do: permitted attributes
// only, numbers as JSON numbers or numeric strings, source_code, stdin and expected_output
// base64-decoded when b64, additional_files always. Problems are the 422 hash.
func parse(ctx context.Context, cfg *config.Config, cb CallbackChecker, raw json.RawMessage, b64 bool) (*parsed, Errors) {
	errs := Errors{}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		errs.add("base", "the submission must be a JSON object")
		return nil, errs
	}
	for k, v := range obj {
		if !slices.Contains(permitted, k) || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(obj, k)
		}
	}
	a := Attrs{CreatedAt: time.Now().UTC()}
	a.SourceCode = textAttr(obj, "source_code", b64, errs)
	a.Stdin = textAttr(obj, "stdin", b64, errs)
	a.ExpectedOutput = textAttr(obj, "expected_output", b64, errs)
	a.AdditionalFiles = textAttr(obj, "additional_files", true, errs)
	a.CompilerOptions = stringAttr(obj, "compiler_options", errs)
	a.CommandLineArguments = stringAttr(obj, "command_line_arguments", errs)
	a.CallbackURL = stringAttr(obj, "callback_url", errs)

	if a.SourceCode == nil || blank(string(*a.SourceCode)) {
		errs.add("source_code", "can't be blank")
	}
	id, idSet := numberAttr(obj, "language_id", errs)
	if !idSet {
		errs.add("language_id", "can't be blank")
	}
	a.LanguageID = int(id)
	lang, ok := cfg.Judge0Language(a.LanguageID)
	if !ok {
		// Rails adds this one after "can't be blank" too: the model validates both.
		shown := ""
		if idSet {
			shown = strconv.FormatInt(int64(id), 10)
		}
		errs.add("language_id", "language with id %s doesn't exist", shown)
	}

	// Our defaults and limits: the language's where it has them.
	d := defaultsFor(cfg, lang)
	a.NumberOfRuns = int(intAttr(obj, "number_of_runs", 1, errs, gt(0), le(maxNumberOfRuns)))
	a.CPUTimeLimit = floatAttr(obj, "cpu_time_limit", d.cpu, errs, ge(0), le(d.maxCPU))
	a.CPUExtraTime = floatAttr(obj, "cpu_extra_time", 0, errs, ge(0), le(maxCPUExtraTime))
	a.WallTimeLimit = floatAttr(obj, "wall_time_limit", d.wall, errs, ge(1), le(d.maxWall))
	a.MemoryLimit = intAttr(obj, "memory_limit", d.memoryKB, errs, ge(minMemoryLimitKB), le(float64(d.maxMemoryKB)))
	a.StackLimit = intAttr(obj, "stack_limit", 0, errs, ge(0), le(maxStackLimit))
	a.MaxProcesses = intAttr(obj, "max_processes_and_or_threads", d.pids, errs, gt(0), le(maxProcesses))
	a.MaxFileSize = intAttr(obj, "max_file_size", d.fileKB, errs, ge(0), le(maxMaxFileSize))
	a.PerProcessTime = boolAttr(obj, "enable_per_process_and_thread_time_limit", errs)
	a.PerProcessMemory = boolAttr(obj, "enable_per_process_and_thread_memory_limit", errs)
	a.RedirectStderr = boolAttr(obj, "redirect_stderr_to_stdout", errs)
	a.EnableNetwork = boolAttr(obj, "enable_network", errs)
	if a.CompilerOptions != nil && len(*a.CompilerOptions) > maxOptionLength {
		errs.add("compiler_options", "is too long (maximum is %d characters)", maxOptionLength)
	}
	if a.CommandLineArguments != nil && len(*a.CommandLineArguments) > maxOptionLength {
		errs.add("command_line_arguments", "is too long (maximum is %d characters)", maxOptionLength)
	}
	// What Judge0 allows and we cannot honour is refused with the message Judge0 gives when its
	// operator turned the option off (GET /config_info says it is off).
	if a.PerProcessTime {
		errs.add("enable_per_process_and_thread_time_limit", "this option cannot be enabled")
	}
	if a.PerProcessMemory {
		errs.add("enable_per_process_and_thread_memory_limit", "this option cannot be enabled")
	}
	if a.CompilerOptions != nil && !blank(*a.CompilerOptions) {
		errs.add("compiler_options", "setting compiler options is not allowed")
	}
	if a.CallbackURL != nil && !blank(*a.CallbackURL) {
		if len(cfg.Queue.CallbackAllow) == 0 {
			errs.add("callback_url", "setting callback is not allowed")
		} else if err := cb.CheckCallback(*a.CallbackURL); err != nil {
			errs.add("callback_url", "%v", err)
		}
	}
	if a.EnableNetwork {
		errs.add("enable_network", "enabling network is not allowed")
	}
	var extra []runner.File
	if a.AdditionalFiles != nil && len(*a.AdditionalFiles) > 0 && lang != nil {
		files, err := unzipFiles(*a.AdditionalFiles, cfg.Server.MaxFiles-1, lang.TmpfsMB<<20)
		if err != nil {
			errs.add("additional_files", "%v", err)
		}
		extra = files
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &parsed{attrs: a, lang: lang, req: toRunner(&a, lang, extra)}, nil
}

// toRunner is the runner's request for valid attributes. The number_of_runs runs are judge
// tests with the same stdin; the expected output stays here (Judge0's own comparison).
func toRunner(a *Attrs, lang *config.Language, extra []runner.File) *runner.Request {
	req := &runner.Request{
		Language:           lang.Name,
		TimeLimit:          time.Duration(math.Round(a.CPUTimeLimit*1000)) * time.Millisecond,
		MemoryLimitBytes:   a.MemoryLimit << 10,
		StopOnFirstFailure: true,
	}
	req.Files = []runner.File{{Name: lang.Source, Content: deref(a.SourceCode), Entry: true}}
	for _, f := range extra {
		// Judge0 unzips with -n: a file of the archive never replaces the source.
		if path.Clean(f.Name) != lang.Source {
			req.Files = append(req.Files, f)
		}
	}
	if a.CommandLineArguments != nil {
		req.Args = shellWords(*a.CommandLineArguments)
	}
	for range a.NumberOfRuns {
		req.Tests = append(req.Tests, runner.Test{Stdin: deref(a.Stdin)})
	}
	return req
}

type defaults struct {
	cpu, maxCPU, wall, maxWall float64
	memoryKB, maxMemoryKB      int64
	pids, fileKB               int64
}

// defaultsFor are the values a submission gets for what it leaves out, in Judge0's units; lang
// nil (an unknown id) gives the loosest bounds, since only the language error matters then.
func defaultsFor(cfg *config.Config, lang *config.Language) defaults {
	if lang == nil {
		inf := math.Inf(1)
		return defaults{maxCPU: inf, maxWall: inf, maxMemoryKB: math.MaxInt64, memoryKB: minMemoryLimitKB, pids: 1}
	}
	wall := func(cpuMs int64) float64 {
		return (float64(cpuMs)*cfg.Judge.WallFactor + float64(cfg.Judge.WallSlackMs)) / 1000
	}
	return defaults{
		cpu: float64(lang.RunTimeoutMs) / 1000, maxCPU: float64(lang.MaxRunTimeoutMs) / 1000,
		wall: wall(lang.RunTimeoutMs), maxWall: wall(lang.MaxRunTimeoutMs),
		memoryKB: lang.MemoryMB << 10, maxMemoryKB: lang.MaxMemoryMB << 10,
		pids: lang.Pids, fileKB: cfg.Server.OutputLimitBytes >> 10,
	}
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

func deref(b *[]byte) []byte {
	if b == nil {
		return nil
	}
	return *b
}

// textAttr reads a string attribute as bytes, base64-decoded when b64.
func textAttr(obj map[string]json.RawMessage, name string, b64 bool, errs Errors) *[]byte {
	s := stringAttr(obj, name, errs)
	if s == nil {
		return nil
	}
	b := []byte(*s)
	if b64 {
		var err error
		if b, err = decodeBase64(*s); err != nil {
			errs.add(name, "is not valid base64")
			return nil
		}
	}
	return &b
}

// stringAttr reads a string; numbers and booleans are taken as their text, as Rails casts them.
func stringAttr(obj map[string]json.RawMessage, name string, errs Errors) *string {
	raw, ok := obj[name]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return &s
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		switch v.(type) {
		case float64, bool:
			s = strings.TrimSpace(string(raw))
			return &s
		}
	}
	errs.add(name, "is invalid")
	return nil
}

// numberAttr reads a JSON number or a numeric string; set is false when it is absent or "".
func numberAttr(obj map[string]json.RawMessage, name string, errs Errors) (v float64, set bool) {
	raw, ok := obj[name]
	if !ok {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		errs.add(name, "is not a number")
		return 0, false
	}
	return f, true
}

type bound func(v float64) string

func gt(n float64) bound {
	return func(v float64) string {
		if v <= n {
			return "must be greater than " + ruby(n)
		}
		return ""
	}
}

func ge(n float64) bound {
	return func(v float64) string {
		if v < n {
			return "must be greater than or equal to " + ruby(n)
		}
		return ""
	}
}

func le(n float64) bound {
	return func(v float64) string {
		if v > n {
			return "must be less than or equal to " + ruby(n)
		}
		return ""
	}
}

// ruby prints a bound as Rails' message does: integers bare, fractions as decimals.
func ruby(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

func floatAttr(obj map[string]json.RawMessage, name string, def float64, errs Errors, bounds ...bound) float64 {
	v, set := numberAttr(obj, name, errs)
	if !set {
		return def
	}
	for _, b := range bounds {
		if msg := b(v); msg != "" {
			errs.add(name, "%s", msg)
			break
		}
	}
	return v
}

// intAttr is an integer column: Rails truncates a fraction.
func intAttr(obj map[string]json.RawMessage, name string, def int64, errs Errors, bounds ...bound) int64 {
	v := floatAttr(obj, name, float64(def), errs, bounds...)
	if v > math.MaxInt64/2 || v < math.MinInt64/2 {
		return def
	}
	return int64(v)
}

func boolAttr(obj map[string]json.RawMessage, name string, errs Errors) bool {
	raw, ok := obj[name]
	if !ok {
		return false
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	switch t := v.(type) {
	case bool:
		return t
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true", "1", "t", "on", "yes":
			return true
		case "", "false", "0", "f", "off", "no":
			return false
		}
	case float64:
		return t != 0
	}
	errs.add(name, "is invalid")
	return false
}

// decodeBase64 is Ruby's Base64.decode64 as far as clients rely on it: line breaks and other
// white space are ignored and padding may be left out.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// encodeBase64 is Ruby's Base64.encode64, which Judge0's answers use: lines of 60 characters,
// each ending in a line break.
func encodeBase64(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 60 {
		sb.WriteString(enc[:60])
		sb.WriteByte('\n')
		enc = enc[60:]
	}
	sb.WriteString(enc)
	sb.WriteByte('\n')
	return sb.String()
}

// shellWords splits command_line_arguments as bash would the line Judge0 writes into its run
// script, after taking out the characters Judge0 removes ($&;<>|`): on blanks, with single and
// double quotes and backslashes.
func shellWords(s string) []string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune("$&;<>|`", r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' {
				esc = true
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			esc, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
