package runner

// Status is the outcome of an execution (and, in judge mode, the verdict of a test).
type Status string

const (
	OK                  Status = "ok"
	Accepted            Status = "accepted"
	WrongAnswer         Status = "wrong_answer"
	CompileError        Status = "compile_error"
	RuntimeError        Status = "runtime_error"
	TimeLimitExceeded   Status = "time_limit_exceeded"
	MemoryLimitExceeded Status = "memory_limit_exceeded"
	OutputLimitExceeded Status = "output_limit_exceeded"
)

// Statuses lists every Status, for filters, metrics and documentation.
var Statuses = []Status{OK, Accepted, WrongAnswer, CompileError, RuntimeError, TimeLimitExceeded,
	MemoryLimitExceeded, OutputLimitExceeded}

// Succeeded reports whether the status counts as a success.
func (s Status) Succeeded() bool { return s == OK || s == Accepted }
