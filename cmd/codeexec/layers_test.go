package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// layers orders the packages from the bottom: a package may import ours only from a lower layer,
// so data flows api → runner → pool → engine and back, and no package reaches above itself.
var layers = [][]string{
	{"agentproto", "config", "metrics", "api/httpjson", "playground"},
	{"agent", "pool"},
	{"pool/docker", "runner"},
	{"execlog", "queue"},
	{"api/piston", "api/judge0"},
	{"api/live"},
	{"api"},
	{"cmd/codeexec", "cmd/codeexec-agent"},
}

const module = "github.com/codeexec/codeexec/"

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("go list: %v", err)
	}
	var pkgs []listed
	dec := json.NewDecoder(out)
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func TestNoPackageImportsOneAboveIt(t *testing.T) {
	layer := map[string]int{}
	for i, names := range layers {
		for _, n := range names {
			layer[n] = i
		}
	}
	for _, p := range goList(t, "./...") {
		name := strings.TrimPrefix(p.ImportPath, module)
		own, ranked := layer[name]
		if !ranked {
			continue // tools, tests and benchmarks sit above everything
		}
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if l, ok := layer[dep]; !ok || l >= own {
				t.Errorf("%s imports %s: only packages of a lower layer may be imported (layers: %v)", name, dep, layers)
			}
		}
	}
}

// The agent runs inside every sandbox: it must not carry the host's Docker client along.
func TestAgentDoesNotLinkTheDockerClient(t *testing.T) {
	pkgs := goList(t, "-deps", "./cmd/codeexec-agent")
	if len(pkgs) == 0 {
		t.Fatal("go list returned nothing")
	}
	for _, p := range pkgs {
		if strings.Contains(p.ImportPath, "github.com/docker/") || strings.HasPrefix(p.ImportPath, module+"pool") {
			t.Errorf("the agent links %s", p.ImportPath)
		}
	}
}
