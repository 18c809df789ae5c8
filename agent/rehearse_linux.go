package agent

import (
	"encoding/json"
	"os"
	"strings"

	"github.com/codeexec/codeexec/agentproto"
)

// Rehearse goes once through what a job does around its program, without starting one, before
// the agent says it is ready. What is slow the first time is then paid at warm-up, off the
// request path, rather than by the job: the JSON codecs of the protocol's types are built on
// first use, and under a sandbox kernel (gVisor) every page of the agent's code is faulted in
// on first use and every folder of the image is first looked up through its file server.
// programs are the names the language's steps start (Step.Argv[0]), looked up as a step does.
// It also makes the first step's pipes (see takePipes).
func Rehearse(programs []string) {
	job := agentproto.Job{
		Files:   []agentproto.File{{Path: "main", Content: []byte("x")}},
		Compile: &agentproto.Step{Name: "compile", Argv: []string{"true"}},
		Runs:    []agentproto.Step{{Name: "run", Argv: []string{"true"}}},
	}
	if b, err := json.Marshal(job); err == nil {
		_ = json.Unmarshal(b, new(agentproto.Job))
	}
	for _, v := range []any{agentproto.StepStarted{}, agentproto.StepResult{}, agentproto.Done{}} {
		_, _ = json.Marshal(v)
	}
	if dir, err := os.MkdirTemp("", ".codeexec-rehearsal-"); err == nil {
		_ = writeFiles(dir, job.Files)
		_ = os.RemoveAll(dir)
	}
	env := stepEnv()
	for _, name := range programs {
		if name != "" && !strings.Contains(name, "/") {
			_, _ = lookPath(name, env, agentproto.Dir)
		}
	}
	resetPeak()
	_ = oomKills()
	_, _ = cgroupCPU()
	scan := newProcScan()
	_ = scan.othersCPU()
	scan.close()
	if ours, theirs, err := pipes(); err == nil {
		spare.Store(&pipeSet{ours, theirs})
	}
}
