// Package agent is the part of CodeExec that runs inside a sandbox container.
//
// The agent is PID 1 of a warm container (cmd/codeexec-agent). It speaks the framed protocol of
// package agentproto over the container's attached stdin and stdout: given a job, it writes the
// files, runs the steps (compile, then one or more runs) and streams each step's output to the
// host as it is produced, then the step's measurements. Input and signals from the host go to the
// running step. No `docker exec` and no shared host folder is involved.
package agent
