package judge0

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/runner"
)

// Judge0's statuses (app/enumerations/status.rb), by id.
const (
	InQueue            = 1
	Processing         = 2
	Accepted           = 3
	WrongAnswer        = 4
	TimeLimitExceeded  = 5
	CompilationError   = 6
	RuntimeSIGSEGV     = 7
	RuntimeSIGXFSZ     = 8
	RuntimeSIGFPE      = 9
	RuntimeSIGABRT     = 10
	RuntimeNZEC        = 11
	RuntimeOther       = 12
	InternalError      = 13
	ExecFormatError    = 14
	lastStatus         = ExecFormatError
	sigXFSZ            = 25
	sigKILL            = 9
	compileTimeMessage = "Compilation time limit exceeded."
)

// statusNames are the descriptions GET /statuses lists, indexed by id.
var statusNames = [...]string{
	InQueue: "In Queue", Processing: "Processing", Accepted: "Accepted", WrongAnswer: "Wrong Answer",
	TimeLimitExceeded: "Time Limit Exceeded", CompilationError: "Compilation Error",
	RuntimeSIGSEGV: "Runtime Error (SIGSEGV)", RuntimeSIGXFSZ: "Runtime Error (SIGXFSZ)",
	RuntimeSIGFPE: "Runtime Error (SIGFPE)", RuntimeSIGABRT: "Runtime Error (SIGABRT)",
	RuntimeNZEC: "Runtime Error (NZEC)", RuntimeOther: "Runtime Error (Other)",
	InternalError: "Internal Error", ExecFormatError: "Exec Format Error",
}

// signalStatus is Status.find_runtime_error_by_status_code: the status of a program killed by
// signal number sig.
func signalStatus(sig int) int {
	switch sig {
	case 11:
		return RuntimeSIGSEGV
	case 25:
		return RuntimeSIGXFSZ
	case 8:
		return RuntimeSIGFPE
	case 6:
		return RuntimeSIGABRT
	}
	return RuntimeOther
}

// Outcome is a finished submission in Judge0's terms, derived from a runner.Result alone (and
// the expected output, which Judge0 compares itself). Nil pointers are JSON nulls.
type Outcome struct {
	Status        int
	Stdout        []byte // nil: no output (Judge0 stores null for an empty stream)
	Stderr        []byte
	CompileOutput []byte
	Message       *string
	Time          *string // CPU seconds, averaged over the runs, as Judge0's decimal column prints
	WallTime      *string
	Memory        *int64 // KB, averaged over the runs
	ExitCode      *int
	ExitSignal    *int
}

// FromResult judges a result as isolate_job.rb does: a failed compile is status 6 with only its
// output; then each run in turn (number_of_runs of them) until one is not Accepted; time and
// memory are averaged over the runs judged, the rest is the last run's. redirect puts stderr
// after stdout (Judge0 interleaves them; the sandbox captures them apart).
func FromResult(res *runner.Result, expected []byte, hasExpected, redirect bool) Outcome {
	var out Outcome
	if res.Compile != nil {
		out.CompileOutput = nonEmpty(append(append([]byte(nil), res.Compile.Stdout...), res.Compile.Stderr...))
		if res.Status == runner.CompileError {
			out.Status = CompilationError
			if res.Compile.Status == runner.TimeLimitExceeded {
				out.CompileOutput = []byte(compileTimeMessage)
			}
			return out
		}
	}
	steps := make([]*runner.Step, 0, len(res.Tests))
	for i := range res.Tests {
		steps = append(steps, &res.Tests[i].Step)
	}
	if len(steps) == 0 {
		steps = append(steps, &res.Run)
	}
	var cpu, mem float64
	n := 0
	for _, st := range steps {
		out.judgeRun(st, expected, hasExpected, redirect)
		cpu += seconds(st.CPU.Microseconds())
		mem += float64(st.MemoryBytes / 1024)
		n++
		if out.Status != Accepted {
			break
		}
	}
	t := decimal(cpu / float64(n))
	w := decimal(seconds(steps[n-1].Wall.Microseconds()))
	m := int64(mem / float64(n))
	out.Time, out.WallTime, out.Memory = &t, &w, &m
	return out
}

func seconds(us int64) float64 { return float64((us+500)/1000) / 1000 }

// judgeRun is isolate_job.rb's verify and determine_status for one run.
func (out *Outcome) judgeRun(st *runner.Step, expected []byte, hasExpected, redirect bool) {
	out.Stdout, out.Stderr = nonEmpty(st.Stdout), nonEmpty(st.Stderr)
	if redirect {
		out.Stdout, out.Stderr = nonEmpty(append(append([]byte(nil), st.Stdout...), st.Stderr...)), nil
	}
	code, sig := st.ExitCode, signalNumber(st.Signal)
	out.ExitSignal = nil
	if sig != 0 {
		// isolate reports no exit code for a killed program, and Judge0 stores 0.
		code = 0
		out.ExitSignal = &sig
	}
	out.ExitCode = &code
	message := ""
	switch st.Status {
	case runner.TimeLimitExceeded:
		out.Status, message = TimeLimitExceeded, "Time limit exceeded"
		if st.TimeLimit == agentproto.WallLimit {
			message = "Time limit exceeded (wall clock)"
		}
	case runner.OutputLimitExceeded:
		// Judge0 writes the output to a file capped by max_file_size: past it the program gets
		// SIGXFSZ.
		out.Status, message = RuntimeSIGXFSZ, "Output limit exceeded"
		x := sigXFSZ
		out.ExitSignal = &x
	case runner.MemoryLimitExceeded:
		// Under Judge0's cgroup memory limit the kernel kills the program (SIGKILL: Runtime
		// Error (Other)); a runtime that notices first exits with an error (NZEC).
		out.Status, message = RuntimeNZEC, "Memory limit exceeded"
		if sig != 0 {
			out.Status = RuntimeOther
		}
	case runner.RuntimeError:
		if sig != 0 {
			out.Status, message = signalStatus(sig), fmt.Sprintf("Caught fatal signal %d", sig)
		} else {
			out.Status, message = RuntimeNZEC, fmt.Sprintf("Exited with error status %d", code)
		}
	default:
		out.Status = Accepted
		if hasExpected && !sameOutput(expected, st.Stdout) {
			out.Status = WrongAnswer
		}
	}
	out.Message = nil
	if message != "" {
		out.Message = &message
	}
}

// sameOutput is isolate_job.rb's comparison: each line right-stripped, then the whole.
func sameOutput(expected, got []byte) bool {
	if got == nil || len(got) == 0 {
		// Judge0 stores empty output as nil, and strip(nil) equals only a nil expected output.
		return false
	}
	return bytes.Equal(rubyStrip(expected), rubyStrip(got))
}

// rubyStrip is text.split("\n").collect(&:rstrip).join("\n").rstrip (Ruby's split drops
// trailing empty fields; rstrip removes white space and NUL).
func rubyStrip(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " \t\n\v\f\r\x00")
	}
	return bytes.TrimRight(bytes.Join(lines, []byte("\n")), " \t\n\v\f\r\x00")
}

// signalNumber is the number of a signal the agent names (SIGSEGV), 0 for none.
func signalNumber(name string) int {
	if name == "" {
		return 0
	}
	if n := unix.SignalNum(name); n != 0 {
		return int(n)
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(name, "signal ")); err == nil {
		return n
	}
	return sigKILL
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// decimal prints seconds as Judge0's decimal columns serialise: "0.012", "1.0".
func decimal(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
