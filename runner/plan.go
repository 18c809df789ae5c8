package runner

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/config"
)

// Plan is a validated request with everything needed to run it: the agent's job, the limits and
// what the verdicts are judged against. It holds no reference to the config, so it can be planned
// in one process and executed in another (it marshals to JSON).
type Plan struct {
	JobID    string         `json:"jobId"`
	Language string         `json:"language"` // the configured name, aliases resolved
	Version  string         `json:"version"`
	Job      agentproto.Job `json:"job"`
	// Entry is the entry file's name.
	Entry string `json:"entry"`
	// MemoryBytes is the sandbox's memory limit for this execution; the pool's sandboxes start
	// with PoolMemoryBytes, the language's default.
	MemoryBytes     int64 `json:"memoryBytes"`
	PoolMemoryBytes int64 `json:"poolMemoryBytes"`
	// TimeLimit is the CPU-time limit of each run.
	TimeLimit time.Duration `json:"timeLimit"`
	// Deadline bounds the whole job by the clock: the sum of its steps' wall limits.
	Deadline time.Duration `json:"deadline"`
	// Tests holds each judge test's expected output (nil: judged on exit status only); judge
	// mode when it is not empty. The expected outputs never enter the sandbox.
	Tests   []*string `json:"tests,omitempty"`
	Compare string    `json:"compare"`
	// MemoryErrors are texts a runtime prints when it runs out of memory.
	MemoryErrors []string `json:"memoryErrors,omitempty"`
	Save         bool     `json:"save,omitempty"`
	// AnswerBytes is how much program output the answer may keep (0: the executing runner's
	// server.maxAnswerBytes); a batch gives each submission its share of one cap, so the cap
	// holds wherever the submissions run.
	AnswerBytes int64 `json:"answerBytes,omitempty"`
	// Batch marks an entry of a batch: admitted as heavy, like a plan of several runs.
	Batch bool `json:"batch,omitempty"`
}

// Heavy reports whether the plan is admitted in the heavy class (see Runner): it runs more
// than one program, or is one of a batch.
func (p *Plan) Heavy() bool { return len(p.Job.Runs) > 1 || p.Batch }

// step is the job's step the agent names (name and index as in its StepStarted), nil if none.
func (p *Plan) step(name string, index int) *agentproto.Step {
	switch {
	case name == StageCompile:
		return p.Job.Compile
	case index >= 0 && index < len(p.Job.Runs):
		return &p.Job.Runs[index]
	}
	return nil
}

// CheckTotalLimit refuses a total of wall-clock limits (one plan's Deadline, or a batch's sum)
// above the server's cap.
func CheckTotalLimit(cfg *config.Config, total time.Duration) error {
	limit := ms(cfg.Server.MaxTotalLimitMs)
	if total <= limit {
		return nil
	}
	return inputErr("the request's time limits add up to %.1f s of wall-clock time (every run's and compile's wall limit, every test, every submission); the cap is %.1f s (server.maxTotalLimitMs): send fewer tests or a lower timeLimitMs",
		total.Seconds(), limit.Seconds())
}

// minMemoryMB is the least memory a request may ask for; runtimes fail in odd ways below it.
const minMemoryMB = 32

// maxArgs and maxArgBytes bound the command-line arguments of a run, well inside what exec allows.
const (
	maxArgs     = 1024
	maxArgBytes = 64 << 10
)

// NewPlan validates req against the configuration. Errors are *InputError.
func NewPlan(cfg *config.Config, req *Request) (*Plan, error) {
	if req.Language == "" {
		return nil, inputErr("language is required")
	}
	lang, ok := cfg.Lookup(req.Language)
	if !ok {
		return nil, inputErr("unknown language %q; GET /api/v1/languages lists them", req.Language)
	}
	files := req.Files
	if req.Code != nil {
		if len(files) > 0 {
			return nil, inputErr("give either code or files, not both")
		}
		files = []File{{Name: lang.Source, Content: req.Code, Entry: true}}
	}
	entry, err := checkFiles(cfg.Server.MaxFiles, files)
	if err != nil {
		return nil, err
	}
	if err := checkEntryBase(lang, entry); err != nil {
		return nil, err
	}
	lim, err := limitsFor(cfg, lang, req)
	if err != nil {
		return nil, err
	}
	if err := checkInput(cfg, req); err != nil {
		return nil, err
	}
	if req.Interactive && len(req.Tests) > 0 {
		return nil, inputErr("an interactive run takes no tests")
	}
	p := &Plan{
		JobID: uuid.NewString(), Language: lang.Name, Version: lang.Version(), Entry: path.Clean(entry.Name),
		MemoryBytes: lim.memory, PoolMemoryBytes: lang.MemoryMB << 20, TimeLimit: lim.cpu,
		Compare: req.Compare, MemoryErrors: lang.MemoryErrors, Save: req.Save, Batch: req.Batch,
	}
	if p.Compare == "" {
		p.Compare = "trim"
	}
	p.buildJob(cfg, lang, lim, req, files, entry)
	if err := CheckTotalLimit(cfg, p.Deadline); err != nil {
		return nil, err
	}
	return p, nil
}

type limits struct {
	cpu, compile time.Duration
	memory       int64
}

// limitsFor applies the request's limits within the language's.
func limitsFor(cfg *config.Config, lang *config.Language, req *Request) (limits, error) {
	lim := limits{
		cpu:     ms(lang.RunTimeoutMs),
		compile: ms(lang.CompileTimeoutMs),
		memory:  lang.MemoryMB << 20,
	}
	switch maxCPU := ms(lang.MaxRunTimeoutMs); {
	case req.TimeLimit < 0:
		return lim, inputErr("timeLimitMs must be positive")
	case req.TimeLimit > maxCPU:
		return lim, inputErr("timeLimitMs %d is above the maximum %d for %s", req.TimeLimit.Milliseconds(), lang.MaxRunTimeoutMs, lang.Name)
	case req.TimeLimit > 0:
		lim.cpu = req.TimeLimit
	}
	switch {
	case req.CompileTimeLimit < 0:
		return lim, inputErr("compile time limit must be positive")
	case req.CompileTimeLimit > 0 && req.CompileTimeLimit < lim.compile:
		lim.compile = req.CompileTimeLimit
	}
	switch mb := req.MemoryLimitBytes >> 20; {
	case req.MemoryLimitBytes < 0:
		return lim, inputErr("memoryLimitMb must be positive")
	case mb > lang.MaxMemoryMB:
		return lim, inputErr("memoryLimitMb %d is above the maximum %d for %s", mb, lang.MaxMemoryMB, lang.Name)
	case req.MemoryLimitBytes > 0 && mb < minMemoryMB:
		return lim, inputErr("memoryLimitMb must be at least %d", minMemoryMB)
	case req.MemoryLimitBytes > 0:
		lim.memory = req.MemoryLimitBytes
	}
	return lim, nil
}

// checkInput validates stdin, tests, the comparison and the arguments.
func checkInput(cfg *config.Config, req *Request) error {
	maxStdin := cfg.Server.MaxStdinBytes
	if int64(len(req.Stdin)) > maxStdin {
		return inputErr("stdin is %d bytes; the limit is %d", len(req.Stdin), maxStdin)
	}
	if len(req.Tests) > cfg.Judge.MaxTests {
		return inputErr("%d tests; the limit is %d", len(req.Tests), cfg.Judge.MaxTests)
	}
	switch req.Compare {
	case "", "trim", "exact":
	default:
		return inputErr(`compare must be "trim" or "exact", not %q`, req.Compare)
	}
	for i, t := range req.Tests {
		if int64(len(t.Stdin)) > maxStdin {
			return inputErr("tests[%d].stdin is %d bytes; the limit is %d", i, len(t.Stdin), maxStdin)
		}
	}
	argBytes := 0
	for _, a := range req.Args {
		if strings.ContainsRune(a, 0) {
			return inputErr("args must not contain NUL bytes")
		}
		argBytes += len(a) + 1
	}
	// Past the kernel's limits (128 KiB per argument, about 2 MiB for all with the environment)
	// the program cannot even start; say so instead of answering a run that failed.
	if len(req.Args) > maxArgs || argBytes > maxArgBytes {
		return inputErr("args: %d arguments, %d bytes; the limits are %d arguments and %d bytes together", len(req.Args), argBytes, maxArgs, maxArgBytes)
	}
	return nil
}

// buildJob fills the agent's job: the files, the compile step and a run per test (or one).
func (p *Plan) buildJob(cfg *config.Config, lang *config.Language, lim limits, req *Request, files []File, entry File) {
	for _, f := range files {
		p.Job.Files = append(p.Job.Files, agentproto.File{Path: path.Clean(f.Name), Content: f.Content})
	}
	wall := func(cpu time.Duration) time.Duration {
		return time.Duration(float64(cpu)*cfg.Judge.WallFactor) + ms(cfg.Judge.WallSlackMs)
	}
	out := cfg.Server.OutputLimitBytes
	if lang.Compiled() {
		p.Job.Compile = &agentproto.Step{
			Name: "compile", Argv: expand(lang.Compile, entry, files), Env: lang.Env,
			CPULimit: lim.compile, WallLimit: wall(lim.compile), OutputLimit: out,
		}
		p.Deadline += wall(lim.compile)
	}
	runArgv := append(expand(lang.Run, entry, files), req.Args...)
	run := func(stdin []byte) agentproto.Step {
		p.Deadline += wall(lim.cpu)
		return agentproto.Step{Name: "run", Argv: runArgv, Env: lang.Env, Stdin: stdin,
			CPULimit: lim.cpu, WallLimit: wall(lim.cpu), OutputLimit: out}
	}
	if req.Interactive {
		// A program waiting for its user uses no CPU: the clock limit is the session's. The
		// output cap holds for the whole session, since it is one step.
		step := run(req.Stdin)
		p.Deadline += ms(cfg.Interactive.MaxWallMs) - step.WallLimit
		step.WallLimit = ms(cfg.Interactive.MaxWallMs)
		p.Job.Runs = []agentproto.Step{step}
		p.Job.Interactive = true
		return
	}
	if len(req.Tests) == 0 {
		p.Job.Runs = []agentproto.Step{run(req.Stdin)}
		return
	}
	for _, t := range req.Tests {
		p.Job.Runs = append(p.Job.Runs, run(t.Stdin))
		p.Tests = append(p.Tests, t.Expected)
	}
	p.Job.StopOnFailure = req.StopOnFirstFailure
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// checkFiles validates names and picks the entry file.
func checkFiles(maxFiles int, files []File) (File, error) {
	if len(files) == 0 {
		return File{}, inputErr("code is required (or files, with at least one file)")
	}
	if len(files) > maxFiles {
		return File{}, inputErr("%d files; the limit is %d", len(files), maxFiles)
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

// checkEntryBase refuses an entry whose base name would be read as an option where the toolchain
// takes it bare, as a class or module name (java -version would answer without running anything).
func checkEntryBase(lang *config.Language, entry File) error {
	base := path.Base(path.Clean(entry.Name))
	if !strings.HasPrefix(base, "-") {
		return nil
	}
	for _, a := range append(append([]string(nil), lang.Compile...), lang.Run...) {
		if strings.Contains(a, "{entryBase}") {
			return inputErr("entry file name %q cannot be used for %s: it must not start with '-'", entry.Name, lang.Name)
		}
	}
	return nil
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
