package judge0

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codeexec/codeexec/queue"
)

// fields are the attributes of Judge0's submission serializer (its table's columns without id,
// plus status and language), in its order.
var fields = []string{"source_code", "language_id", "stdin", "expected_output", "stdout", "status_id",
	"created_at", "finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
	"cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
	"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
	"max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time",
	"compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
	"additional_files", "enable_network", "status", "language"}

// defaultFields are SubmissionSerializer.default_fields.
var defaultFields = []string{"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}

// requestedFields is Fields::Submission: the fields parameter split on commas; "*" is every
// field; none (or only invalid ones) is the default fields. invalid is what the 400 names.
func requestedFields(param string) (want, invalid []string) {
	parts := strings.Split(param, ",")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1] // Ruby's split drops trailing empty fields
	}
	all := false
	for _, p := range parts {
		switch {
		case p == "*":
			all = true
		case !contains(fields, p):
			invalid = append(invalid, p)
		case !contains(want, p):
			want = append(want, p)
		}
	}
	switch {
	case all:
		return fields, invalid
	case len(want) == 0:
		return defaultFields, invalid
	}
	return want, invalid
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// errNotUTF8 is the serializer's failure on text it cannot put in JSON without base64.
var errNotUTF8 = errors.New("not UTF-8")

// submission is everything an answer about a token can show.
type submission struct {
	Token      string
	Attrs      Attrs
	Language   languageRef
	Status     queue.Status
	Outcome    Outcome // when done
	FinishedAt time.Time
}

type languageRef struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type statusRef struct {
	ID          int    `json:"id"`
	Description string `json:"description"`
}

// render is the submission's JSON object with the given fields, in their order. Text is
// base64-encoded as Ruby's encode64 does when b64; otherwise text that is not UTF-8 fails with
// errNotUTF8, as Judge0's does.
func (s *submission) render(want []string, b64 bool) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range want {
		v, err := s.field(f, b64)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (s *submission) field(name string, b64 bool) (json.RawMessage, error) {
	a, o := &s.Attrs, &s.Outcome
	done := s.Status == queue.Done
	text := func(b []byte, set bool) (json.RawMessage, error) {
		switch {
		case !set:
			return marshal(nil), nil
		case b64:
			return marshal(encodeBase64(b)), nil
		case !utf8.Valid(b):
			return nil, errNotUTF8
		}
		return marshal(string(b)), nil
	}
	orNull := func(ok bool, v any) json.RawMessage {
		if !ok {
			return marshal(nil)
		}
		return marshal(v)
	}
	status := s.statusID()
	switch name {
	case "source_code":
		return text(deref(a.SourceCode), a.SourceCode != nil)
	case "stdin":
		return text(deref(a.Stdin), a.Stdin != nil)
	case "expected_output":
		return text(deref(a.ExpectedOutput), a.ExpectedOutput != nil)
	case "stdout":
		return text(o.Stdout, done && o.Stdout != nil)
	case "stderr":
		return text(o.Stderr, done && o.Stderr != nil)
	case "compile_output":
		return text(o.CompileOutput, done && o.CompileOutput != nil)
	case "message":
		if !done || o.Message == nil {
			return marshal(nil), nil
		}
		return text([]byte(*o.Message), true)
	case "language_id":
		return marshal(a.LanguageID), nil
	case "status_id":
		return marshal(status), nil
	case "status":
		return marshal(statusRef{status, statusNames[status]}), nil
	case "language":
		return marshal(s.Language), nil
	case "created_at":
		return marshal(railsTime(a.CreatedAt)), nil
	case "finished_at":
		return orNull(done && !s.FinishedAt.IsZero(), railsTime(s.FinishedAt)), nil
	case "time":
		return orNull(done && o.Time != nil, o.Time), nil
	case "wall_time":
		return orNull(done && o.WallTime != nil, o.WallTime), nil
	case "memory":
		return orNull(done && o.Memory != nil, o.Memory), nil
	case "exit_code":
		return orNull(done && o.ExitCode != nil, o.ExitCode), nil
	case "exit_signal":
		return orNull(done && o.ExitSignal != nil, o.ExitSignal), nil
	case "token":
		return marshal(s.Token), nil
	case "number_of_runs":
		return marshal(a.NumberOfRuns), nil
	case "cpu_time_limit":
		return marshal(decimal(a.CPUTimeLimit)), nil
	case "cpu_extra_time":
		return marshal(decimal(a.CPUExtraTime)), nil
	case "wall_time_limit":
		return marshal(decimal(a.WallTimeLimit)), nil
	case "memory_limit":
		return marshal(a.MemoryLimit), nil
	case "stack_limit":
		return marshal(a.StackLimit), nil
	case "max_processes_and_or_threads":
		return marshal(a.MaxProcesses), nil
	case "enable_per_process_and_thread_time_limit":
		return marshal(a.PerProcessTime), nil
	case "enable_per_process_and_thread_memory_limit":
		return marshal(a.PerProcessMemory), nil
	case "max_file_size":
		return marshal(a.MaxFileSize), nil
	case "compiler_options":
		return marshal(a.CompilerOptions), nil
	case "command_line_arguments":
		return marshal(a.CommandLineArguments), nil
	case "redirect_stderr_to_stdout":
		return marshal(a.RedirectStderr), nil
	case "callback_url":
		return marshal(a.CallbackURL), nil
	case "additional_files":
		if a.AdditionalFiles == nil {
			return marshal(nil), nil
		}
		return marshal(encodeBase64(*a.AdditionalFiles)), nil
	case "enable_network":
		return marshal(a.EnableNetwork), nil
	}
	return marshal(nil), nil
}

func (s *submission) statusID() int {
	switch s.Status {
	case queue.Queued:
		return InQueue
	case queue.Running:
		return Processing
	}
	return s.Outcome.Status
}

func marshal(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// railsTime is how Rails serialises a time: UTC, milliseconds.
func railsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
