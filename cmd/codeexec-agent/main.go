// Command codeexec-agent is PID 1 of every sandbox container (see package agent).
// It is built static and mounted read-only into the containers.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"

	"github.com/codeexec/codeexec/agent"
)

func main() {
	out := json.NewEncoder(os.Stdout)
	_ = agent.HideFromPeers()
	// Threads made now survive a fork bomb that later takes every pid (see ReserveThreads).
	agent.ReserveThreads(agent.ReservedThreads)
	if err := prepare(); err != nil {
		_ = out.Encode(agent.Ready{Error: err.Error()})
		os.Exit(1)
	}
	_ = out.Encode(agent.Ready{Ready: true})

	var job agent.Job
	if err := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 1<<20)).Decode(&job); err != nil {
		if errors.Is(err, io.EOF) {
			return // the host let the container go without a job
		}
		_ = out.Encode(agent.Result{Error: "reading the job: " + err.Error()})
		os.Exit(1)
	}
	_ = out.Encode(agent.Do(&job))
}

// prepare creates the working directory and runs the language's warm-up command (from
// CODEEXEC_PREPARE), off the request path: this is why a claimed container is ready at once.
func prepare() error {
	if err := os.MkdirAll(agent.Dir, 0o755); err != nil {
		return err
	}
	script := os.Getenv("CODEEXEC_PREPARE")
	if script == "" {
		return nil
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = agent.Dir
	cmd.Stderr = os.Stderr
	if b, err := cmd.Output(); err != nil {
		return errors.New("prepare: " + err.Error() + ": " + string(b))
	}
	return nil
}
