package runner

import (
	"testing"

	"github.com/codeexec/codeexec/agent"
)

func TestJudgeVerdicts(t *testing.T) {
	want := func(s string) *string { return &s }
	exited := func(out string, code int) agent.StepResult {
		return agent.StepResult{Outcome: agent.Exited, Stdout: []byte(out), ExitCode: code}
	}
	cases := []struct {
		name     string
		stop     bool
		runs     []agent.StepResult
		verdicts []Status
		overall  Status
		passed   int
	}{
		{"all accepted", false, []agent.StepResult{exited("1\n", 0), exited("2\n", 0), exited("3\n", 0)},
			[]Status{Accepted, Accepted, Accepted}, Accepted, 3},
		{"first failure decides", false, []agent.StepResult{exited("1\n", 0), exited("9\n", 0), {Outcome: agent.TimedOut, TimeLimit: "cpu"}},
			[]Status{Accepted, WrongAnswer, TimeLimitExceeded}, WrongAnswer, 1},
		// The agent cannot stop at a wrong answer (it never sees expected outputs): the runner
		// drops what ran after it.
		{"stop at a wrong answer", true, []agent.StepResult{exited("1\n", 0), exited("9\n", 0), exited("3\n", 0)},
			[]Status{Accepted, WrongAnswer}, WrongAnswer, 1},
		{"stop at a runtime error", true, []agent.StepResult{exited("", 3)},
			[]Status{RuntimeError}, RuntimeError, 0},
		{"memory and output limits", false, []agent.StepResult{{Outcome: agent.OutOfMemory, Signal: "SIGKILL", ExitCode: 137}, {Outcome: agent.OutputTooLong}, exited("3\n", 0)},
			[]Status{MemoryLimitExceeded, OutputLimitExceeded, Accepted}, MemoryLimitExceeded, 1},
	}
	r := New(testConfig(t), nil, nil, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := r.plan(&Request{Language: "python", Files: []File{{Name: "main.py", Entry: true}}, StopOnFirstFailure: c.stop,
				Tests: []Test{{Expected: want("1")}, {Expected: want("2")}, {Expected: want("3")}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, run := range p.job.Runs {
				if len(run.Stdin) != 0 {
					t.Fatalf("stdin %q", run.Stdin)
				}
			}
			res := r.judge(p, &agent.Result{Runs: c.runs})
			if res.Status != c.overall || res.Passed != c.passed || res.TestCount != 3 || len(res.Tests) != len(c.verdicts) {
				t.Fatalf("overall %s passed %d of %d, %d reported; want %s, %d, 3, %d", res.Status, res.Passed, res.TestCount, len(res.Tests), c.overall, c.passed, len(c.verdicts))
			}
			for i, v := range c.verdicts {
				if res.Tests[i].Verdict != v {
					t.Errorf("test %d: %s, want %s", i+1, res.Tests[i].Verdict, v)
				}
			}
		})
	}
}
