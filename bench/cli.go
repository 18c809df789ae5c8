package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/codeexec/codeexec/config"
)

// The literal `docker run --rm` a user would type, through the docker CLI, with the same
// isolation flags as the pool's containers: what issue 3's ratio names. Besides the engine's own
// work it pays for the CLI's start and its API round trips, and --rm waits for the removal. The
// Engine-API column (coldRunner.run) leaves those out and is the stricter comparison.

// cliArgs turns the pool container's spec into `docker run` arguments.
func cliArgs(s coldSpec, script, code string) []string {
	h := s.host
	a := []string{"run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
		"--log-driver", "none", "--ipc", "private", "--user", s.cfg.User, "--workdir", s.cfg.WorkingDir,
		"--memory", strconv.FormatInt(h.Memory, 10), "--memory-swap", strconv.FormatInt(h.MemorySwap, 10),
		"--cpus", strconv.FormatFloat(float64(h.NanoCPUs)/1e9, 'f', -1, 64)}
	for _, o := range h.SecurityOpt {
		a = append(a, "--security-opt", o)
	}
	if h.PidsLimit != nil {
		a = append(a, "--pids-limit", strconv.FormatInt(*h.PidsLimit, 10))
	}
	for _, u := range h.Ulimits {
		a = append(a, "--ulimit", fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	for dst, opts := range h.Tmpfs {
		a = append(a, "--tmpfs", dst+":"+opts)
	}
	if h.Runtime != "" {
		a = append(a, "--runtime", h.Runtime)
	}
	for _, e := range s.cfg.Env {
		a = append(a, "--env", e)
	}
	a = append(a, "--env", "CODEEXEC_CODE="+code)
	for k, v := range s.cfg.Labels {
		a = append(a, "--label", k+"="+v)
	}
	return append(a, "--entrypoint", "/bin/sh", s.cfg.Image, "-c", script)
}

// cliRun runs hello once with the docker CLI and returns its wall time.
func (c *coldRunner) cliRun(ctx context.Context, l *config.Language, code string) (time.Duration, error) {
	s, err := c.spec(ctx, l.Name)
	if err != nil {
		return 0, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", cliArgs(s, coldScript(l), code)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if err != nil || stdout.String() != wantStdout {
		return took, fmt.Errorf("docker run: %v, stdout %q, stderr %.300q", err, stdout.String(), strings.TrimSpace(stderr.String()))
	}
	return took, nil
}

// dockerCLI reports whether the docker CLI is installed.
func dockerCLI() bool {
	_, err := exec.LookPath("docker")
	return err == nil
}
