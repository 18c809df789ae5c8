//go:build integration

// Package e2e holds the integration tests: the real server binary, the real Docker engine, real
// HTTP. Run them with `make test` (or `go test -tags integration ./e2e/...` after `make images`).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"go.yaml.in/yaml/v3"
)

// binDir holds the server and agent built for this test run.
var binDir string

// repoRoot is the repository's top folder.
var repoRoot string

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "codeexec-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, b := range []struct{ out, pkg string }{
		{"codeexec", "./cmd/codeexec"},
		{"codeexec-agent", "./cmd/codeexec-agent"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Server is a running codeexec process started by a test.
type Server struct {
	URL      string
	Instance string
	Config   string // path of the config file it runs with
	cmd      *exec.Cmd
	logs     *bytes.Buffer
	exited   chan error
	env      []string
	args     []string
	logsMu   sync.Mutex
}

// ServerOptions changes the repository's config.yaml for one test server.
type ServerOptions struct {
	// Languages limits the pools to these languages (nil: all). Others get pool size 0: no
	// container is ever started for them, so their requests wait the claim wait and get a 503.
	Languages []string
	PoolSize  int // per language; default 1
	// Edit may change the parsed config (a map of the YAML) before it is written.
	Edit func(cfg map[string]any)
	// NoWaitReady returns as soon as the port answers, not when the pools are ready.
	NoWaitReady bool
	Env         []string
	// Args are added to the command line (-role worker).
	Args []string
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// repoConfig is the repository's config.yaml as a map, for a test to change.
func repoConfig(t testing.TB) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// writeConfig writes the repository's config.yaml, changed as opt says, with an instance name of
// its own, and returns its path and that name.
func writeConfig(t testing.TB, opt ServerOptions) (cfgPath, instance string) {
	t.Helper()
	cfg := repoConfig(t)
	instance = fmt.Sprintf("e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	cfg["instance"] = instance
	cfg["pool"].(map[string]any)["agent"] = filepath.Join(binDir, "codeexec-agent")
	cfg["server"].(map[string]any)["adminToken"] = adminToken
	size := opt.PoolSize
	if size == 0 {
		size = 1
	}
	want := map[string]bool{}
	for _, l := range opt.Languages {
		want[l] = true
	}
	for name, l := range cfg["languages"].(map[string]any) {
		lm := l.(map[string]any)
		if opt.Languages == nil || want[name] {
			lm["poolSize"] = size
		} else {
			lm["poolSize"] = 0
		}
	}
	dir := t.TempDir()
	// Each server's embedded queue stores in its own folder: no test sees another's jobs.
	q, _ := cfg["queue"].(map[string]any)
	if q == nil {
		q = map[string]any{}
		cfg["queue"] = q
	}
	q["dir"] = filepath.Join(dir, "queue")
	if opt.Edit != nil {
		opt.Edit(cfg)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, instance
}

// StartServer starts a server with its own instance name and port, and stops it (checking that
// it leaves no container behind) when the test ends.
func StartServer(t testing.TB, opt ServerOptions) *Server {
	t.Helper()
	cfgPath, instance := writeConfig(t, opt)
	port := freePort(t)
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Instance: instance, Config: cfgPath, logs: &bytes.Buffer{},
		env: opt.Env, args: opt.Args}
	s.start(t, port)
	t.Cleanup(func() {
		s.Stop(t)
		if n := CountContainers(t, instance); n != 0 {
			t.Errorf("after the server stopped, %d containers of instance %s remain", n, instance)
			RemoveContainers(instance)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.Logs())
		}
	})
	deadline := time.Now().Add(3 * time.Minute)
	for {
		path := "/ready"
		if opt.NoWaitReady {
			path = "/health"
		}
		resp, err := http.Get(s.URL + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-s.exited:
			t.Fatalf("server exited: %v\n%s", err, s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 3 minutes\n%s", s.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func (s *Server) start(t testing.TB, port int) {
	cmd := exec.Command(filepath.Join(binDir, "codeexec"), append([]string{"-config", s.Config}, s.args...)...)
	cmd.Dir = repoRoot
	cmd.Env = append(append(os.Environ(), fmt.Sprintf("PORT=%d", port)), s.env...)
	cmd.Stdout = &lockedWriter{w: s.logs, mu: &s.logsMu}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	s.exited = make(chan error, 1)
	go func() { s.exited <- cmd.Wait() }()
}

// Logs returns what the server printed so far.
func (s *Server) Logs() string {
	s.logsMu.Lock()
	defer s.logsMu.Unlock()
	return s.logs.String()
}

// lockedWriter lets a test read the log while the process writes it.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Stop sends SIGTERM and waits for the server to exit.
func (s *Server) Stop(t testing.TB) {
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("server did not exit within 30 s of SIGTERM")
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Kill sends SIGKILL (a crash) and waits.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Restart starts the same configuration again on the same port, after Kill or Stop.
func (s *Server) Restart(t testing.TB) {
	var port int
	fmt.Sscanf(s.URL[strings.LastIndex(s.URL, ":")+1:], "%d", &port)
	s.start(t, port)
}

// Response is a decoded JSON answer.
type Response struct {
	Code   int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Result is body["result"].
func (r *Response) Result() map[string]any {
	m, _ := r.Body["result"].(map[string]any)
	return m
}

// Str returns a string field of the result.
func (r *Response) Str(field string) string {
	s, _ := r.Result()[field].(string)
	return s
}

// Num returns a number field of the result.
func (r *Response) Num(field string) float64 {
	f, _ := r.Result()[field].(float64)
	return f
}

// Post sends a JSON body (a string is sent as is) and decodes the answer.
func (s *Server) Post(t testing.TB, path string, body any) *Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	resp, err := http.Post(s.URL+path, "application/json", rd)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return readResponse(t, resp)
}

// adminToken is the operator's token (server.adminToken) of the test servers.
const adminToken = "e2e-operator-token"

// Admin fetches an operator's path (the execution log's listing and stats) with the token.
func (s *Server) Admin(t testing.TB, path string) *Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return readResponse(t, resp)
}

// Get fetches a path and decodes a JSON object answer.
func (s *Server) Get(t testing.TB, path string) *Response {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return readResponse(t, resp)
}

func readResponse(t testing.TB, resp *http.Response) *Response {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &Response{Code: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("answer is not JSON: %v\n%s", err, raw)
		}
	}
	return r
}

// Execute posts to /api/v1/execute and requires a 200.
func (s *Server) Execute(t testing.TB, lang, code string, extra map[string]any) *Response {
	t.Helper()
	body := map[string]any{"language": lang, "code": code}
	for k, v := range extra {
		body[k] = v
	}
	r := s.Post(t, "/api/v1/execute", body)
	if r.Code != 200 {
		t.Fatalf("execute %s: HTTP %d: %s", lang, r.Code, r.Raw)
	}
	return r
}

func dockerClient(t testing.TB) *client.Client {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// CountContainers counts the containers of an instance, in any state.
func CountContainers(t testing.TB, instance string) int {
	cli := dockerClient(t)
	defer cli.Close()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "codeexec.instance="+instance))})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// RemoveContainers force-removes an instance's containers (clean-up after a failed test).
func RemoveContainers(instance string) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer cli.Close()
	ctx := context.Background()
	list, _ := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "codeexec.instance="+instance))})
	for _, c := range list {
		_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

func parseArray(t testing.TB, raw []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("not a JSON array: %v: %.300s", err, raw)
	}
	return out
}
