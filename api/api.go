// Package api is the HTTP interface: it decodes requests, hands them to the runner, and maps
// results and typed errors to HTTP answers in one place.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/metrics"
	"github.com/codeexec/codeexec/metrics/execlog"
	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/runner"
)

// Executor runs one request; *runner.Runner is one.
type Executor interface {
	Execute(ctx context.Context, req *runner.Request) (*runner.Result, error)
}

// Pinger tells whether the container engine answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server holds what the handlers need.
type Server struct {
	cfg     *config.Config
	exec    Executor
	pools   *pool.Manager
	engine  Pinger
	metrics *metrics.Metrics
	log     *slog.Logger
	// OnExecuted, when set, is called after every execution with its request and result
	// (the execution log hooks in here).
	OnExecuted func(req *runner.Request, res *runner.Result, saveMetric bool)
	// limiter is the per-client rate limit of the execute endpoints; nil when off.
	limiter *clientLimiter
	// execLog serves the execution log endpoints; set by SetExecutionLog (executions.go).
	execLog ExecutionLog
}

// New makes the API server.
func New(cfg *config.Config, exec Executor, pools *pool.Manager, engine Pinger, m *metrics.Metrics, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, exec: exec, pools: pools, engine: engine, metrics: m, log: log}
	if rl := cfg.Server.RateLimit; rl.PerSecond > 0 {
		s.limiter = newClientLimiter(rl.PerSecond, max(rl.Burst, 1))
	}
	return s
}

// Handler returns the router.
func (s *Server) Handler() http.Handler {
	r := httprouter.New()
	route := func(method, path string, h http.HandlerFunc) {
		r.Handler(method, path, s.observe(path, h))
	}
	route(http.MethodPost, "/api/v1/execute", s.rateLimited(s.executeV1))
	route(http.MethodPost, "/api/v2/execute", s.rateLimited(s.executeV2))
	route(http.MethodPost, "/api/v1/batch", s.rateLimited(s.batch))
	route(http.MethodGet, "/api/v2/runtimes", s.pistonRuntimes)
	route(http.MethodGet, "/api/v1/languages", s.languages)
	route(http.MethodGet, "/api/v1/executions", s.listExecutions)
	route(http.MethodGet, "/api/v1/executions/:jobId", s.getExecution)
	route(http.MethodGet, "/api/v1/stats", s.stats)
	route(http.MethodGet, "/health", s.health)
	route(http.MethodGet, "/ready", s.ready)
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
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) observe(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h(rec, r)
		s.metrics.ObserveHTTP(route, rec.code, time.Since(begin))
	})
}

// errorBody is every error answer.
type errorBody struct {
	Succeeded    bool   `json:"succeeded"`
	ErrorMessage string `json:"errorMessage"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Succeeded: false, ErrorMessage: msg})
}

// decode reads a JSON body into v: any content type (clients send text/plain too), a size
// limit (413), no unknown fields, exactly one value.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := s.readBody(w, r, writeError)
	return ok && decodeBytes(w, b, v)
}

// readBody reads the whole body up to the size limit; on failure it answers with writeErr
// (each API family has its own error shape).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, writeErr func(http.ResponseWriter, int, string)) ([]byte, bool) {
	body := http.MaxBytesReader(w, r.Body, s.cfg.Server.MaxBodyBytes)
	b, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", s.cfg.Server.MaxBodyBytes))
			return nil, false
		}
		writeErr(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return nil, false
	}
	return b, true
}

func decodeBytes(w http.ResponseWriter, b []byte, v any) bool {
	if err := decodeStrict(b, v); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// decodeStrict decodes exactly one JSON value with no unknown fields; the error is a sentence
// for the user.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("malformed JSON: " + jsonProblem(err))
	}
	if dec.More() {
		return errors.New("malformed JSON: more than one value in the body")
	}
	return nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.As(err, &syn):
		return fmt.Sprintf("%v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		// Embedded structs show up as a prefix of the field path; users never see those names.
		field := strings.TrimPrefix(typ.Field, "options.")
		return fmt.Sprintf("field %q must be %s, not %s", field, typ.Type, typ.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func (s *Server) executeV1(w http.ResponseWriter, r *http.Request) {
	var req requestV1
	if !s.decode(w, r, &req) {
		return
	}
	if req.Code == nil {
		writeError(w, http.StatusBadRequest, "code is required")
		return
	}
	var files []runner.File
	if lang, ok := s.cfg.Lookup(req.Language); ok {
		files = []runner.File{{Name: lang.Source, Content: []byte(*req.Code), Entry: true}}
	}
	s.run(w, r, &req.options, files)
}

func (s *Server) executeV2(w http.ResponseWriter, r *http.Request) {
	b, ok := s.readBody(w, r, writeError)
	if !ok {
		return
	}
	// Piston clients post to the same path; their shape is recognised and answered in kind.
	if isPiston(b) {
		s.executePiston(w, r, b)
		return
	}
	var req requestV2
	if !decodeBytes(w, b, &req) {
		return
	}
	if len(req.Files) == 0 {
		writeError(w, http.StatusBadRequest, "files is required: at least one {filename, code}")
		return
	}
	files := make([]runner.File, len(req.Files))
	for i, f := range req.Files {
		files[i] = runner.File{Name: f.Filename, Content: []byte(f.Code), Entry: f.IsEntryPoint}
	}
	s.run(w, r, &req.options, files)
}

func (s *Server) run(w http.ResponseWriter, r *http.Request, o *options, files []runner.File) {
	req := o.toRunner(files)
	res, err := s.exec.Execute(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.OnExecuted != nil {
		s.OnExecuted(req, res, o.SaveMetric)
	}
	writeJSON(w, http.StatusOK, struct {
		Succeeded bool        `json:"succeeded"`
		Result    *resultJSON `json:"result"`
	}{true, toResult(res)})
}

// fail answers a runner error in our error shape.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.failWith(w, r, err, writeError)
}

// failWith answers a runner error with writeErr (our shape, or Piston's).
func (s *Server) failWith(w http.ResponseWriter, r *http.Request, err error, writeErr func(http.ResponseWriter, int, string)) {
	code, msg, retryAfter := errorStatus(err)
	if code == http.StatusInternalServerError {
		if r.Context().Err() != nil {
			// The client went away; nobody reads an answer.
			s.log.Info("client gone before the answer", "path", r.URL.Path)
			return
		}
		s.log.Error("execution failed", "err", err)
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeErr(w, code, msg)
}

// errorStatus maps the runner's typed errors to HTTP: this is the one place that does (the
// batch endpoint uses it for each submission's own entry).
func errorStatus(err error) (code int, msg, retryAfter string) {
	var input *runner.InputError
	var limited *RateLimited
	switch {
	case errors.As(err, &input):
		return http.StatusBadRequest, input.Msg, ""
	case errors.As(err, &limited):
		return http.StatusTooManyRequests, limited.Error(), strconv.Itoa(retrySeconds(limited.RetryAfter))
	case errors.Is(err, runner.ErrOverloaded):
		return http.StatusTooManyRequests, err.Error(), "1"
	case errors.Is(err, runner.ErrUnavailable):
		return http.StatusServiceUnavailable, err.Error(), "5"
	case errors.Is(err, execlog.ErrNotFound):
		return http.StatusNotFound, err.Error(), ""
	case errors.Is(err, execlog.ErrUnavailable):
		return http.StatusServiceUnavailable, err.Error(), "5"
	}
	return http.StatusInternalServerError, "internal error: " + err.Error(), ""
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
	PoolReady        int      `json:"poolReady"`
	PoolTarget       int      `json:"poolTarget"`
}

func (s *Server) languages(w http.ResponseWriter, r *http.Request) {
	out := []languageJSON{}
	for _, name := range s.cfg.LanguageNames() {
		l := s.cfg.Languages[name]
		lj := languageJSON{
			Name: name, Version: l.Version, Aliases: l.Aliases, Compiled: l.Compiled(), Source: l.Source,
			TimeLimitMs: l.RunTimeoutMs, MaxTimeLimitMs: l.MaxRunTimeoutMs,
			MemoryLimitMb: l.MemoryMB, MaxMemoryLimitMb: l.MaxMemoryMB,
		}
		if lj.Aliases == nil {
			lj.Aliases = []string{}
		}
		if p, ok := s.pools.Pool(name); ok {
			lj.PoolReady, lj.PoolTarget = p.Ready(), p.Target()
		}
		out = append(out, lj)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready is 200 only when the engine answers and every pool has a warm container.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	if err := s.engine.Ping(ctx); err != nil {
		problems = append(problems, "docker engine: "+err.Error())
	}
	if err := s.pools.AllReady(); err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	if len(problems) > 0 {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "problems": problems})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}
