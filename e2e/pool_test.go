//go:build integration

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// poolContainers inspects every container of the instance.
func poolContainers(t *testing.T, instance string) []container.InspectResponse {
	t.Helper()
	cli := dockerClient(t)
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "codeexec.instance="+instance))})
	if err != nil {
		t.Fatal(err)
	}
	var out []container.InspectResponse
	for _, c := range list {
		info, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, info)
	}
	return out
}

// countStates counts running-and-unpaused and paused containers.
func countStates(cs []container.InspectResponse) (running, paused int) {
	for _, c := range cs {
		switch {
		case c.State.Paused:
			paused++
		case c.State.Running:
			running++
		}
	}
	return running, paused
}

// waitStates waits until the instance has exactly running unpaused and paused containers.
func waitStates(t *testing.T, instance string, running, paused int) []container.InspectResponse {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		cs := poolContainers(t, instance)
		r, p := countStates(cs)
		if r == running && p == paused && len(cs) == running+paused {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: %d containers, %d running and %d paused; want %d running and %d paused",
				instance, len(cs), r, p, running, paused)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The warm containers as the engine sees them: the isolation issue 2 asks for, on every one, and
// the paused/unpaused mix of pool.unpaused, restored after each claim.
func TestPoolContainers(t *testing.T) {
	for _, unpaused := range []int{1, 0} {
		t.Run(fmt.Sprintf("unpaused %d", unpaused), func(t *testing.T) {
			s := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 3, Edit: func(cfg map[string]any) {
				cfg["pool"].(map[string]any)["unpaused"] = unpaused
			}})
			cs := waitStates(t, s.Instance, unpaused, 3-unpaused)
			for _, c := range cs {
				checkIsolation(t, c, s.Instance)
			}
			for i := range 3 {
				r := s.Execute(t, "python", "print(6*7)", nil)
				if r.Str("status") != "ok" || r.Str("stdout") != "42\n" {
					t.Fatalf("run %d: %s", i, r.Raw)
				}
				// The claimed container is removed and the mix comes back.
				waitStates(t, s.Instance, unpaused, 3-unpaused)
			}
		})
	}
}

func checkIsolation(t *testing.T, c container.InspectResponse, instance string) {
	t.Helper()
	h := c.HostConfig
	const mb = 1 << 20
	checks := []struct {
		what string
		ok   bool
		got  any
	}{
		{"label codeexec.instance", c.Config.Labels["codeexec.instance"] == instance, c.Config.Labels},
		{"label codeexec.language", c.Config.Labels["codeexec.language"] == "python", c.Config.Labels},
		// The agent starts as root with four capabilities and confines itself; every step runs as
		// the sandbox user, with none (TestHostile "privileges" checks the program's side).
		{"the agent root, the steps the sandbox user", c.Config.User == "0:0" && slices.Contains(c.Config.Env, "CODEEXEC_USER=10001:10001"), c.Config.User},
		{"network none", string(h.NetworkMode) == "none" && c.Config.NetworkDisabled, h.NetworkMode},
		{"read-only root", h.ReadonlyRootfs, h.ReadonlyRootfs},
		{"all capabilities dropped but the agent's", slices.Equal(h.CapDrop, []string{"ALL"}) &&
			slices.Equal(slices.Sorted(slices.Values(h.CapAdd)), []string{"CAP_KILL", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"}), []any{h.CapDrop, h.CapAdd}},
		{"no-new-privileges", slices.Contains(h.SecurityOpt, "no-new-privileges"), h.SecurityOpt},
		{"not privileged", !h.Privileged, h.Privileged},
		{"memory 256 MB", h.Memory == 256*mb, h.Memory},
		{"no swap (memory+swap = memory)", h.MemorySwap == h.Memory, h.MemorySwap},
		{"one CPU", h.NanoCPUs == 1e9, h.NanoCPUs},
		{"pids 64", h.PidsLimit != nil && *h.PidsLimit == 64, h.PidsLimit},
		{"log driver none", h.LogConfig.Type == "none", h.LogConfig.Type},
		{"tmpfs /tmp with a size", strings.Contains(h.Tmpfs["/tmp"], "size="), h.Tmpfs},
		{"private IPC", h.IpcMode == "private", h.IpcMode},
		{"not the host's PID namespace", h.PidMode == "", h.PidMode},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("container %.12s: %s: got %v", c.ID, ch.what, ch.got)
		}
	}
	limits := map[string]int64{}
	for _, u := range h.Ulimits {
		if u.Soft != u.Hard {
			t.Errorf("ulimit %s: soft %d, hard %d", u.Name, u.Soft, u.Hard)
		}
		limits[u.Name] = u.Hard
	}
	if limits["nofile"] == 0 || limits["fsize"] != 64*mb || limits["core"] != 0 {
		t.Errorf("ulimits %v: want nofile, fsize = tmpfs size, core 0", limits)
	}
	if _, ok := limits["core"]; !ok {
		t.Error("no core ulimit")
	}
	// The only mount from the host is the agent, read-only: no host folder reaches user code.
	for _, m := range c.Mounts {
		if m.Destination == "/tmp" && m.Type == "tmpfs" {
			continue
		}
		if m.Destination != "/codeexec/agent" || m.RW {
			t.Errorf("mount %s -> %s (rw %v): only the agent, read-only, may come from the host", m.Source, m.Destination, m.RW)
		}
	}
}
