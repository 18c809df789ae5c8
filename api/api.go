// Package api is the HTTP interface. Every dialect (the native v1/v2/batch API here, Piston's in
// api/piston) converts its wire shapes to a runner.Request and from a runner.Result, and runs it
// on one execution path (Server.execute); typed errors become HTTP answers in one place
// (errorStatus).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/api/judge0"
	"github.com/codeexec/codeexec/api/live"
	"github.com/codeexec/codeexec/api/piston"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/execlog"
	"github.com/codeexec/codeexec/playground"
	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/queue"
	"github.com/codeexec/codeexec/runner"
)

// Executor runs a plan; *runner.Runner is one.
type Executor interface {
	Execute(ctx context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error)
}

// Pools is what the languages and readiness endpoints need from the warm pools;
// *pool.Manager is one.
type Pools interface {
	Stats() []pool.Stats
	AllReady() error
}

// Pinger tells whether the container engine answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Metrics records requests and live sessions and serves the metrics; *metrics.Metrics is one.
type Metrics interface {
	live.Metrics
	ObserveHTTP(route string, code int, took time.Duration)
	Rejected(reason string)
	Handler() http.Handler
}

// ExecutionLog is what the execution log's read endpoints need; *execlog.Log is one. (The log
// is written by the runner's observer, not here.)
type ExecutionLog interface {
	Get(ctx context.Context, jobID string) (*execlog.Record, error)
	List(ctx context.Context, q execlog.Query) ([]execlog.Record, error)
	Stats(ctx context.Context) (*execlog.Stats, error)
}

// Deps are what the server serves from.
type Deps struct {
	Exec Executor
	// Local is this process's own runner (nil in role api). Runs whose events go to a sink (the
	// live transports) use it rather than Exec: a client's input and its going away do not
	// cross the job queue.
	Local Executor
	// Pools and Engine are nil in a process without an engine (role api).
	Pools   Pools
	Engine  Pinger
	Metrics Metrics
	// Subs serves the asynchronous submissions, ours and Judge0's tokens; nil answers them 404
	// and leaves the Judge0 API out.
	Subs Submissions
	// RateLimit, when set, is the per-client limit shared with other api processes.
	RateLimit SharedLimiter
	// ExecLog serves the execution log endpoints; nil answers them 404.
	ExecLog ExecutionLog
	Log     *slog.Logger
}

// Server holds what the handlers need.
type Server struct {
	cfg     *config.Config
	exec    Executor
	local   Executor
	pools   Pools
	engine  Pinger
	metrics Metrics
	execLog ExecutionLog
	subs    Submissions
	log     *slog.Logger
	// limiter is the per-client rate limit of the execute endpoints; nil when off.
	limiter *clientLimiter
	shared  SharedLimiter
	piston  *piston.Dialect
	judge0  *judge0.Dialect // nil when off
	live    *live.Server
}

// New makes the API server.
func New(cfg *config.Config, d Deps) *Server {
	s := &Server{cfg: cfg, exec: d.Exec, local: d.Local, pools: d.Pools, engine: d.Engine, metrics: d.Metrics, execLog: d.ExecLog, subs: d.Subs, shared: d.RateLimit, log: d.Log}
	if rl := cfg.Server.RateLimit; rl.PerSecond > 0 {
		s.limiter = newClientLimiter(rl.PerSecond, max(rl.Burst, 1))
	}
	s.piston = piston.New(cfg, core{s})
	if d.Subs != nil && cfg.Judge0.Prefix != "off" {
		s.judge0 = judge0.New(cfg, core{s}, d.Subs, d.Log)
	}
	s.live = live.New(cfg, core{s}, s.piston, d.Metrics, writeError)
	return s
}

// CloseSessions ends the live WebSocket sessions, which the HTTP server's shutdown does not wait
// for: their runs stop, so their containers go with the pools.
func (s *Server) CloseSessions() { s.live.Shutdown() }

// execute is the one execution path of every dialect: plan the request against the config,
// charge its runs to the client's rate limit, then run it.
func (s *Server) execute(ctx context.Context, req *runner.Request, sink runner.Sink) (*runner.Result, error) {
	p, err := runner.NewPlan(s.cfg, req)
	if err != nil {
		return nil, err
	}
	if err := s.chargeRuns(ctx, len(p.Job.Runs)); err != nil {
		return nil, err
	}
	return s.executorFor(p, sink).Execute(ctx, p, sink)
}

// ErrNoEngine is the answer to a live session in a process without an engine of its own.
var ErrNoEngine = errors.New("interactive sessions need a server with its own container engine (role all); this one only forwards jobs to workers")

// executorFor picks the runner of a plan: this process's own for a run that streams to a sink
// (when it has one), else the configured path (the job queue).
func (s *Server) executorFor(p *runner.Plan, sink runner.Sink) Executor {
	switch {
	case sink != nil && s.local != nil:
		return s.local
	case p.Job.Interactive:
		return noEngine{}
	}
	return s.exec
}

type noEngine struct{}

func (noEngine) Execute(context.Context, *runner.Plan, runner.Sink) (*runner.Result, error) {
	return nil, ErrNoEngine
}

// core is the server's execution path, converters and error mapping as the other dialects' and
// transports' packages see them.
type core struct{ s *Server }

func (c core) Execute(ctx context.Context, req *runner.Request, sink runner.Sink) (*runner.Result, error) {
	return c.s.execute(ctx, req, sink)
}

func (c core) Plan(req *runner.Request) (*runner.Plan, error) { return runner.NewPlan(c.s.cfg, req) }

func (c core) Run(ctx context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error) {
	return c.s.executorFor(p, sink).Execute(ctx, p, sink)
}

func (c core) Request(b []byte) (*runner.Request, error) { return requestFromV2(b) }

func (c core) Answer(res *runner.Result) any {
	return answerJSON{Type: "result", Succeeded: true, Result: toResult(res)}
}

func (c core) Problem(r *http.Request, err error) (int, string) {
	code, msg, _ := c.s.problem(r, err)
	return code, msg
}

func (c core) Fail(w http.ResponseWriter, r *http.Request, err error, writeErr httpjson.ErrorWriter) {
	c.s.failWith(w, r, err, writeErr)
}

// Handler returns the router. A dialect adds its own routes through the same route function, so
// each is observed, and rate limited when it executes.
func (s *Server) Handler() http.Handler {
	r := httprouter.New()
	route := func(method, path string, limited bool, h http.HandlerFunc) {
		if limited {
			h = s.rateLimited(h)
		}
		r.Handler(method, path, s.observe(path, h))
	}
	route(http.MethodPost, "/api/v1/execute", true, s.executeV1)
	// Shared by the native v2 API and Piston's: executeV2 tells them apart by the body.
	route(http.MethodPost, "/api/v2/execute", true, s.executeV2)
	route(http.MethodPost, "/api/v1/batch", true, s.batch)
	if s.subs != nil {
		route(http.MethodPost, "/api/v1/submissions", true, s.submit)
		route(http.MethodGet, "/api/v1/submissions/:token", false, s.getSubmission)
	}
	s.piston.Routes(route)
	if s.judge0 != nil {
		s.judge0.Routes(route)
	}
	s.live.Routes(route)
	route(http.MethodGet, "/api/v1/languages", false, s.languages)
	route(http.MethodGet, "/api/v1/executions", false, s.listExecutions)
	route(http.MethodGet, "/api/v1/executions/:jobId", false, s.getExecution)
	route(http.MethodGet, "/api/v1/stats", false, s.stats)
	s.probes(route, r)
	return r
}

// ProbesHandler serves only /health, /ready and /metrics: what a worker process answers.
func (s *Server) ProbesHandler() http.Handler {
	r := httprouter.New()
	s.probes(func(method, path string, _ bool, h http.HandlerFunc) { r.Handler(method, path, s.observe(path, h)) }, r)
	return r
}

func (s *Server) probes(route func(method, path string, limited bool, h http.HandlerFunc), r *httprouter.Router) {
	route(http.MethodGet, "/health", false, s.health)
	route(http.MethodGet, "/ready", false, s.ready)
	if s.cfg.Server.Playground {
		route(http.MethodGet, "/", false, playground.Page)
		route(http.MethodGet, "/playground/:file", false, func(w http.ResponseWriter, r *http.Request) {
			playground.Asset(w, r, httprouter.ParamsFromContext(r.Context()).ByName("file"))
		})
	}
	r.Handler(http.MethodGet, "/metrics", s.metrics.Handler())
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", req.Method, req.URL.Path))
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", req.Method, req.URL.Path))
	})
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		s.log.Error("panic in handler", "path", req.URL.Path, "panic", v)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController and the WebSocket upgrade reach the connection's writer
// (to flush an event stream, to hijack the connection).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) observe(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h(rec, r)
		s.metrics.ObserveHTTP(route, rec.code, time.Since(begin))
	})
}

// errorBody is every error answer of the native API.
type errorBody struct {
	Succeeded    bool   `json:"succeeded"`
	ErrorMessage string `json:"errorMessage"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	httpjson.Write(w, code, errorBody{Succeeded: false, ErrorMessage: msg})
}

// decode reads a JSON body into v: any content type, a size limit (413), no unknown fields,
// exactly one value.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := httpjson.ReadBody(w, r, s.cfg.Server.MaxBodyBytes, writeError)
	return ok && decodeBytes(w, b, v)
}

func decodeBytes(w http.ResponseWriter, b []byte, v any) bool {
	if err := httpjson.DecodeStrict(b, v); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// fail answers an error in the native shape.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.failWith(w, r, err, writeError)
}

// failWith answers an error with writeErr (the native shape, or a dialect's).
func (s *Server) failWith(w http.ResponseWriter, r *http.Request, err error, writeErr httpjson.ErrorWriter) {
	code, msg, retryAfter := s.problem(r, err)
	if code == http.StatusInternalServerError && r.Context().Err() != nil {
		// The client went away; nobody reads an answer.
		s.log.Info("client gone before the answer", "path", r.URL.Path)
		return
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeErr(w, code, msg)
}

// problem is errorStatus, logging what the answer leaves out: the cause of a server-side
// failure, which may hold internals (an agent's stderr, the engine's or database's errors).
func (s *Server) problem(r *http.Request, err error) (code int, msg, retryAfter string) {
	code, msg, retryAfter = errorStatus(err)
	switch {
	case code < http.StatusInternalServerError || r.Context().Err() != nil:
	case code == http.StatusInternalServerError:
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
	default:
		s.log.Warn("request failed", "path", r.URL.Path, "status", code, "err", err)
	}
	return code, msg, retryAfter
}

// errorStatus maps typed errors to HTTP: this is the one place that does (dialects and the
// batch endpoint's entries all come here). Server-side failures answer a fixed sentence; their
// cause is only for the log.
func errorStatus(err error) (code int, msg, retryAfter string) {
	var input *runner.InputError
	var limited *RateLimited
	switch {
	case errors.As(err, &input):
		return http.StatusBadRequest, input.Msg, ""
	case errors.As(err, &limited):
		return http.StatusTooManyRequests, limited.Error(), strconv.Itoa(retrySeconds(limited.RetryAfter))
	case errors.Is(err, ErrNoEngine):
		return http.StatusServiceUnavailable, ErrNoEngine.Error(), ""
	case errors.Is(err, live.ErrTooManySessions):
		return http.StatusTooManyRequests, live.ErrTooManySessions.Error(), "1"
	case errors.Is(err, runner.ErrOverloaded):
		return http.StatusTooManyRequests, runner.ErrOverloaded.Error(), "1"
	case errors.Is(err, runner.ErrUnavailable):
		return http.StatusServiceUnavailable, runner.ErrUnavailable.Error(), "5"
	case errors.Is(err, execlog.ErrNotFound):
		return http.StatusNotFound, err.Error(), ""
	case errors.Is(err, execlog.ErrUnavailable):
		return http.StatusServiceUnavailable, execlog.ErrUnavailable.Error(), "5"
	case errors.Is(err, queue.ErrFull):
		return http.StatusTooManyRequests, queue.ErrFull.Error(), "1"
	case errors.Is(err, queue.ErrUnavailable):
		return http.StatusServiceUnavailable, queue.ErrUnavailable.Error(), "2"
	case errors.Is(err, queue.ErrNotFound):
		return http.StatusNotFound, queue.ErrNotFound.Error(), ""
	}
	return http.StatusInternalServerError, "internal error", ""
}

type languageJSON struct {
	Name             string   `json:"name"`
	Version          string   `json:"version"`
	Aliases          []string `json:"aliases"`
	Compiled         bool     `json:"compiled"`
	Source           string   `json:"source"`
	TimeLimitMs      int64    `json:"timeLimitMs"`
	MaxTimeLimitMs   int64    `json:"maxTimeLimitMs"`
	MemoryLimitMb    int64    `json:"memoryLimitMb"`
	MaxMemoryLimitMb int64    `json:"maxMemoryLimitMb"`
	Runtime          string   `json:"runtime"` // the OCI runtime its sandboxes run with (runc, runsc)
	PoolReady        int      `json:"poolReady"`
	PoolTarget       int      `json:"poolTarget"`
}

func (s *Server) languages(w http.ResponseWriter, r *http.Request) {
	pools := map[string]pool.Stats{}
	if s.pools != nil {
		for _, st := range s.pools.Stats() {
			pools[st.Lang] = st
		}
	}
	out := []languageJSON{}
	for _, name := range s.cfg.LanguageNames() {
		l := s.cfg.Languages[name]
		lj := languageJSON{
			Name: name, Version: l.Version(), Aliases: l.Aliases, Compiled: l.Compiled(), Source: l.Source,
			TimeLimitMs: l.RunTimeoutMs, MaxTimeLimitMs: l.MaxRunTimeoutMs,
			MemoryLimitMb: l.MemoryMB, MaxMemoryLimitMb: l.MaxMemoryMB, Runtime: l.Runtime,
			PoolReady: pools[name].Ready, PoolTarget: pools[name].Target,
		}
		if lj.Aliases == nil {
			lj.Aliases = []string{}
		}
		out = append(out, lj)
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready is 200 only when the engine answers, every pool has a warm container and the job
// queue answers (each where this process has one).
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	if s.engine != nil {
		if err := s.engine.Ping(ctx); err != nil {
			problems = append(problems, "docker engine: "+err.Error())
		}
	}
	if s.pools != nil {
		if err := s.pools.AllReady(); err != nil {
			problems = append(problems, strings.Split(err.Error(), "\n")...)
		}
	}
	if s.subs != nil {
		if err := s.subs.Ready(ctx); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		w.Header().Set("Retry-After", "5")
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "problems": problems})
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"ready": true})
}
