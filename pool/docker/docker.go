// Package docker is the pool's Engine over the Docker Engine API: it creates the sandbox
// containers with their isolation settings, attaches to each one's stdin and stdout, and talks
// to the agent inside in agentproto frames.
package docker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/google/uuid"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/pool"
)

// Labels on every container this service creates.
const (
	LabelInstance = "codeexec.instance"
	LabelLanguage = "codeexec.language"
)

// The host's pids limit of a container under a runtime with its own kernel (gVisor) is the
// language's pids times sandboxThreadsPerProcess plus sandboxKernelPids: the host sees no
// program process, but on gVisor's ptrace platform each one is a host stub process with a thread
// for every Sentry thread that has run it (stubs of ended processes are kept for reuse), and the
// Sentry and Gofer have threads of their own, more when the host is loaded. Reaching the limit
// ends the Sentry or kills a process of the program, so a compile that runs a few tools at
// once must not come near it.
const (
	sandboxThreadsPerProcess = 8
	sandboxKernelPids        = 256
)

// agentCaps are the only capabilities of a container: the agent's, to start the steps as the
// sandbox user (SETUID, SETGID), to kill their processes (KILL), and to empty the bounding set
// the steps inherit (SETPCAP), which it then drops with every other one but the first three. The
// steps have none.
var agentCaps = []string{"CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SETPCAP"}

// agentPath is where the agent binary appears inside every container.
const agentPath = "/codeexec/agent"

// Docker is the Engine over the Docker Engine API.
type Docker struct {
	cli      *client.Client
	instance string
	agent    string // host path of the agent binary's copy that is mounted (neutralCopy)
	pool     config.Pool
	langs    map[string]*config.Language
	runtimes map[string][]string // runtime name -> the languages that use it
	// cpus is how many CPUs the engine's host has (CheckEngine; 0 until then): the engine
	// refuses a container a larger CPU quota.
	cpus float64
}

// NewDocker connects to the engine named by the environment (DOCKER_HOST, default socket),
// negotiating the API version.
func New(cfg *config.Config) (*Docker, error) {
	if _, _, err := agentproto.ParseUser(cfg.Pool.User); err != nil {
		return nil, fmt.Errorf("pool.user: %w", err)
	}
	agentAbs, err := filepath.Abs(cfg.Pool.Agent)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(agentAbs); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("agent binary %s not found: run `make build`", agentAbs)
	}
	agentAbs, err = neutralCopy(agentAbs, agentShelf)
	if err != nil {
		return nil, fmt.Errorf("copying the agent binary to %s: %w", agentShelf, err)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Docker{cli: cli, instance: cfg.Instance, agent: agentAbs, pool: cfg.Pool, langs: cfg.Languages, runtimes: cfg.Runtimes()}, nil
}

// agentShelf is where the agent binary is mounted from. A bind mount shows its source in the
// sandbox's /proc/self/mountinfo (its path and device): from a tmpfs folder named after the
// binary's hash, that says nothing about the host's disks or where the server was installed.
const agentShelf = "/dev/shm"

// neutralCopy copies the binary at path to shelf/codeexec-<hash>/agent (once per build: servers
// of the same build share it) and returns the copy's path. A folder of that name must be ours
// and writable by us alone: nobody else may swap the binary every sandbox runs as PID 1.
func neutralCopy(path, shelf string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	dir := filepath.Join(shelf, "codeexec-"+hex.EncodeToString(sum[:8]))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("%s exists and is not a folder only this user can write", dir)
	}
	dst := filepath.Join(dir, "agent")
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, b) {
		return dst, nil
	}
	tmp, err := os.CreateTemp(dir, "agent-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// A rename replaces the file whole: a container starting meanwhile mounts the old or the new.
	return dst, os.Rename(tmp.Name(), dst)
}

// Ping reports whether the engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	_, err := d.cli.Ping(ctx)
	return err
}

// LabelVersion is the image label holding the toolchain's version, recorded by images/build.sh
// from the toolchain's own --version.
const LabelVersion = "codeexec.version"

// CheckImages reports the configured images that the engine does not have, and returns the
// version each image says it holds (its LabelVersion label; images without one are absent).
func (d *Docker) CheckImages(ctx context.Context) (map[string]string, error) {
	var missing []string
	versions := map[string]string{}
	for _, l := range d.langs {
		img, err := d.cli.ImageInspect(ctx, l.Image)
		if err != nil {
			if client.IsErrNotFound(err) {
				missing = append(missing, l.Image)
				continue
			}
			return nil, fmt.Errorf("inspecting image %s: %w", l.Image, err)
		}
		if img.Config != nil && img.Config.Labels[LabelVersion] != "" {
			versions[l.Image] = img.Config.Labels[LabelVersion]
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("images missing: %s: run `make images`", strings.Join(slices.Compact(missing), ", "))
	}
	return versions, nil
}

// CheckEngine reports the runtimes the languages use that the engine has not registered, and
// learns how many CPUs its host has.
func (d *Docker) CheckEngine(ctx context.Context) error {
	info, err := d.cli.Info(ctx)
	if err != nil {
		return fmt.Errorf("asking the engine for its runtimes: %w", err)
	}
	d.cpus = float64(info.NCPU)
	var missing []string
	for rt, langs := range d.runtimes {
		if _, ok := info.Runtimes[rt]; !ok {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", rt, strings.Join(langs, ", ")))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the Docker engine has no runtime %s: run `make runsc` to install gVisor's runsc and register it, "+
			"or register the runtime under \"runtimes\" in /etc/docker/daemon.json and reload dockerd (SECURITY.md \"gVisor\")",
			strings.Join(missing, "; "))
	}
	return nil
}

func (d *Docker) instanceFilter() filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelInstance+"="+d.instance))
}

// Owned lists the IDs of all containers labelled with this instance, in any state.
func (d *Docker) Owned(ctx context.Context) ([]string, error) {
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: d.instanceFilter()})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids, nil
}

// RemoveStale removes every container of this instance: what an earlier run of this server left
// behind when it crashed. Call it before the pools start.
func (d *Docker) RemoveStale(ctx context.Context) (int, error) {
	ids, err := d.Owned(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		d.unpauseToRemove(ctx, id)
		// A conflict is a removal already under way (the engine is still removing what a killed
		// server asked it to): the container is going, which is all this wants.
		err := d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
		if err != nil && !client.IsErrNotFound(err) && !cerrdefs.IsConflict(err) {
			return n, err
		}
		n++
	}
	return n, nil
}

// cpuQuota is the language's CPUs, at most the host's: a language given two CPUs for its
// runtime's threads still runs on a one-CPU host.
func (d *Docker) cpuQuota(l *config.Language) float64 {
	if d.cpus > 0 && l.CPUs > d.cpus {
		return d.cpus
	}
	return l.CPUs
}

func (d *Docker) spec(l *config.Language) (*container.Config, *container.HostConfig) {
	env := append([]string{"HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, l.Env...)
	env = append(env, agentproto.EnvUser+"="+d.pool.User)
	if l.Prepare != "" {
		env = append(env, agentproto.EnvPrepare+"="+l.Prepare)
	}
	if progs := programs(l); len(progs) > 0 {
		env = append(env, agentproto.EnvPrograms+"="+strings.Join(progs, " "))
	}
	cfg := &container.Config{
		Image: l.Image,
		// The agent starts as root, confines itself to agentCaps and runs every step as the
		// sandbox user (pool.user, in EnvUser): a program of another user than the agent's can
		// neither signal it nor open its /proc/1/fd, also under gVisor (SECURITY.md).
		User:            "0:0",
		Env:             env,
		Entrypoint:      []string{agentPath},
		Cmd:             []string{},
		WorkingDir:      "/tmp",
		AttachStdin:     true,
		AttachStdout:    true,
		AttachStderr:    true,
		OpenStdin:       true,
		StdinOnce:       true, // stdin closes when our attach ends: a crashed server's containers stop by themselves
		NetworkDisabled: true,
		Labels:          map[string]string{LabelInstance: d.instance, LabelLanguage: l.Name},
	}
	mem := l.MemoryMB << 20
	pids := l.Pids
	if l.Runtime != config.DefaultRuntime {
		pids = l.Pids*sandboxThreadsPerProcess + sandboxKernelPids
	}
	tmpfs := l.TmpfsMB << 20
	host := &container.HostConfig{
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		CapAdd:         agentCaps,
		SecurityOpt:    []string{"no-new-privileges"},
		IpcMode:        "private",
		Runtime:        l.Runtime,
		// json-file would also write everything the sandbox prints to the host's disk.
		LogConfig: container.LogConfig{Type: "none"},
		Tmpfs:     map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,mode=1777", tmpfs)},
		Mounts: []mount.Mount{{
			Type: mount.TypeBind, Source: d.agent, Target: agentPath, ReadOnly: true,
		}},
		Resources: container.Resources{
			Memory:     mem,
			MemorySwap: mem, // no swap: memory+swap = memory
			NanoCPUs:   int64(d.cpuQuota(l) * 1e9),
			PidsLimit:  &pids,
			Ulimits: []*container.Ulimit{
				{Name: "nofile", Soft: l.NoFile, Hard: l.NoFile},
				{Name: "fsize", Soft: tmpfs, Hard: tmpfs},
				{Name: "core", Soft: 0, Hard: 0},
			},
		},
	}
	return cfg, host
}

// programs are the programs the language's steps start, by name (looked up in PATH): the agent
// looks them up at warm-up (agent.Rehearse), so that a job's lookup does not go to the image's
// files for the first time.
func programs(l *config.Language) []string {
	var names []string
	for _, argv := range [][]string{l.Compile, l.Run} {
		if len(argv) > 0 && !strings.ContainsAny(argv[0], "/{ ") && !slices.Contains(names, argv[0]) {
			names = append(names, argv[0])
		}
	}
	return names
}

// Start creates, attaches and starts a container and waits for its agent; see Engine.
func (d *Docker) Start(ctx context.Context, lang string) (pool.Sandbox, error) {
	l, ok := d.langs[lang]
	if !ok {
		return nil, fmt.Errorf("unknown language %q", lang)
	}
	cfg, host := d.spec(l)
	name := fmt.Sprintf("codeexec-%s-%s-%s", d.instance, lang, uuid.NewString()[:8])
	created, err := d.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		d.removeFailedCreate(ctx, name, err)
		return nil, fmt.Errorf("create: %w", err)
	}
	b := &Box{id: created.ID, docker: d, runtime: l.Runtime}
	if err := d.warm(ctx, b); err != nil {
		d.removeFailedStart(ctx, b)
		return nil, err
	}
	if l.Runtime != config.DefaultRuntime {
		b.mem.dir = d.memoryCgroup(ctx, b.id)
	}
	return b, nil
}

func (d *Docker) warm(ctx context.Context, b *Box) error {
	// Attach before start, so nothing the agent writes is missed.
	hj, err := d.cli.ContainerAttach(ctx, b.id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	b.conn = &hj
	pr, pw := io.Pipe()
	b.events = agentproto.NewReader(pr, agentproto.MaxAgentFrame)
	b.copyDone = make(chan struct{})
	go func() {
		_, err := stdcopy.StdCopy(pw, &b.stderr, hj.Reader)
		pw.CloseWithError(err)
		close(b.copyDone)
	}()
	if err := d.cli.ContainerStart(ctx, b.id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	stop := context.AfterFunc(ctx, b.close) // unblocks the reader
	hello, err := b.events.ReadHello()
	stop()
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("waiting for the agent: %w", ctx.Err())
	case err != nil:
		return fmt.Errorf("waiting for the agent: %w%s", err, b.stderr.suffix())
	case hello.Error != "":
		return fmt.Errorf("agent: %s", hello.Error)
	}
	return nil
}

// Pause freezes a container (the cgroup freezer).
func (d *Docker) Pause(ctx context.Context, c pool.Sandbox) error {
	return d.cli.ContainerPause(ctx, c.ID())
}

// Resume unpauses a container.
func (d *Docker) Resume(ctx context.Context, c pool.Sandbox) error {
	return d.cli.ContainerUnpause(ctx, c.ID())
}

// Remove force-removes a container and closes our connection to it.
func (d *Docker) Remove(ctx context.Context, c pool.Sandbox) error {
	if b, ok := c.(*Box); ok {
		b.close()
		if b.runtime != config.DefaultRuntime {
			d.unpauseToRemove(ctx, c.ID())
		}
	}
	err := d.cli.ContainerRemove(ctx, c.ID(), container.RemoveOptions{Force: true})
	if client.IsErrNotFound(err) {
		return nil
	}
	return err
}

// unpauseToRemove unpauses a container about to be removed. runsc delivers no signal to a
// paused sandbox, so the engine's kill of a paused one waits its whole grace period before the
// removal goes on; under runc the error of a container that is not paused is all it costs.
func (d *Docker) unpauseToRemove(ctx context.Context, id string) {
	_ = d.cli.ContainerUnpause(ctx, id)
}

// Box is a warm container with its attached stdin/stdout: the line to its agent.
type Box struct {
	id       string
	docker   *Docker
	runtime  string
	mem      memoryWatch // under a runtime other than runc
	conn     *types.HijackedResponse
	events   *agentproto.Reader
	stderr   tailBuffer
	copyDone chan struct{}
	once     sync.Once
}

// ID is the container ID.
func (b *Box) ID() string { return b.id }

func (b *Box) close() {
	b.once.Do(func() {
		if b.conn != nil {
			b.conn.Close()
		}
	})
}

// Lost reports whether the attach stream to the agent has ended.
func (b *Box) Lost() bool {
	if b.copyDone == nil {
		return false
	}
	select {
	case <-b.copyDone:
		return true
	default:
		return false
	}
}

// SetMemory changes the container's memory (and memory+swap) limit. runsc has no update
// command, so for its containers the limit is written into the container's memory cgroup on the
// host, where the engine would have written it (this needs the server on the engine's host).
func (b *Box) SetMemory(ctx context.Context, bytes int64) error {
	_, err := b.docker.cli.ContainerUpdate(ctx, b.id, container.UpdateConfig{Resources: container.Resources{
		Memory: bytes, MemorySwap: bytes,
	}})
	if err == nil || b.runtime == config.DefaultRuntime {
		return err
	}
	info, ierr := b.docker.cli.ContainerInspect(ctx, b.id)
	if ierr != nil || info.State == nil || info.State.Pid == 0 {
		return err
	}
	if cerr := setCgroupMemory(info.State.Pid, bytes); cerr != nil {
		return fmt.Errorf("%w; writing the cgroup: %w", err, cerr)
	}
	return nil
}

// ErrAgentGone means the container's agent ended without finishing the job (the container was
// killed, or the agent broke the protocol).
var ErrAgentGone = errors.New("the sandbox ended without an answer")

// Run sends the job to the agent and hands each event to handle until the agent's Done; see
// pool.Sandbox. A container takes one job.
func (b *Box) Run(ctx context.Context, job *agentproto.Job, input <-chan agentproto.Input, handle func(agentproto.Event) error) error {
	if b.conn == nil {
		return errors.New("container not attached")
	}
	payload, err := json.Marshal(job)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, b.close) // unblocks the reader and the sender
	defer stop()
	defer b.mem.watch()()
	sent := make(chan error, 1)
	go func() { sent <- b.send(ctx, payload, input) }()
	for {
		ev, err := b.events.ReadEvent()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			select {
			case serr := <-sent:
				if serr != nil {
					return fmt.Errorf("sending the job: %w", serr)
				}
			default:
			}
			if ended := b.sandboxEnded(ctx); ended != nil {
				return fmt.Errorf("%w (%s)", ended, b.runtime)
			}
			return fmt.Errorf("%w: %w%s", ErrAgentGone, err, b.stderr.suffix())
		}
		if err := handle(ev); err != nil {
			b.close() // the agent is left mid-job: this container is done for
			return err
		}
		if ev.Kind == agentproto.KindDone {
			return nil
		}
	}
}

// sandboxEnded says why a container whose agent went away mid-job ended, when the program
// made it end: pool.ErrOutOfMemory when the host's OOM killer killed it (the engine says so when
// the agent itself was the victim under runc). Under a runtime with its own kernel (gVisor) the
// engine says nothing: SIGKILL is the OOM killer's when the container's memory cgroup, watched
// during the job, reached its limit, and otherwise the program's, which can kill the agent there
// (pool.ErrSandboxKilled); exit status 2 is its kernel's fatal error when it can make no more
// threads, at the pids limit (pool.ErrProcessLimit). Removing the container ends the job's
// context first, so that is never the cause.
func (b *Box) sandboxEnded(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	waitC, errC := b.docker.cli.ContainerWait(ctx, b.id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case <-errC:
		return nil
	}
	info, err := b.docker.cli.ContainerInspect(ctx, b.id)
	switch {
	case err != nil || info.State == nil:
		return nil
	case info.State.OOMKilled:
		return pool.ErrOutOfMemory
	case b.runtime == config.DefaultRuntime:
		return nil
	case info.State.ExitCode == 128+9 && b.mem.reachedLimit():
		return pool.ErrOutOfMemory
	case info.State.ExitCode == 128+9:
		return pool.ErrSandboxKilled
	case info.State.ExitCode == 2:
		return pool.ErrProcessLimit
	}
	return nil
}

// memoryCgroup finds the host folder of a running container's memory cgroup (cgroup v1), or ""
// when the server cannot see it (it does not run on the engine's host).
func (d *Docker) memoryCgroup(ctx context.Context, id string) string {
	info, err := d.cli.ContainerInspect(ctx, id)
	if err != nil || info.State == nil || info.State.Pid == 0 {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", info.State.Pid))
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "memory") {
			return filepath.Join("/sys/fs/cgroup/memory", f[2])
		}
	}
	return ""
}

// memoryWatch samples a container's memory cgroup on the host while a job runs. gVisor's
// kernel holds all of the program's memory, so the host's OOM killer ends the whole sandbox,
// cgroup and all, and the engine does not report it: what was sampled before is the evidence.
type memoryWatch struct {
	dir     string // the cgroup's folder; "" watches nothing
	mu      sync.Mutex
	failed  bool // the usage met the limit (memory.failcnt)
	nearMax bool // the peak came within an eighth of the limit
}

// memoryWatchEvery is how often the cgroup is sampled: a bomb grows by much less than an
// eighth of any limit in that time under gVisor.
const memoryWatchEvery = 10 * time.Millisecond

// watch samples until the returned function is called.
func (m *memoryWatch) watch() (stop func()) {
	if m.dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(memoryWatchEvery)
		defer tick.Stop()
		for {
			m.sample()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (m *memoryWatch) sample() {
	read := func(name string) (int64, bool) {
		b, err := os.ReadFile(filepath.Join(m.dir, name))
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n, err == nil
	}
	fails, ok1 := read("memory.failcnt")
	peak, ok2 := read("memory.max_usage_in_bytes")
	limit, ok3 := read("memory.limit_in_bytes")
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = m.failed || (ok1 && fails > 0)
	m.nearMax = m.nearMax || (ok2 && ok3 && peak >= limit-limit/8)
}

// reachedLimit reports whether the sampled cgroup met or neared its limit.
func (m *memoryWatch) reachedLimit() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed || m.nearMax
}

// setCgroupMemory sets the memory limit, without swap, of the memory cgroup of the host
// process pid (a container's first process), cgroup v1 or v2.
func setCgroupMemory(pid int, bytes int64) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return err
	}
	v := strconv.FormatInt(bytes, 10)
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case slices.Contains(strings.Split(f[1], ","), "memory"):
			dir := filepath.Join("/sys/fs/cgroup/memory", f[2])
			// memory+swap may never be below memory: raise it first, lower it last.
			files := []string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}
			if cur, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
				if n, _ := strconv.ParseInt(strings.TrimSpace(string(cur)), 10, 64); bytes < n {
					files[0], files[1] = files[1], files[0]
				}
			}
			for _, name := range files {
				err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0)
				if err != nil && !(name == "memory.memsw.limit_in_bytes" && errors.Is(err, os.ErrNotExist)) {
					return err
				}
			}
			return nil
		case f[0] == "0" && f[1] == "":
			dir := filepath.Join("/sys/fs/cgroup", f[2])
			if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(v), 0); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		}
	}
	return fmt.Errorf("no memory cgroup in /proc/%d/cgroup", pid)
}

// send writes the job, then the input frames until input is closed, then closes the agent's
// stdin (which it reads as the end of the input).
func (b *Box) send(ctx context.Context, job []byte, input <-chan agentproto.Input) error {
	w := agentproto.NewWriter(b.conn.Conn)
	if err := w.Frame(agentproto.KindJob, job); err != nil {
		return err
	}
	for input != nil {
		select {
		case in, ok := <-input:
			if !ok {
				input = nil
				break
			}
			if err := w.Frame(in.Kind, in.Data); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.conn.CloseWrite()
}

// tailBuffer keeps the last few KiB the agent wrote to stderr, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 4096 {
		rest := t.buf.Bytes()[t.buf.Len()-4096:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return len(p), nil
}

func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.buf.Len() == 0 {
		return ""
	}
	return " (agent stderr: " + strings.TrimSpace(t.buf.String()) + ")"
}

// removeFailedStart removes a container whose start failed; if the engine does not answer now,
// it keeps trying in the background.
func (d *Docker) removeFailedStart(ctx context.Context, b *Box) {
	if err := d.Remove(context.WithoutCancel(ctx), b); err == nil {
		return
	}
	go func() {
		remove := func(ctx context.Context) error { return d.Remove(ctx, b) }
		if err := pool.RemoveUntilGone(remove, time.Second, 10*time.Second, 10*time.Minute, nil); err != nil {
			slog.Warn("giving up removing a container that failed to start; the next start of this instance removes it",
				"container", pool.ShortID(b), "err", err)
		}
	}()
}

// removeFailedCreate removes, by name, a container whose create call failed after the request
// reached the engine: the engine may have created it and the answer been lost (the connection
// broke). When the client could not even connect, nothing was sent and there is nothing to do.
func (d *Docker) removeFailedCreate(ctx context.Context, name string, err error) {
	if neverSent(err) {
		return
	}
	d.removeFailedStart(ctx, &Box{id: name, docker: d})
}

// neverSent reports whether a failed request cannot have reached the engine: its dial failed.
// client.IsErrConnectionFailed alone says too much: it also covers a connection that broke after
// the request went out ("error during connect", which keeps the transport's *url.Error), and a
// create sent that way may well have created the container. A failed dial is reported without it.
func neverSent(err error) bool {
	var transport *url.Error
	return client.IsErrConnectionFailed(err) && !errors.As(err, &transport)
}

// PullMissing pulls each configured image the engine lacks from the registry (pool.registry),
// as registry/image, and tags it with its configured name, logging the progress.
func (d *Docker) PullMissing(ctx context.Context, registry string, log *slog.Logger) error {
	for _, name := range sortedLanguages(d.langs) {
		img := d.langs[name].Image
		if _, err := d.cli.ImageInspect(ctx, img); err == nil {
			continue
		} else if !client.IsErrNotFound(err) {
			return fmt.Errorf("inspecting image %s: %w", img, err)
		}
		ref := strings.TrimSuffix(registry, "/") + "/" + img
		log.Info("pulling image", "language", name, "from", ref)
		begin := time.Now()
		rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
		if err != nil {
			return fmt.Errorf("pulling %s: %w", ref, err)
		}
		err = logPull(rc, ref, log)
		rc.Close()
		if err != nil {
			return fmt.Errorf("pulling %s: %w", ref, err)
		}
		if err := d.cli.ImageTag(ctx, ref, img); err != nil {
			return fmt.Errorf("tagging %s as %s: %w", ref, img, err)
		}
		log.Info("pulled image", "language", name, "image", img, "took", time.Since(begin).Round(time.Millisecond))
	}
	return nil
}

// logPull logs a pull's progress: each layer's milestones, and the bytes downloaded at most once
// a second.
func logPull(r io.Reader, ref string, log *slog.Logger) error {
	dec := json.NewDecoder(r)
	last := time.Time{}
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != nil {
			return m.Error
		}
		switch {
		case m.Status == "Downloading" && m.Progress != nil:
			if time.Since(last) >= time.Second {
				last = time.Now()
				log.Info("pull progress", "image", ref, "layer", m.ID, "bytes", m.Progress.Current, "of", m.Progress.Total)
			}
		case m.Status == "Extracting" || m.Status == "Waiting":
		default:
			log.Info("pull progress", "image", ref, "layer", m.ID, "status", m.Status)
		}
	}
}

func sortedLanguages(langs map[string]*config.Language) []string {
	names := make([]string, 0, len(langs))
	for n := range langs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
