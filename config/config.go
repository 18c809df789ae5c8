// Package config loads config.yaml: server settings and one entry per language.
// Adding a language is a config entry plus a Dockerfile; no Go code knows language names.
package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole file.
type Config struct {
	// Instance names this server's containers (label codeexec.instance). It must be stable across
	// restarts, so a restarted server finds what a crashed one left, and distinct between servers
	// that share one Docker engine, so they never touch each other's containers.
	Instance string  `yaml:"instance"`
	Server   Server  `yaml:"server"`
	Pool     Pool    `yaml:"pool"`
	Judge    Judge   `yaml:"judge"`
	ExecLog  ExecLog `yaml:"execlog"`
	Queue    Queue   `yaml:"queue"`
	// Judge0 places the Judge0 CE API (api/judge0).
	Judge0 Judge0 `yaml:"judge0"`
	// Interactive bounds the live sessions (WebSocket and event-stream runs).
	Interactive Interactive          `yaml:"interactive"`
	Languages   map[string]*Language `yaml:"languages"`
}

// Queue configures the job queue (NATS JetStream) between the api and worker roles.
type Queue struct {
	// URL is the NATS cluster (comma-separated URLs); env NATS_URL overrides. Empty: role all
	// runs an embedded server storing under Dir.
	URL string `yaml:"url"`
	Dir string `yaml:"dir"`
	// Replicas of the stream and the result store; 0: 3 when the cluster has 3 or more servers, else 1.
	Replicas   int      `yaml:"replicas"`
	ResultTTL  Duration `yaml:"resultTTL"`  // how long a submission's result is kept
	MaxPending int      `yaml:"maxPending"` // jobs waiting in the queue; past it, 429 (Judge0's API: 503 "queue is full")
	MaxDeliver int      `yaml:"maxDeliver"` // deliveries before a job ends as an internal error
	AckWaitMs  int      `yaml:"ackWaitMs"`  // a job whose worker is silent this long is redelivered
	// SyncWaitMs bounds ?wait=true on GET /api/v1/submissions/{token}.
	SyncWaitMs int `yaml:"syncWaitMs"`
	// CallbackAllow lists the hosts and CIDRs callbacks (callbackUrl, Judge0's callback_url) may
	// go to; empty: callbacks are off.
	CallbackAllow []string `yaml:"callbackAllow"`
}

// Duration is a time.Duration written as Go writes one ("24h", "90s").
type Duration time.Duration

// UnmarshalYAML reads "24h".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 24h or 90s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Judge0 configures the Judge0 CE dialect (api/judge0); language ids are per language
// (judge0Ids).
type Judge0 struct {
	Prefix string `yaml:"prefix"` // path prefix of its routes (default /judge0; "off" turns them off)
}

// ExecLog configures the execution log (requests with saveMetric). Parse fills its defaults
// like every other section's.
type ExecLog struct {
	DB              string  `yaml:"db"`              // MongoDB URI; env DB overrides; empty: in memory
	MemoryRecords   int     `yaml:"memoryRecords"`   // the in-memory store keeps the most recent N
	RetentionDays   float64 `yaml:"retentionDays"`   // records older than this are deleted; < 0 keeps all
	BufferSize      int     `yaml:"bufferSize"`      // records waiting for the database; past it they are dropped
	BatchSize       int     `yaml:"batchSize"`       // most records per insert
	MaxTextBytes    int     `yaml:"maxTextBytes"`    // code and output are cut to this many bytes each
	StatsMaxRecords int     `yaml:"statsMaxRecords"` // GET /api/v1/stats reads at most this many recent records
}

// Defaults of the execution log writer's sizes, which package execlog's Writer also takes when
// it is made without a config.
const (
	DefaultExecLogBufferSize = 10000
	DefaultExecLogBatchSize  = 100
)

// Server holds HTTP and admission settings.
type Server struct {
	Listen            string `yaml:"listen"` // address to bind; 127.0.0.1 unless the operator opts in to 0.0.0.0
	Port              int    `yaml:"port"`   // env PORT overrides
	MaxBodyBytes      int64  `yaml:"maxBodyBytes"`
	OutputLimitBytes  int64  `yaml:"outputLimitBytes"` // stdout+stderr of one step
	MaxConcurrent     int    `yaml:"maxConcurrent"`    // executions running at once
	QueueLength       int    `yaml:"queueLength"`      // executions waiting for a slot
	QueueWaitMs       int    `yaml:"queueWaitMs"`      // how long one may wait before 429
	MaxFiles          int    `yaml:"maxFiles"`
	MaxStdinBytes     int64  `yaml:"maxStdinBytes"`
	ShutdownTimeoutMs int    `yaml:"shutdownTimeoutMs"`
	LogFormat         string `yaml:"logFormat"` // "text" or "json"
	// ReadTimeoutMs bounds reading a request (headers and body): a slow-body client is cut off.
	ReadTimeoutMs int `yaml:"readTimeoutMs"`
	// IdleTimeoutMs is how long a keep-alive connection may wait for its next request.
	IdleTimeoutMs int `yaml:"idleTimeoutMs"`
	// HeavyShare is the most slots that requests of more than one run (judge submissions,
	// batch entries) hold at once; the rest stay for single runs. Default maxConcurrent-1.
	HeavyShare int `yaml:"heavyShare"`
	// MaxTotalLimitMs caps one request's total limit time: the sum of the wall-clock limits of
	// all its steps (every test of every submission of a batch).
	MaxTotalLimitMs int64 `yaml:"maxTotalLimitMs"`
	// MaxAnswerBytes caps the program output one answer carries (a batch's entries share it);
	// past it, tests keep their verdicts but their output is dropped and marked.
	MaxAnswerBytes int64 `yaml:"maxAnswerBytes"`
	// AdminToken is the operator's bearer token for listing the execution log and its stats;
	// empty: those endpoints answer 403.
	AdminToken string `yaml:"adminToken"`
	// RateLimit is an optional per-client token bucket on the execute endpoints.
	RateLimit RateLimit `yaml:"rateLimit"`
	// Playground serves the browser playground at GET / (default true).
	Playground bool `yaml:"playground"`
}

// RateLimit limits requests per client address (IPv6: per /64). Off while PerSecond is 0.
type RateLimit struct {
	PerSecond float64 `yaml:"perSecond"` // requests a client earns per second
	Burst     int     `yaml:"burst"`     // requests a client may send at once (default 10)
}

// Interactive bounds live sessions: the WebSockets (GET /api/v1/ws, Piston's /api/v2/connect)
// and the event streams of POST /api/v1/execute. A session holds an execution slot and a
// container while it lasts, so its limits are the server's, not the client's.
type Interactive struct {
	MaxSessions int   `yaml:"maxSessions"` // live sessions at once; past it, 429 before the upgrade
	MaxWallMs   int64 `yaml:"maxWallMs"`   // wall-clock limit of an interactive run
	IdleMs      int64 `yaml:"idleMs"`      // an interactive run with no input and no output this long is stopped
	// AllowedOrigins are the host patterns (path.Match, as "*.example.com") whose pages may open a
	// WebSocket; pages of the server's own host always may, and clients that send no Origin too.
	AllowedOrigins []string `yaml:"allowedOrigins"`
}

// Pool holds warm-pool settings shared by all languages.
type Pool struct {
	Agent          string `yaml:"agent"`          // path of the static agent binary mounted into containers
	Runtime        string `yaml:"runtime"`        // OCI runtime the engine runs sandboxes with: runc (default) or runsc (gVisor)
	User           string `yaml:"user"`           // uid:gid every step runs as (agentproto.ParseUser); the agent is root
	StartParallel  int    `yaml:"startParallel"`  // containers being created or removed at once, all languages
	Unpaused       int    `yaml:"unpaused"`       // warm containers per language left running (default 1; 0: all paused)
	ClaimWaitMs    int    `yaml:"claimWaitMs"`    // how long a request waits for a warm container
	ReadyTimeoutMs int    `yaml:"readyTimeoutMs"` // how long a new container may take to warm up
	// MaxWarm bounds the warm containers of all languages together while pools follow demand
	// (languages' minWarm..maxWarm); 0: no bound beyond each language's maxWarm.
	MaxWarm int `yaml:"maxWarm"`
	// ShrinkAfterMs is how long a language may go without a request before its pool shrinks
	// back to its minWarm; DemandIntervalMs how often the targets are revised.
	ShrinkAfterMs    int `yaml:"shrinkAfterMs"`
	DemandIntervalMs int `yaml:"demandIntervalMs"`
	// Registry (host:port), when set: a language's image the engine lacks is pulled from it at
	// start (as registry/image) and tagged with its configured name.
	Registry string `yaml:"registry"`
}

// Judge holds settings for CPU-time limits and test cases.
type Judge struct {
	WallFactor  float64 `yaml:"wallFactor"` // wall limit = CPU limit * factor + slack
	WallSlackMs int64   `yaml:"wallSlackMs"`
	MaxTests    int     `yaml:"maxTests"`
	MaxBatch    int     `yaml:"maxBatch"`
}

// Language describes one language: its image, how to compile and run, and its limits.
type Language struct {
	// imageVersion is the version the language's image was built with: read from its label by
	// a process with an engine, or reported by the workers to an api process, which has none.
	// It may be set while requests read it.
	imageVersion atomic.Pointer[string]

	Name  string `yaml:"-"`
	Image string `yaml:"image"`
	// ConfiguredVersion is the toolchain's version as config.yaml gives it: used only until the
	// image's version is known (Version).
	ConfiguredVersion string   `yaml:"version"`
	Aliases           []string `yaml:"aliases"`
	// Source is the entry file's name when a request sends bare code (v1).
	Source string `yaml:"source"`
	// Compile and Run are argv lists. Placeholders: {entry} (entry file path), {entryBase} (its
	// name without folder and extension, e.g. a Java class) and {sources} (every submitted file
	// with the entry's extension, one argument each).
	Compile []string `yaml:"compile"`
	Run     []string `yaml:"run"`
	Env     []string `yaml:"env"`
	// Prepare runs (sh -c) when a container warms up, before it is paused: off the request path.
	Prepare string `yaml:"prepare"`
	// MemoryErrors are stderr fragments by which a runtime says it ran out of its own heap
	// (Java's OutOfMemoryError, node's heap limit); they count as memory_limit_exceeded.
	MemoryErrors []string `yaml:"memoryErrors"`
	// Judge0IDs are the Judge0 CE language ids a Judge0 client may send for this language: the
	// first is 1.13.1's (listed as the language's own), the others newer releases' (1.14's).
	Judge0IDs []int `yaml:"judge0Ids"`
	// Judge0Name is the language's name in Judge0's listing; {version} is its version
	// (default: "<name> ({version})").
	Judge0Name string `yaml:"judge0Name"`

	// Runtime overrides pool.runtime for this language's containers.
	Runtime string `yaml:"runtime"`

	MemoryMB         int64   `yaml:"memoryMb"`    // default memory (= memory+swap) of a run
	MaxMemoryMB      int64   `yaml:"maxMemoryMb"` // most a request may ask for
	CPUs             float64 `yaml:"cpus"`
	Pids             int64   `yaml:"pids"`
	TmpfsMB          int64   `yaml:"tmpfsMb"`
	NoFile           int64   `yaml:"nofile"`
	CompileTimeoutMs int64   `yaml:"compileTimeoutMs"` // CPU time of the compile step
	RunTimeoutMs     int64   `yaml:"runTimeoutMs"`     // default CPU time of a run
	MaxRunTimeoutMs  int64   `yaml:"maxRunTimeoutMs"`  // most a request may ask for
	// MinWarm warm containers are kept however idle the language; demand may grow the pool up
	// to MaxWarm (pool.maxWarm bounding all languages together). Defaults: 2, and MaxWarm =
	// MinWarm (a fixed pool).
	MinWarm int `yaml:"minWarm"`
	MaxWarm int `yaml:"maxWarm"`
	// PoolSize, where set, is a fixed pool: MinWarm = MaxWarm = PoolSize (it takes precedence).
	PoolSize int `yaml:"poolSize"`
}

// Compiled reports whether the language has a compile step.
func (l *Language) Compiled() bool { return len(l.Compile) > 0 }

// Load reads and validates a config file, filling defaults.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

var instanceName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// runtimeName is what an engine's runtime name may look like (daemon.json "runtimes" keys).
var runtimeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// DefaultRuntime is the OCI runtime sandboxes run with unless pool.runtime or a language says
// otherwise: the one every Docker engine has.
const DefaultRuntime = "runc"

// Runtimes returns the runtimes the languages use, each with its languages, sorted.
func (c *Config) Runtimes() map[string][]string {
	out := map[string][]string{}
	for _, name := range c.LanguageNames() {
		rt := c.Languages[name].Runtime
		out[rt] = append(out[rt], name)
	}
	return out
}

// Parse validates a config document, filling defaults.
func Parse(b []byte) (*Config, error) {
	// Absent keys keep these values; 0 is a real choice for them.
	c := &Config{Pool: Pool{Unpaused: 1}, Server: Server{Playground: true}}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.defaults()
	// 0 warm containers is a real choice (none of that language until a request asks), so the
	// defaults apply only where the keys are absent: look at the document itself.
	var raw struct {
		Languages map[string]map[string]any `yaml:"languages"`
	}
	_ = yaml.Unmarshal(b, &raw)
	for name, l := range c.Languages {
		if l == nil {
			continue
		}
		keys := raw.Languages[name]
		minWarm, minSet := keys["minWarm"].(int)
		maxWarm, maxSet := keys["maxWarm"].(int)
		if !minSet {
			minWarm = 2
		}
		if !maxSet {
			maxWarm = minWarm
		}
		if size, set := keys["poolSize"].(int); set {
			minWarm, maxWarm = size, size
		}
		l.MinWarm, l.MaxWarm, l.PoolSize = minWarm, maxWarm, minWarm
	}
	if !instanceName.MatchString(c.Instance) {
		return nil, fmt.Errorf("config: instance %q: use letters, digits, '_', '.', '-'", c.Instance)
	}
	if len(c.Languages) == 0 {
		return nil, errors.New("config: no languages")
	}
	if c.Pool.MaxWarm < 0 {
		return nil, errors.New("config: pool.maxWarm must not be negative (0: no bound)")
	}
	if c.Pool.Unpaused < 0 {
		return nil, errors.New("config: pool.unpaused must not be negative")
	}
	if c.Server.HeavyShare < 1 || c.Server.HeavyShare > c.Server.MaxConcurrent {
		return nil, fmt.Errorf("config: server.heavyShare %d must be from 1 to maxConcurrent (%d)", c.Server.HeavyShare, c.Server.MaxConcurrent)
	}
	if c.Interactive.MaxSessions < 0 || c.Interactive.MaxWallMs < 0 || c.Interactive.IdleMs < 0 {
		return nil, errors.New("config: interactive: maxSessions, maxWallMs and idleMs must not be negative")
	}
	if c.Server.RateLimit.PerSecond < 0 || c.Server.RateLimit.Burst < 0 {
		return nil, errors.New("config: server.rateLimit: perSecond and burst must not be negative (perSecond 0 turns the limit off)")
	}
	if err := c.checkJudge0(); err != nil {
		return nil, err
	}
	seen := map[string]string{}
	for _, name := range c.LanguageNames() {
		l := c.Languages[name]
		l.Name = name
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("config: language %s: %w", name, err)
		}
		for _, a := range append([]string{name}, l.Aliases...) {
			if other, dup := seen[a]; dup {
				return nil, fmt.Errorf("config: name %q is used by %s and %s", a, other, name)
			}
			seen[a] = name
		}
	}
	if sum := c.minWarmSum(); c.Pool.MaxWarm > 0 && sum > c.Pool.MaxWarm {
		return nil, fmt.Errorf("config: pool.maxWarm %d is below the languages' minWarm together (%d)", c.Pool.MaxWarm, sum)
	}
	return c, nil
}

func (c *Config) minWarmSum() int {
	n := 0
	for _, l := range c.Languages {
		n += l.MinWarm
	}
	return n
}

// checkJudge0 validates the Judge0 settings: a language id names one language.
func (c *Config) checkJudge0() error {
	if p := c.Judge0.Prefix; p != "off" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/")) {
		return fmt.Errorf("config: judge0.prefix %q: a path such as /judge0 (no trailing '/'), or off", p)
	}
	ids := map[int]string{}
	for _, name := range c.LanguageNames() {
		l := c.Languages[name]
		if l == nil {
			continue
		}
		for _, id := range l.Judge0IDs {
			if other, dup := ids[id]; dup {
				return fmt.Errorf("config: judge0Ids: %d is given to %s and %s", id, other, name)
			}
			if id <= 0 {
				return fmt.Errorf("config: language %s: judge0Ids must be positive", name)
			}
			ids[id] = name
		}
	}
	return nil
}

// Judge0Language finds the language a Judge0 language id names.
func (c *Config) Judge0Language(id int) (*Language, bool) {
	for _, l := range c.Languages {
		if slices.Contains(l.Judge0IDs, id) {
			return l, true
		}
	}
	return nil, false
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Instance == "" {
		c.Instance = "default"
	}
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1"
	}
	def(&c.Server.Port, 3000)
	def64(&c.Server.MaxBodyBytes, 4<<20)
	def64(&c.Server.OutputLimitBytes, 1<<20)
	def(&c.Server.MaxConcurrent, 4)
	def(&c.Server.QueueLength, 64)
	def(&c.Server.QueueWaitMs, 10000)
	def(&c.Server.MaxFiles, 64)
	def64(&c.Server.MaxStdinBytes, 2<<20)
	def(&c.Server.ShutdownTimeoutMs, 10000)
	def(&c.Server.ReadTimeoutMs, 30000)
	def(&c.Server.IdleTimeoutMs, 120000)
	def(&c.Server.HeavyShare, max(c.Server.MaxConcurrent-1, 1))
	def64(&c.Server.MaxTotalLimitMs, 600000)
	def64(&c.Server.MaxAnswerBytes, 16<<20)
	def(&c.Server.RateLimit.Burst, 10)
	if c.Pool.Agent == "" {
		c.Pool.Agent = "bin/codeexec-agent"
	}
	if c.Pool.User == "" {
		c.Pool.User = "10001:10001"
	}
	if c.Pool.Runtime == "" {
		c.Pool.Runtime = DefaultRuntime
	}
	def(&c.Pool.StartParallel, 4)
	def(&c.Pool.ClaimWaitMs, 10000)
	def(&c.Pool.ReadyTimeoutMs, 60000)
	def(&c.Pool.ShrinkAfterMs, 120000)
	def(&c.Pool.DemandIntervalMs, 1000)
	if c.Judge.WallFactor == 0 {
		c.Judge.WallFactor = 1.5
	}
	def64(&c.Judge.WallSlackMs, 200)
	def(&c.Judge.MaxTests, 100)
	def(&c.Judge.MaxBatch, 20)
	def(&c.Interactive.MaxSessions, 10)
	def64(&c.Interactive.MaxWallMs, 60000)
	def64(&c.Interactive.IdleMs, 30000)
	// The execution log's sizes mean nothing at zero or below; retention < 0 keeps everything.
	positive := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	positive(&c.ExecLog.MemoryRecords, 1000)
	positive(&c.ExecLog.BufferSize, DefaultExecLogBufferSize)
	positive(&c.ExecLog.BatchSize, DefaultExecLogBatchSize)
	positive(&c.ExecLog.MaxTextBytes, 64<<10)
	positive(&c.ExecLog.StatsMaxRecords, 10000)
	if c.Judge0.Prefix == "" {
		c.Judge0.Prefix = "/judge0"
	}
	if c.ExecLog.RetentionDays == 0 {
		c.ExecLog.RetentionDays = 30
	}
	if c.Queue.Dir == "" {
		c.Queue.Dir = "data/queue"
	}
	if c.Queue.ResultTTL <= 0 {
		c.Queue.ResultTTL = Duration(24 * time.Hour)
	}
	positive(&c.Queue.MaxPending, 10000)
	positive(&c.Queue.MaxDeliver, 3)
	positive(&c.Queue.AckWaitMs, 30000)
	positive(&c.Queue.SyncWaitMs, 30000)
	for _, l := range c.Languages {
		if l == nil {
			continue
		}
		if l.Runtime == "" {
			l.Runtime = c.Pool.Runtime
		}
		def64(&l.MemoryMB, 256)
		def64(&l.MaxMemoryMB, l.MemoryMB)
		if l.CPUs == 0 {
			l.CPUs = 1
		}
		def64(&l.Pids, 64)
		def64(&l.TmpfsMB, 64)
		def64(&l.NoFile, 256)
		def64(&l.CompileTimeoutMs, 10000)
		def64(&l.RunTimeoutMs, 3000)
		def64(&l.MaxRunTimeoutMs, 15000)
	}
}

func (l *Language) check() error {
	switch {
	case l == nil:
		return errors.New("empty entry")
	case l.Image == "":
		return errors.New("image is required")
	case l.Source == "" || strings.Contains(l.Source, "/"):
		return errors.New("source must be a plain file name such as main.py")
	case len(l.Run) == 0:
		return errors.New("run is required")
	case l.MaxMemoryMB < l.MemoryMB:
		return errors.New("maxMemoryMb is below memoryMb")
	case l.MaxRunTimeoutMs < l.RunTimeoutMs:
		return errors.New("maxRunTimeoutMs is below runTimeoutMs")
	case !runtimeName.MatchString(l.Runtime):
		return fmt.Errorf("runtime %q: use the name the Docker engine knows it by (runc, runsc)", l.Runtime)
	case l.MinWarm < 0 || l.PoolSize < 0:
		return errors.New("minWarm and poolSize must not be negative")
	case l.MaxWarm < l.MinWarm:
		return errors.New("maxWarm is below minWarm")
	}
	return nil
}

// Only keeps the languages named (by name or alias) and drops the rest: LANGUAGES=python,c
// serves only those. An unknown name is an error.
func (c *Config) Only(names []string) error {
	keep := map[string]*Language{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		l, ok := c.Lookup(n)
		if !ok {
			return fmt.Errorf("config: unknown language %q (the configured ones: %s)", n, strings.Join(c.LanguageNames(), ", "))
		}
		keep[l.Name] = l
	}
	if len(keep) == 0 {
		return errors.New("config: no language left to serve")
	}
	c.Languages = keep
	return nil
}

// LanguageNames returns the configured language names, sorted.
func (c *Config) LanguageNames() []string {
	names := make([]string, 0, len(c.Languages))
	for n := range c.Languages {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup finds a language by name or alias.
func (c *Config) Lookup(name string) (*Language, bool) {
	if l, ok := c.Languages[name]; ok {
		return l, true
	}
	for _, l := range c.Languages {
		for _, a := range l.Aliases {
			if a == name {
				return l, true
			}
		}
	}
	return nil, false
}

// Version is the toolchain's version: the image's (images/build.sh records it in the
// codeexec.version label from the toolchain's own --version), else the configured one.
func (l *Language) Version() string {
	if v := l.imageVersion.Load(); v != nil && *v != "" {
		return *v
	}
	return l.ConfiguredVersion
}

// SetVersion records the version the language's image was built with.
func (l *Language) SetVersion(v string) { l.imageVersion.Store(&v) }
