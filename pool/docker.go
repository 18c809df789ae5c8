package pool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/google/uuid"

	"github.com/codeexec/codeexec/agent"
	"github.com/codeexec/codeexec/config"
)

// Labels on every container this service creates.
const (
	LabelInstance = "codeexec.instance"
	LabelLanguage = "codeexec.language"
)

// agentPath is where the agent binary appears inside every container.
const agentPath = "/codeexec/agent"

// Docker is the Engine over the Docker Engine API.
type Docker struct {
	cli      *client.Client
	instance string
	agent    string // absolute host path of the agent binary
	pool     config.Pool
	langs    map[string]*config.Language
}

// NewDocker connects to the engine named by the environment (DOCKER_HOST, default socket),
// negotiating the API version.
func NewDocker(cfg *config.Config) (*Docker, error) {
	agentAbs, err := filepath.Abs(cfg.Pool.Agent)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(agentAbs); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("agent binary %s not found: run `make build`", agentAbs)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Docker{cli: cli, instance: cfg.Instance, agent: agentAbs, pool: cfg.Pool, langs: cfg.Languages}, nil
}

// Client exposes the API client for callers that need more (tests, leak checks).
func (d *Docker) Client() *client.Client { return d.cli }

// Ping reports whether the engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	_, err := d.cli.Ping(ctx)
	return err
}

// CheckImages reports the configured images that the engine does not have.
func (d *Docker) CheckImages(ctx context.Context) error {
	var missing []string
	for _, l := range d.langs {
		if _, err := d.cli.ImageInspect(ctx, l.Image); err != nil {
			if client.IsErrNotFound(err) {
				missing = append(missing, l.Image)
				continue
			}
			return fmt.Errorf("inspecting image %s: %w", l.Image, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("images missing: %s: run `make images`", strings.Join(missing, ", "))
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
		if err := d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
			return n, err
		}
		n++
	}
	return n, nil
}

func (d *Docker) spec(l *config.Language) (*container.Config, *container.HostConfig) {
	env := append([]string{"HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, l.Env...)
	if l.Prepare != "" {
		env = append(env, "CODEEXEC_PREPARE="+l.Prepare)
	}
	cfg := &container.Config{
		Image:           l.Image,
		User:            d.pool.User,
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
	tmpfs := l.TmpfsMB << 20
	host := &container.HostConfig{
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		IpcMode:        "private",
		Runtime:        d.pool.Runtime,
		// json-file would also write everything the sandbox prints to the host's disk.
		LogConfig: container.LogConfig{Type: "none"},
		Tmpfs:     map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,mode=1777", tmpfs)},
		Mounts: []mount.Mount{{
			Type: mount.TypeBind, Source: d.agent, Target: agentPath, ReadOnly: true,
		}},
		Resources: container.Resources{
			Memory:     mem,
			MemorySwap: mem, // no swap: memory+swap = memory
			NanoCPUs:   int64(l.CPUs * 1e9),
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

// Start creates, attaches and starts a container and waits for its agent; see Engine.
func (d *Docker) Start(ctx context.Context, lang string) (Container, error) {
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
	b := &Box{id: created.ID, docker: d}
	if err := d.warm(ctx, b); err != nil {
		d.removeFailedStart(ctx, b)
		return nil, err
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
	b.stdout = json.NewDecoder(pr)
	b.copyDone = make(chan struct{})
	go func() {
		_, err := stdcopy.StdCopy(pw, &b.stderr, hj.Reader)
		pw.CloseWithError(err)
		close(b.copyDone)
	}()
	if err := d.cli.ContainerStart(ctx, b.id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	var ready agent.Ready
	if err := b.decode(ctx, &ready); err != nil {
		return fmt.Errorf("waiting for the agent: %w%s", err, b.stderr.suffix())
	}
	if !ready.Ready {
		return fmt.Errorf("agent: %s", ready.Error)
	}
	return nil
}

// Pause freezes a container (the cgroup freezer).
func (d *Docker) Pause(ctx context.Context, c Container) error {
	return d.cli.ContainerPause(ctx, c.ID())
}

// Resume unpauses a container.
func (d *Docker) Resume(ctx context.Context, c Container) error {
	return d.cli.ContainerUnpause(ctx, c.ID())
}

// Remove force-removes a container and closes our connection to it.
func (d *Docker) Remove(ctx context.Context, c Container) error {
	if b, ok := c.(*Box); ok {
		b.close()
	}
	err := d.cli.ContainerRemove(ctx, c.ID(), container.RemoveOptions{Force: true})
	if client.IsErrNotFound(err) {
		return nil
	}
	return err
}

// Box is a warm container with its attached stdin/stdout: the line to its agent.
type Box struct {
	id       string
	docker   *Docker
	conn     *types.HijackedResponse
	stdout   *json.Decoder
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

// decode reads the agent's next JSON message, giving up when ctx ends.
func (b *Box) decode(ctx context.Context, v any) error {
	done := make(chan error, 1)
	go func() { done <- b.stdout.Decode(v) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		b.close() // unblocks the decoder
		<-done
		return ctx.Err()
	}
}

// SetMemory changes the container's memory (and memory+swap) limit.
func (b *Box) SetMemory(ctx context.Context, bytes int64) error {
	_, err := b.docker.cli.ContainerUpdate(ctx, b.id, container.UpdateConfig{Resources: container.Resources{
		Memory: bytes, MemorySwap: bytes,
	}})
	return err
}

// ErrAgentGone means the container's agent ended without an answer (the container was killed).
var ErrAgentGone = errors.New("the sandbox ended without an answer")

// Exchange sends the job to the agent and reads its result. A container takes one job.
func (b *Box) Exchange(ctx context.Context, job *agent.Job) (*agent.Result, error) {
	hj := b.conn
	if hj == nil {
		return nil, errors.New("container not attached")
	}
	payload, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	writeErr := make(chan error, 1)
	go func() {
		_, err := hj.Conn.Write(payload)
		if err == nil {
			err = hj.CloseWrite()
		}
		writeErr <- err
	}()
	var res agent.Result
	if err := b.decode(ctx, &res); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if werr := <-writeErr; werr != nil {
			return nil, fmt.Errorf("sending the job: %w", werr)
		}
		return nil, fmt.Errorf("%w: %v%s", ErrAgentGone, err, b.stderr.suffix())
	}
	return &res, nil
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
