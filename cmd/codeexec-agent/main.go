// Command codeexec-agent is PID 1 of every sandbox container (see package agent).
// It is built static and mounted read-only into the containers.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"

	"github.com/codeexec/codeexec/agent"
	"github.com/codeexec/codeexec/agentproto"
)

func main() {
	// First of all: as PID 1 this starts the agent again, which then goes on from here.
	envErr := agent.HideEnviron()
	discardSignals()
	_ = agent.HideFromPeers()
	// Threads made now survive a fork bomb that later takes every pid (see ReserveThreads).
	agent.ReserveThreads(agent.ReservedThreads)
	out := agentproto.NewWriter(os.Stdout)
	hello := agentproto.Hello{Version: agentproto.Version}
	// Before any step: the steps inherit the guard, the empty bounding set and the sandbox user.
	err := envErr
	if err == nil {
		err = agent.GuardInit()
	}
	var sb *agent.Sandbox
	if err == nil {
		sb, err = agent.Confine(os.Getenv(agentproto.EnvUser))
	}
	if err == nil {
		err = prepare(sb)
	}
	if err == nil {
		agent.Rehearse(strings.Fields(os.Getenv(agentproto.EnvPrograms)))
	}
	if err != nil {
		hello.Error = agent.ErrorText(err)
		_ = out.JSON(agentproto.KindHello, hello)
		os.Exit(1)
	}
	_ = out.JSON(agentproto.KindHello, hello)
	os.Exit(serve(agent.NewExecutor(out, sb), os.Stdin))
}

// discardSignals makes every signal the agent can catch do nothing. The user's program runs as
// another user (agent.Sandbox), whose signals the kernel refuses; this holds should the two ever
// share a user. The kernel spares a PID namespace's init only the signals it has no handler for,
// and the Go runtime handles most of them (SIGTERM, SIGHUP and SIGINT end the process, SIGQUIT
// dumps its goroutines): without this, such a program could end the agent and leave its job
// without an answer. Signals queued with a forged si_code are refused by agent.GuardInit.
// signal.Ignore would not do: ignored signals stay ignored across exec, and every step must start
// with the default dispositions. Reaping is unaffected: it waits with wait4.
func discardSignals() {
	c := make(chan os.Signal, 16)
	signal.Notify(c)
	go func() {
		for range c {
		}
	}()
}

// serve reads the host's job from in and runs it; it returns the agent's exit status.
func serve(ex *agent.Executor, in io.Reader) int {
	host := agentproto.NewReader(in, agentproto.MaxHostFrame)
	job, err := readJob(host)
	if errors.Is(err, io.EOF) {
		return 0 // the host let the container go without a job
	}
	if err != nil {
		_ = ex.Out.JSON(agentproto.KindDone, agentproto.Done{Error: agent.ErrorText(err)})
		return 1
	}
	ex.Do(job, host)
	return 0
}

func readJob(host *agentproto.Reader) (*agentproto.Job, error) {
	kind, payload, err := host.Next()
	if errors.Is(err, io.EOF) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading the job: %w", err)
	}
	if kind != agentproto.KindJob {
		return nil, fmt.Errorf("reading the job: the first frame is %q (%s), not a job", byte(kind), kind)
	}
	var job agentproto.Job
	if err := json.Unmarshal(payload, &job); err != nil {
		return nil, fmt.Errorf("reading the job: %w", err)
	}
	return &job, nil
}

// prepare creates the working directory and runs the language's warm-up command (from
// CODEEXEC_PREPARE), off the request path: this is why a claimed container is ready at once. Both
// as the sandbox user: what they leave (a build cache) is the programs' to use.
func prepare(sb *agent.Sandbox) error {
	if err := sb.Do(func() error { return os.MkdirAll(agentproto.Dir, 0o755) }); err != nil {
		return err
	}
	script := os.Getenv(agentproto.EnvPrepare)
	if script == "" {
		return nil
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = sb.SysProcAttr()
	cmd.Dir = agentproto.Dir
	cmd.Stderr = os.Stderr
	if b, err := cmd.Output(); err != nil {
		return errors.New("prepare: " + err.Error() + ": " + string(b))
	}
	return nil
}
