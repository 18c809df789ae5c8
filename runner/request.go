// Package runner performs one execution: it validates a request against the language's config,
// turns it into a job for the in-container agent, runs it in a claimed warm container, and turns
// the agent's measurements into a verdict.
package runner

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/codeexec/codeexec/agent"
	"github.com/codeexec/codeexec/config"
)

// File is one submitted source file.
type File struct {
	Name    string
	Content []byte
	Entry   bool
}

// Test is one judge test case.
type Test struct {
	Stdin    []byte
	Expected *string // nil: no comparison, the test is judged on exit status only
}

// Request is one execution as the API hands it over.
type Request struct {
	Language string
	Files    []File
	Stdin    []byte
	Args     []string
	// TimeLimitMs is the CPU-time limit of each run (0: the language's default).
	TimeLimitMs int64
	// MemoryLimitMB is the memory limit (0: the language's default).
	MemoryLimitMB int64
	// CompileTimeLimitMs overrides the CPU-time limit of the compile step (0: default).
	CompileTimeLimitMs int64
	Tests              []Test
	Compare            string // "trim" (default) or "exact"
	StopOnFirstFailure bool
}

// InputError is a problem with the request itself; the API answers it with 400.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputErr(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// IsInputError reports whether err is an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// plan is a validated request, ready to be sent.
type plan struct {
	lang        *config.Language
	job         agent.Job
	memoryBytes int64
	compare     string
	tests       []Test
	deadlineMs  int64 // upper bound on the whole job's wall time
}

// minMemoryMB is the least memory a request may ask for; runtimes fail in odd ways below it.
const minMemoryMB = 32

// maxArgs and maxArgBytes bound the command-line arguments of a run, well inside what exec allows.
const (
	maxArgs     = 1024
	maxArgBytes = 64 << 10
)

func (r *Runner) plan(req *Request) (*plan, error) {
	if req.Language == "" {
		return nil, inputErr("language is required")
	}
	lang, ok := r.cfg.Lookup(req.Language)
	if !ok {
		return nil, inputErr("unknown language %q; GET /api/v1/languages lists them", req.Language)
	}
	entry, err := r.checkFiles(req.Files)
	if err != nil {
		return nil, err
	}
	srv := r.cfg.Server
	if int64(len(req.Stdin)) > srv.MaxStdinBytes {
		return nil, inputErr("stdin is %d bytes; the limit is %d", len(req.Stdin), srv.MaxStdinBytes)
	}
	cpuMs := lang.RunTimeoutMs
	switch {
	case req.TimeLimitMs < 0:
		return nil, inputErr("timeLimitMs must be positive")
	case req.TimeLimitMs > lang.MaxRunTimeoutMs:
		return nil, inputErr("timeLimitMs %d is above the maximum %d for %s", req.TimeLimitMs, lang.MaxRunTimeoutMs, lang.Name)
	case req.TimeLimitMs > 0:
		cpuMs = req.TimeLimitMs
	}
	compileMs := lang.CompileTimeoutMs
	switch {
	case req.CompileTimeLimitMs < 0:
		return nil, inputErr("compile time limit must be positive")
	case req.CompileTimeLimitMs > 0 && req.CompileTimeLimitMs < compileMs:
		compileMs = req.CompileTimeLimitMs
	}
	memMB := lang.MemoryMB
	switch {
	case req.MemoryLimitMB < 0:
		return nil, inputErr("memoryLimitMb must be positive")
	case req.MemoryLimitMB > lang.MaxMemoryMB:
		return nil, inputErr("memoryLimitMb %d is above the maximum %d for %s", req.MemoryLimitMB, lang.MaxMemoryMB, lang.Name)
	case req.MemoryLimitMB > 0 && req.MemoryLimitMB < minMemoryMB:
		return nil, inputErr("memoryLimitMb must be at least %d", minMemoryMB)
	case req.MemoryLimitMB > 0:
		memMB = req.MemoryLimitMB
	}
	if len(req.Tests) > r.cfg.Judge.MaxTests {
		return nil, inputErr("%d tests; the limit is %d", len(req.Tests), r.cfg.Judge.MaxTests)
	}
	compare := req.Compare
	switch compare {
	case "":
		compare = "trim"
	case "trim", "exact":
	default:
		return nil, inputErr(`compare must be "trim" or "exact", not %q`, compare)
	}
	var total int64
	for i, t := range req.Tests {
		total += int64(len(t.Stdin))
		if int64(len(t.Stdin)) > srv.MaxStdinBytes {
			return nil, inputErr("tests[%d].stdin is %d bytes; the limit is %d", i, len(t.Stdin), srv.MaxStdinBytes)
		}
	}
	argBytes := 0
	for _, a := range req.Args {
		if strings.ContainsRune(a, 0) {
			return nil, inputErr("args must not contain NUL bytes")
		}
		argBytes += len(a) + 1
	}
	// Past the kernel's limits (128 KiB per argument, about 2 MiB for all with the environment)
	// the program cannot even start; say so instead of answering a run that failed.
	if len(req.Args) > maxArgs || argBytes > maxArgBytes {
		return nil, inputErr("args: %d arguments, %d bytes; the limits are %d arguments and %d bytes together", len(req.Args), argBytes, maxArgs, maxArgBytes)
	}

	p := &plan{lang: lang, memoryBytes: memMB << 20, compare: compare, tests: req.Tests}
	for _, f := range req.Files {
		p.job.Files = append(p.job.Files, agent.File{Path: path.Clean(f.Name), Content: f.Content})
	}
	wall := func(cpu int64) int64 { return int64(float64(cpu)*r.cfg.Judge.WallFactor) + r.cfg.Judge.WallSlackMs }
	if lang.Compiled() {
		p.job.Compile = &agent.Step{
			Name: "compile", Argv: expand(lang.Compile, entry, req.Files), Env: lang.Env,
			CPULimitMs: compileMs, WallLimitMs: wall(compileMs), OutputLimit: srv.OutputLimitBytes,
		}
		p.deadlineMs += wall(compileMs)
	}
	runArgv := append(expand(lang.Run, entry, req.Files), req.Args...)
	step := func(stdin []byte) agent.Step {
		p.deadlineMs += wall(cpuMs)
		return agent.Step{Name: "run", Argv: runArgv, Env: lang.Env, Stdin: stdin,
			CPULimitMs: cpuMs, WallLimitMs: wall(cpuMs), OutputLimit: srv.OutputLimitBytes}
	}
	if len(req.Tests) == 0 {
		p.job.Runs = []agent.Step{step(req.Stdin)}
	} else {
		for _, t := range req.Tests {
			p.job.Runs = append(p.job.Runs, step(t.Stdin))
		}
		p.job.StopOnFailure = req.StopOnFirstFailure
	}
	return p, nil
}

// checkFiles validates names and picks the entry file.
func (r *Runner) checkFiles(files []File) (File, error) {
	if len(files) == 0 {
		return File{}, inputErr("code is required (or files, with at least one file)")
	}
	if len(files) > r.cfg.Server.MaxFiles {
		return File{}, inputErr("%d files; the limit is %d", len(files), r.cfg.Server.MaxFiles)
	}
	seen := map[string]bool{}
	var entries []File
	for i, f := range files {
		if err := checkName(f.Name); err != nil {
			return File{}, inputErr("files[%d]: %v", i, err)
		}
		clean := path.Clean(f.Name)
		if seen[clean] {
			return File{}, inputErr("files[%d]: file name %q is used twice", i, f.Name)
		}
		seen[clean] = true
		if f.Entry {
			entries = append(entries, f)
		}
	}
	// A file may not also be a folder of another one (a.py and a.py/b.py).
	for name := range seen {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if seen[dir] {
				return File{}, inputErr("file name %q is also used as a folder", dir)
			}
		}
	}
	switch {
	case len(files) == 1:
		return files[0], nil
	case len(entries) == 0:
		return File{}, inputErr("%d files but no entry point: mark exactly one with isEntryPoint", len(files))
	case len(entries) > 1:
		return File{}, inputErr("%d files are marked isEntryPoint; exactly one may be", len(entries))
	}
	return entries[0], nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("file name is empty")
	case len(name) > 255:
		return errors.New("file name is longer than 255 bytes")
	case !utf8.ValidString(name):
		return errors.New("file name is not valid UTF-8")
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("file name %q is absolute; use a relative name", name)
	case strings.ContainsAny(name, "\x00\\"):
		return fmt.Errorf("file name %q contains a NUL byte or a backslash", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("file name %q contains '..'", name)
		}
	}
	if c := path.Clean(name); c == "." {
		return fmt.Errorf("file name %q names no file", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("file name %q contains a control character", name)
		}
	}
	return nil
}

// expand fills the placeholders of a configured argv.
func expand(argv []string, entry File, files []File) []string {
	entryPath := argPath(entry.Name)
	ext := path.Ext(entryPath)
	base := strings.TrimSuffix(path.Base(entryPath), ext)
	out := make([]string, 0, len(argv)+len(files))
	for _, a := range argv {
		if a == "{sources}" {
			out = append(out, entryPath)
			for _, f := range files {
				if p := argPath(f.Name); p != entryPath && path.Ext(p) == ext {
					out = append(out, p)
				}
			}
			continue
		}
		a = strings.ReplaceAll(a, "{entry}", entryPath)
		a = strings.ReplaceAll(a, "{entryBase}", base)
		out = append(out, a)
	}
	return out
}

// argPath is a file's path as a command-line argument: a name starting with '-' would be read as
// an option, so it gets a "./" prefix.
func argPath(name string) string {
	p := path.Clean(name)
	if strings.HasPrefix(p, "-") {
		return "./" + p
	}
	return p
}
