package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"go.yaml.in/yaml/v3"
)

// Labels the server puts on its containers; the bench's own (cold runs, churn) use
// instance+"-cold" so that the leak check covers both and the server never touches them.
const (
	labelInstance = "codeexec.instance"
	labelLanguage = "codeexec.language"
)

// server is a codeexec process the bench started with its own config, instance and port.
type server struct {
	url      string
	instance string
	cfg      map[string]any // the config it runs with, as written
	dir      string
	cmd      *exec.Cmd
	logs     *lockedBuffer
	exited   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// serverOptions says how to derive the bench's config from the repository's.
type serverOptions struct {
	binary, agent, config string
	instance              string
	langs                 []string       // pools for these languages only; the others get size 0
	poolSize              map[string]int // overrides per language (the sweep's language needs more)
	runtime               string         // pool.runtime when set (the gVisor section's runsc)
}

// startServer writes a temporary config (the repository's, with our instance, port, agent and
// pool sizes) and starts the server binary on it, waiting until every pool is full.
func startServer(ctx context.Context, o serverOptions) (*server, error) {
	raw, err := os.ReadFile(o.config)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", o.config, err)
	}
	langs, _ := cfg["languages"].(map[string]any)
	if langs == nil {
		return nil, fmt.Errorf("%s has no languages", o.config)
	}
	want := map[string]bool{}
	for _, l := range o.langs {
		if _, ok := langs[l]; !ok {
			return nil, fmt.Errorf("language %q is not in %s", l, o.config)
		}
		want[l] = true
	}
	for name, l := range langs {
		lm := l.(map[string]any)
		switch {
		case !want[name]:
			lm["poolSize"] = 0
		case o.poolSize[name] > 0:
			lm["poolSize"] = o.poolSize[name]
		}
	}
	agentAbs, err := filepath.Abs(o.agent)
	if err != nil {
		return nil, err
	}
	cfg["instance"] = o.instance
	pool, _ := cfg["pool"].(map[string]any)
	if pool == nil {
		pool = map[string]any{}
		cfg["pool"] = pool
	}
	pool["agent"] = agentAbs
	if o.runtime != "" {
		pool["runtime"] = o.runtime
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	srv, _ := cfg["server"].(map[string]any)
	if srv == nil {
		srv = map[string]any{}
		cfg["server"] = srv
	}
	srv["listen"] = "127.0.0.1" // load only ever goes to loopback
	srv["port"] = port
	dir, err := os.MkdirTemp("", "codeexec-bench")
	if err != nil {
		return nil, err
	}
	// Each server's embedded job queue stores in a folder of its own: two servers on one store
	// (ours and a baseline's, or another run's) would read each other's jobs and results.
	q, _ := cfg["queue"].(map[string]any)
	if q == nil {
		q = map[string]any{}
		cfg["queue"] = q
	}
	q["dir"] = filepath.Join(dir, "queue")
	out, err := yaml.Marshal(cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		return nil, err
	}
	s := &server{url: fmt.Sprintf("http://127.0.0.1:%d", port), instance: o.instance, cfg: cfg, dir: dir,
		logs: &lockedBuffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(o.binary, "-config", cfgPath)
	s.cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w (run `make build`)", o.binary, err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	if err := s.waitFull(ctx, 3*time.Minute); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// langState is one entry of GET /api/v1/languages.
type langState struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	PoolReady  int    `json:"poolReady"`
	PoolTarget int    `json:"poolTarget"`
}

func (s *server) languages(ctx context.Context) ([]langState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/languages", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/languages: HTTP %d", resp.StatusCode)
	}
	var out []langState
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// waitFull waits until every pool holds its target of warm containers, so that a measurement
// starts on an idle server and no start of an earlier step competes with it for the CPU.
func (s *server) waitFull(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last []langState
	for {
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("the server exited: %v\n%s", err, s.logs.tail(3000))
		default:
		}
		st, err := s.languages(ctx)
		if err == nil {
			last = st
			full := true
			for _, l := range st {
				if l.PoolReady < l.PoolTarget {
					full = false
				}
			}
			if full {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pools not full after %s (%+v); server log:\n%s", limit, last, s.logs.tail(3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for the server to remove its containers and exit.
func (s *server) stop() error {
	defer os.RemoveAll(s.dir)
	select {
	case err := <-s.exited:
		s.exited <- err
		return fmt.Errorf("the server had already exited: %v", err)
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("the server did not exit within 30 s of SIGTERM; killed")
	}
}

// metrics fetches /metrics as text.
func (s *server) metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// ourContainers lists the containers labelled with the server's instance or the bench's own.
func ourContainers(ctx context.Context, cli *client.Client, instance string) ([]string, error) {
	var ids []string
	for _, inst := range []string{instance, instance + "-cold"} {
		list, err := cli.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", labelInstance+"="+inst))})
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			ids = append(ids, c.ID[:12]+" ("+strings.TrimPrefix(strings.Join(c.Names, ","), "/")+")")
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// removeOurs force-removes what ourContainers finds; only used after a leak was reported.
func removeOurs(ctx context.Context, cli *client.Client, instance string) {
	for _, inst := range []string{instance, instance + "-cold"} {
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", labelInstance+"="+inst))})
		for _, c := range list {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	}
}
