package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/pool"
)

// hello is the program each language runs; every one prints exactly "hello\n".
var hello = map[string]string{
	"python":     `print("hello")`,
	"javascript": `console.log("hello")`,
	"ruby":       `puts "hello"`,
	"go":         "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
	"cpp":        "#include <iostream>\nint main() { std::cout << \"hello\" << std::endl; }\n",
	"java":       "public class Main { public static void main(String[] a) { System.out.println(\"hello\"); } }\n",
}

const wantStdout = "hello\n"

// addExampleHellos gives each configured language that has no program in hello its image's
// hello example (images/<image>/examples/<language>/hello.*, which e2e checks prints
// "Hello, World!"), made to print what the others print.
func addExampleHellos(cfg *config.Config, repo string) {
	for name, l := range cfg.Languages {
		if _, ok := hello[name]; ok {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(repo, "images", strings.TrimPrefix(l.Image, "codeexec/"), "examples", name, "hello.*"))
		if len(files) != 1 {
			continue
		}
		if b, err := os.ReadFile(files[0]); err == nil {
			hello[name] = strings.ReplaceAll(string(b), "Hello, World!", "hello")
		}
	}
}

// ---- through the HTTP API ----

// apiClient posts executions to the bench's own server.
type apiClient struct {
	url string
	hc  *http.Client
}

func newAPIClient(url string) *apiClient {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return &apiClient{url: url, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// apiOutcome is one request as the client saw it.
type apiOutcome struct {
	took       time.Duration
	code       int     // HTTP status, 0 when the request itself failed
	ok         bool    // 200, status ok, stdout "hello\n"
	err        string  // why not ok
	retryAfter int     // seconds, from a 429
	runMs      float64 // the run step's wall time measured by the agent inside the container
	compileMs  float64 // the compile step's, for compiled languages
}

func (c *apiClient) execute(ctx context.Context, lang, code string) apiOutcome {
	body, _ := json.Marshal(map[string]string{"language": lang, "code": code})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/api/v1/execute", bytes.NewReader(body))
	if err != nil {
		return apiOutcome{err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return apiOutcome{took: time.Since(start), err: err.Error()}
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	o := apiOutcome{took: time.Since(start), code: resp.StatusCode}
	if err != nil {
		o.err = "reading the answer: " + err.Error()
		return o
	}
	if resp.StatusCode != http.StatusOK {
		o.retryAfter, _ = strconv.Atoi(resp.Header.Get("Retry-After"))
		o.err = fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, raw)
		return o
	}
	var ans struct {
		Result struct {
			Status     string  `json:"status"`
			Stdout     string  `json:"stdout"`
			Stderr     string  `json:"stderr"`
			WallTimeMs float64 `json:"wallTimeMs"`
			Compile    *struct {
				WallTimeMs float64 `json:"wallTimeMs"`
			} `json:"compile"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		o.err = fmt.Sprintf("answer is not JSON: %v: %.200s", err, raw)
		return o
	}
	r := ans.Result
	if r.Status != "ok" || r.Stdout != wantStdout {
		o.err = fmt.Sprintf("status %q stdout %q stderr %.200q", r.Status, r.Stdout, r.Stderr)
		return o
	}
	o.ok, o.runMs = true, r.WallTimeMs
	if r.Compile != nil {
		o.compileMs = r.Compile.WallTimeMs
	}
	return o
}

// ---- docker run --rm, over the Engine API ----

// coldRunner runs a fresh container per execution, as a service without a pool would: create,
// attach, start, wait, remove. Its flags are copied from a warm container of the server's own
// pool (ContainerInspect), so the comparison stays fair whatever the pool's flags become.
type coldRunner struct {
	cli      *client.Client
	instance string // the server's; our containers get instance+"-cold"
	mu       sync.Mutex
	specs    map[string]coldSpec
	n        int
}

type coldSpec struct {
	cfg  container.Config
	host container.HostConfig
	// pool is the pool container's config unchanged but for our labels: agent entry point,
	// attached stdin, the agent's settings in the environment; poolHost its host config, with
	// the agent's capabilities. cfg and host run the script as the sandbox user, with none, as
	// the pool runs the program.
	pool     container.Config
	poolHost container.HostConfig
}

// spec returns the config and host config of one of the pool's containers for lang.
func (c *coldRunner) spec(ctx context.Context, lang string) (coldSpec, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.specs[lang]; ok {
		return s, nil
	}
	list, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", labelInstance+"="+c.instance), filters.Arg("label", labelLanguage+"="+lang))})
	if err != nil {
		return coldSpec{}, err
	}
	if len(list) == 0 {
		return coldSpec{}, fmt.Errorf("no pool container of %s to copy the flags from", lang)
	}
	info, err := c.cli.ContainerInspect(ctx, list[0].ID)
	if err != nil {
		return coldSpec{}, err
	}
	s := coldSpec{cfg: *info.Config, host: *info.HostConfig}
	s.cfg.Hostname, s.cfg.Domainname = "", ""
	s.pool = s.cfg
	s.pool.Labels = map[string]string{labelInstance: c.instance + "-cold", labelLanguage: lang}
	s.cfg.AttachStdin, s.cfg.OpenStdin, s.cfg.StdinOnce, s.cfg.Tty = false, false, false, false
	s.cfg.Labels = map[string]string{labelInstance: c.instance + "-cold", labelLanguage: lang}
	s.poolHost = s.host
	s.host.CapAdd = nil
	var env []string
	for _, e := range s.cfg.Env {
		if user, ok := strings.CutPrefix(e, agentproto.EnvUser+"="); ok {
			s.cfg.User = user
		}
		if !strings.HasPrefix(e, "CODEEXEC_") { // the agent's settings; the script does the prepare itself
			env = append(env, e)
		}
	}
	s.cfg.Env = env
	if c.specs == nil {
		c.specs = map[string]coldSpec{}
	}
	c.specs[lang] = s
	return s, nil
}

// coldScript is what the container runs: the language's own prepare, compile and run commands
// from the config, on the code passed in the environment, in the same folder the agent uses.
func coldScript(l *config.Language) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	if l.Prepare != "" {
		b.WriteString(l.Prepare + "\n")
	}
	b.WriteString("mkdir -p /tmp/box && cd /tmp/box\n")
	b.WriteString(`printf '%s' "$CODEEXEC_CODE" > ` + shQuote(l.Source) + "\n")
	if l.Compiled() {
		b.WriteString(shJoin(expand(l.Compile, l.Source)) + " >&2\n")
	}
	b.WriteString("exec " + shJoin(expand(l.Run, l.Source)) + "\n")
	return b.String()
}

// expand fills the config's placeholders for a single-file program.
func expand(argv []string, entry string) []string {
	base := strings.TrimSuffix(path.Base(entry), path.Ext(entry))
	out := make([]string, 0, len(argv))
	for _, a := range argv {
		if a == "{sources}" {
			out = append(out, entry)
			continue
		}
		a = strings.ReplaceAll(a, "{entry}", entry)
		out = append(out, strings.ReplaceAll(a, "{entryBase}", base))
	}
	return out
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shQuote(a)
	}
	return strings.Join(q, " ")
}

// coldOutcome is one docker-run-style execution.
type coldOutcome struct {
	toExit time.Duration // create → the process exited and its output is read
	total  time.Duration // … → removed, as `docker run --rm` returns
}

func (c *coldRunner) run(ctx context.Context, l *config.Language, code string) (coldOutcome, error) {
	s, err := c.spec(ctx, l.Name)
	if err != nil {
		return coldOutcome{}, err
	}
	cfg, host := s.cfg, s.host
	cfg.Entrypoint = []string{"/bin/sh", "-c"}
	cfg.Cmd = []string{coldScript(l)}
	cfg.Env = append(append([]string(nil), s.cfg.Env...), "CODEEXEC_CODE="+code)
	c.mu.Lock()
	c.n++
	name := fmt.Sprintf("codeexec-%s-cold-%s-%d", c.instance, l.Name, c.n)
	c.mu.Unlock()

	start := time.Now()
	created, err := c.cli.ContainerCreate(ctx, &cfg, &host, nil, nil, name)
	if err != nil {
		return coldOutcome{}, fmt.Errorf("create: %w", err)
	}
	removed := false
	defer func() {
		if !removed {
			_ = c.remove(created.ID)
		}
	}()
	hj, err := c.cli.ContainerAttach(ctx, created.ID, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return coldOutcome{}, fmt.Errorf("attach: %w", err)
	}
	defer hj.Close()
	var stdout, stderr bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, hj.Reader)
		copied <- err
	}()
	waitC, waitErr := c.cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := c.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return coldOutcome{}, fmt.Errorf("start: %w", err)
	}
	var exit int64
	select {
	case w := <-waitC:
		exit = w.StatusCode
	case err := <-waitErr:
		return coldOutcome{}, fmt.Errorf("wait: %w", err)
	case <-ctx.Done():
		return coldOutcome{}, ctx.Err()
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		return coldOutcome{}, errors.New("output stream did not end after the container exited")
	}
	o := coldOutcome{toExit: time.Since(start)}
	if err := c.remove(created.ID); err != nil {
		return coldOutcome{}, fmt.Errorf("remove: %w", err)
	}
	removed = true
	o.total = time.Since(start)
	if exit != 0 || stdout.String() != wantStdout {
		return o, fmt.Errorf("exit %d, stdout %q, stderr %.300q", exit, stdout.String(), stderr.String())
	}
	return o, nil
}

// ---- the engine's churn ceiling ----

// ChurnPoint is a container turnover rate with this many loops in parallel.
type ChurnPoint struct {
	// Cycle "engine": create, start, remove of a container running /bin/true. "pool": what the
	// pool does per container under load (a waiting request takes it as soon as it is warm):
	// create, attach, start, the agent's ready line, remove (no job), so the difference is the
	// cost of our warm-up on top of the engine's. "pool-paused": the same with a pause and an
	// unpause, as for a container that waited paused.
	Kind       string  `json:"kind"`
	Parallel   int     `json:"parallel"`
	Seconds    float64 `json:"seconds"`
	Cycles     int     `json:"cycles"`
	Errors     int     `json:"errors"`
	PerSecond  float64 `json:"perSecond"`
	Cycle      Dist    `json:"cycle"`
	FirstError string  `json:"firstError,omitempty"`
}

// churn loops create → start → remove (force) with the pool's own flags for lang, the container
// running /bin/true, in `parallel` loops for dur: the most containers per second the engine can
// turn over, which bounds a service that uses each container once.
func (c *coldRunner) churn(ctx context.Context, lang, kind string, parallel int, dur time.Duration) (ChurnPoint, error) {
	s, err := c.spec(ctx, lang)
	if err != nil {
		return ChurnPoint{}, err
	}
	cfg, host := s.cfg, s.host
	cfg.Entrypoint = []string{"/bin/true"}
	cfg.Cmd = nil
	cycle := func(name string) error {
		cr, err := c.cli.ContainerCreate(ctx, &cfg, &host, nil, nil, name)
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		serr := c.cli.ContainerStart(ctx, cr.ID, container.StartOptions{})
		rerr := c.remove(cr.ID)
		if serr != nil {
			return fmt.Errorf("start: %w", serr)
		}
		if rerr != nil {
			return fmt.Errorf("remove: %w", rerr)
		}
		return nil
	}
	switch kind {
	case "pool":
		cycle = func(name string) error { return c.poolCycle(ctx, s, name, false) }
	case "pool-paused":
		cycle = func(name string) error { return c.poolCycle(ctx, s, name, true) }
	}
	p := ChurnPoint{Kind: kind, Parallel: parallel}
	var mu sync.Mutex
	var cycles []float64
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := cycle(fmt.Sprintf("codeexec-%s-churn-%s-%d-%d-%d", c.instance, kind, parallel, w, i))
				mu.Lock()
				if err != nil {
					p.Errors++
					if p.FirstError == "" {
						p.FirstError = err.Error()
					}
				} else {
					cycles = append(cycles, ms(time.Since(t0)))
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	p.Seconds, p.Cycles, p.Cycle = el, len(cycles), summarize(cycles)
	p.PerSecond = float64(len(cycles)) / el
	return p, ctx.Err()
}

// poolCycle is one container's life in the pool, without the job: create, attach, start, read
// the agent's ready line (after its warm-up), pause and unpause if asked, remove.
func (c *coldRunner) poolCycle(ctx context.Context, s coldSpec, name string, pause bool) error {
	cfg, host := s.pool, s.poolHost
	cr, err := c.cli.ContainerCreate(ctx, &cfg, &host, nil, nil, name)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	removed := false
	defer func() {
		if !removed {
			_ = c.remove(cr.ID)
		}
	}()
	hj, err := c.cli.ContainerAttach(ctx, cr.ID, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	defer hj.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, io.Discard, hj.Reader)
		pw.CloseWithError(err)
	}()
	if err := c.cli.ContainerStart(ctx, cr.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		h, err := agentproto.NewReader(pr, agentproto.MaxAgentFrame).ReadHello()
		if err == nil && h.Error != "" {
			err = fmt.Errorf("agent: %s", h.Error)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("waiting for the agent: %w", err)
		}
	case <-time.After(30 * time.Second):
		return errors.New("the agent was not ready within 30 s")
	}
	if pause {
		if err := c.cli.ContainerPause(ctx, cr.ID); err != nil {
			return fmt.Errorf("pause: %w", err)
		}
		if err := c.cli.ContainerUnpause(ctx, cr.ID); err != nil {
			return fmt.Errorf("unpause: %w", err)
		}
	}
	if err := c.remove(cr.ID); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	removed = true
	return nil
}

// remove force-removes a container as the pool does, retrying while the engine refuses: a
// force removal of a container exiting at that moment can fail with "is not running" (a race in
// the engine), and the container would stay behind.
func (c *coldRunner) remove(id string) error {
	return pool.RemoveUntilGone(func(ctx context.Context) error {
		err := c.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
		if client.IsErrNotFound(err) {
			return nil
		}
		return err
	}, 50*time.Millisecond, time.Second, 30*time.Second, nil)
}

// ---- the bare-host floor ----

// floorPlan is how the language's own commands run on the host, if they can.
type floorPlan struct {
	steps    [][]string
	env      []string
	Version  string   // first line of the host runtime's version
	Dropped  []string // image-only arguments left out on the host
	Replaced []string // image files taken from the image's definition instead (/opt/x.d.ts=images/x/x.d.ts)
	Missing  string   // why there is no floor
}

// floorImage is what the floor needs to know of the language's image.
type floorImage struct {
	version string // the toolchain's version the image was built with (its label)
	dir     string // the image's definition, images/<name>: its Dockerfile's COPY lines
}

// planFloor adapts the config's commands to the host: the first word must be installed (of the
// image's version where the host has several), a file the image copies from its definition
// (TypeScript's declarations of node's globals) is taken from the definition, and any other
// argument naming a file that only exists in the image (Java's CDS archive, node's start-up
// snapshot, with its flag) is dropped. Paths
// under /tmp in the environment (Go's build cache) move to a cache folder of the bench, which
// the warm-up runs fill, as the image's pre-built cache is filled.
func planFloor(l *config.Language, img floorImage, cacheDir string) floorPlan {
	var fp floorPlan
	var cmds [][]string
	if l.Compiled() {
		cmds = append(cmds, expand(l.Compile, l.Source))
	}
	cmds = append(cmds, expand(l.Run, l.Source))
	copied := dockerfileCopies(img.dir)
	for i, argv := range cmds {
		last := i == len(cmds)-1
		var kept []string
		if !(last && strings.HasPrefix(argv[0], "./")) { // not the compiled program itself
			bin, err := findBinary(argv[0], img.version)
			if err != nil {
				fp.Missing = argv[0] + " is not installed on the host"
				return fp
			}
			kept = append(kept, bin)
			argv = argv[1:]
		}
		for _, a := range argv {
			if p := absPathIn(a); p != "" && !pathsExist(p) {
				if src, ok := copied[p]; ok {
					fp.Replaced = append(fp.Replaced, p+"="+src)
					kept = append(kept, strings.TrimSuffix(a, p)+src)
					continue
				}
				// A path given as the value of the flag before it (`--snapshot-blob FILE`)
				// takes the flag with it.
				if n := len(kept); a == p && n > 1 && strings.HasPrefix(kept[n-1], "-") && !strings.Contains(kept[n-1], "=") {
					fp.Dropped = append(fp.Dropped, kept[n-1])
					kept = kept[:n-1]
				}
				fp.Dropped = append(fp.Dropped, a)
				continue
			}
			kept = append(kept, a)
		}
		fp.steps = append(fp.steps, kept)
	}
	for _, e := range l.Env {
		fp.env = append(fp.env, strings.ReplaceAll(e, "=/tmp/", "="+cacheDir+"/"))
	}
	fp.Version = floorVersion(l.Name, fp.steps[0][0], img.dir)
	return fp
}

// shells are the programs whose --version is not the language's.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true}

// floorVersion is the version of the host's toolchain that bin, the floor's first command,
// belongs to. A command run through the shell (erlang's escript) says nothing of the language
// when the shell is asked: the image's own version command, run on the host, does.
func floorVersion(lang, bin, imageDir string) string {
	if shells[filepath.Base(bin)] {
		if script, err := os.ReadFile(filepath.Join(imageDir, "version")); err == nil {
			out, _ := exec.Command("sh", "-c", string(script)).Output()
			return firstLine(out) + " (" + lang + "'s version command)"
		}
	}
	return hostVersion(bin) + " (" + bin + ")"
}

// dockerfileCopies maps the files an image definition's Dockerfile copies from its folder
// (`COPY src /abs/dst`, not from another stage) to their sources there.
func dockerfileCopies(dir string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.EqualFold(f[0], "COPY") || !strings.HasPrefix(f[2], "/") || strings.HasSuffix(f[2], "/") {
			continue
		}
		src, err := filepath.Abs(filepath.Join(dir, f[1])) // the floor runs in a folder of its own
		if err != nil {
			continue
		}
		if fi, err := os.Stat(src); err == nil && fi.Mode().IsRegular() {
			out[f[2]] = src
		}
	}
	return out
}

// findBinary looks a command up in PATH. Where the host has it more than once (Debian's rustc
// and a rustup one before it in PATH), the one whose version names want, the image's, is
// taken, so that the floor runs the image's toolchain. Otherwise a real executable (ELF) is
// preferred over a wrapper script: pyenv's shim for python3 is a bash script that would add
// ~130 ms to the floor.
func findBinary(name, want string) (string, error) {
	first, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	var found []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 && !slices.Contains(found, p) {
			found = append(found, p)
		}
	}
	if want != "" && len(found) > 1 {
		for _, p := range found {
			if strings.Contains(hostVersion(p), want) {
				return p, nil
			}
		}
	}
	for _, p := range found {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		magic := make([]byte, 4)
		_, err = io.ReadFull(f, magic)
		f.Close()
		if err == nil && string(magic) == "\x7fELF" {
			return p, nil
		}
	}
	return first, nil
}

// pathsExist reports whether every path of a list (a Java class path: a:b:c) exists.
func pathsExist(list string) bool {
	for _, p := range strings.Split(list, ":") {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// absPathIn returns the absolute path an argument names (/x or -opt=/x), or "".
func absPathIn(a string) string {
	if i := strings.LastIndex(a, "=/"); i >= 0 {
		return a[i+1:]
	}
	if strings.HasPrefix(a, "/") {
		return a
	}
	return ""
}

func hostVersion(bin string) string {
	arg := "--version"
	if filepath.Base(bin) == "go" {
		arg = "version"
	}
	out, _ := exec.Command(bin, arg).CombinedOutput()
	return firstLine(out)
}

func firstLine(out []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// runFloor writes the program into a fresh folder and runs the same commands on the host.
func runFloor(ctx context.Context, fp floorPlan, l *config.Language, code, tmp string) (time.Duration, error) {
	start := time.Now()
	dir, err := os.MkdirTemp(tmp, l.Name)
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, l.Source), []byte(code), 0o644); err != nil {
		return 0, err
	}
	var out []byte
	for _, argv := range fp.steps {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), fp.env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err != nil {
			return 0, fmt.Errorf("%s: %w: %.300s", strings.Join(argv, " "), err, stderr.String())
		}
	}
	took := time.Since(start)
	if string(out) != wantStdout {
		return 0, fmt.Errorf("stdout %q", out)
	}
	return took, nil
}

// ---- /metrics ----

// The server's histograms the bench reads, by language.
const (
	metricStart = "codeexec_container_start_seconds" // create, attach, start, warm-up, pause
	metricClaim = "codeexec_pool_claim_wait_seconds" // waiting for a warm container, unpause included
)

// scrape holds the histograms of one /metrics text: name → language → histogram.
type scrape map[string]map[string]histogram

// parseScrape reads the named histograms, by their language label, from a /metrics text.
func parseScrape(text string, names ...string) (scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	out := scrape{}
	for _, name := range names {
		out[name] = byLanguage(fams[name])
	}
	return out, nil
}

func byLanguage(fam *dto.MetricFamily) map[string]histogram {
	out := map[string]histogram{}
	if fam == nil {
		return out
	}
	for _, m := range fam.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		lang := ""
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "language" {
				lang = lp.GetValue()
			}
		}
		hh := histogram{Count: h.GetSampleCount(), Sum: h.GetSampleSum(), Buckets: map[float64]uint64{}}
		for _, b := range h.GetBucket() {
			hh.Buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		out[lang] = hh
	}
	return out
}
