//go:build integration

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestRegistryPull: `make push-images` pushes the images to Debian's docker-registry on
// 127.0.0.1, and a server with pool.registry whose engine lacks an image pulls it from there,
// logging the progress, then runs code in it.
func TestRegistryPull(t *testing.T) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal("docker-registry is not installed (.ci/run installs Debian's package)")
	}
	port := freePort(t)
	reg := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	regCfg := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(regCfg, []byte(fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), reg)), 0o644); err != nil {
		t.Fatal(err)
	}
	regProc := exec.Command(bin, "serve", regCfg)
	regLog := &strings.Builder{}
	regProc.Stdout, regProc.Stderr = regLog, regLog
	if err := regProc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = regProc.Process.Kill(); _ = regProc.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", reg); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry does not listen: %s", regLog.String())
		}
	}

	// An image name this engine does not have yet: the python image under a name of this test's.
	img := fmt.Sprintf("codeexec-e2e-pull-%d/python", os.Getpid())
	docker := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}
	docker("tag", "codeexec/python", img)
	t.Cleanup(func() {
		_ = exec.Command("docker", "rmi", img, reg+"/"+img).Run()
	})
	// make push-images with a config that lists only that image.
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	python := cfg["languages"].(map[string]any)["python"].(map[string]any)
	python["image"] = img
	cfg["languages"] = map[string]any{"python": python}
	one, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, one, 0o644); err != nil {
		t.Fatal(err)
	}
	push := exec.Command("make", "push-images", "REGISTRY="+reg, "CONFIG="+cfgPath)
	push.Dir = repoRoot
	out, err := push.CombinedOutput()
	if err != nil || !strings.Contains(string(out), reg+"/"+img) || strings.Count(string(out), "The push refers to repository") != 1 {
		t.Fatalf("make push-images: %v\n%s", err, tail(string(out), 3000))
	}
	// The engine forgets the name (the layers stay: they are codeexec/python's).
	docker("rmi", img, reg+"/"+img)

	s := StartServer(t, ServerOptions{Languages: []string{"python"}, Edit: func(cfg map[string]any) {
		cfg["pool"].(map[string]any)["registry"] = reg
		cfg["languages"].(map[string]any)["python"].(map[string]any)["image"] = img
	}})
	if r := s.Execute(t, "python", `print("pulled")`, nil); r.Str("stdout") != "pulled\n" {
		t.Fatalf("execute in the pulled image: %s", r.Raw)
	}
	logs := s.Logs()
	for _, want := range []string{`msg="pulling image" language=python from=` + reg + "/" + img, `msg="pull progress"`, `msg="pulled image"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("server log lacks %s", want)
		}
	}
}
