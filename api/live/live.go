// Package live is the live transports: a run's events as they happen and, for an interactive
// run, the user's input while it runs. The native WebSocket (GET /api/v1/ws), Piston's
// (GET /api/v2/connect) and the event stream of the native execute endpoints (Accept:
// text/event-stream) are converters over one core: each turns its wire messages into a
// runner.Request and agentproto.Input frames, and runner.Events and the Result into its wire
// messages; the run itself goes down the server's one execution path.
//
// Every session holds an execution slot and a container while it lasts, so sessions are counted
// (interactive.maxSessions, 429 before the upgrade), an interactive run has a wall-clock limit
// (interactive.maxWallMs) and an idle limit (interactive.idleMs), and nothing is queued for a
// client that does not read: the writes block, and so does the program on its stdout.
package live

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/api/piston"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/runner"
)

// Core is what the live transports need from the server.
type Core interface {
	// Plan validates a request against the config (errors: *runner.InputError).
	Plan(req *runner.Request) (*runner.Plan, error)
	// Run admits and runs a plan on the server's one execution path.
	Run(ctx context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error)
	// Request decodes a native request: the body of POST /api/v2/execute.
	Request(b []byte) (*runner.Request, error)
	// Answer is the native answer of POST /api/v2/execute for a result, as a result message.
	Answer(res *runner.Result) any
	// Problem is the HTTP status and sentence the server answers an error with.
	Problem(r *http.Request, err error) (code int, msg string)
	// Fail answers an error before a session starts, in writeErr's shape.
	Fail(w http.ResponseWriter, r *http.Request, err error, writeErr httpjson.ErrorWriter)
}

// Metrics records sessions; *metrics.Metrics is one. transport is "ws", "piston" or "sse".
type Metrics interface {
	SessionOpened(transport string)
	SessionClosed(transport string, took time.Duration)
	Streamed(transport string, bytes int)
	Rejected(reason string)
}

// Route adds a handler to the server's router (see piston.Route).
type Route = piston.Route

// ErrTooManySessions is returned when interactive.maxSessions sessions are open already.
var ErrTooManySessions = errors.New("too many live sessions; try again later")

// Server serves the live transports.
type Server struct {
	cfg       *config.Config
	core      Core
	piston    *piston.Dialect
	metrics   Metrics
	nativeErr httpjson.ErrorWriter

	// closing is closed when the server shuts down: the WebSocket sessions end (the HTTP
	// server's shutdown does not wait for hijacked connections).
	closing   chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	open int // sessions open
}

// New makes the live transports. nativeErr writes the native API's errors; dialect converts
// Piston's requests.
func New(cfg *config.Config, core Core, dialect *piston.Dialect, m Metrics, nativeErr httpjson.ErrorWriter) *Server {
	return &Server{cfg: cfg, core: core, piston: dialect, metrics: m, nativeErr: nativeErr, closing: make(chan struct{})}
}

// Shutdown ends the WebSocket sessions: their runs stop and their clients get a close 1001.
func (s *Server) Shutdown() { s.closeOnce.Do(func() { close(s.closing) }) }

// Routes adds the WebSocket routes. They are rate limited like the execute endpoints.
func (s *Server) Routes(add Route) {
	add(http.MethodGet, "/api/v1/ws", true, func(w http.ResponseWriter, r *http.Request) {
		s.serveWS(w, r, native{core: s.core, writeErr: s.nativeErr})
	})
	add(http.MethodGet, "/api/v2/connect", true, func(w http.ResponseWriter, r *http.Request) {
		s.serveWS(w, r, pistonProtocol{dialect: s.piston})
	})
}

// admit counts a session in, or refuses it past interactive.maxSessions. The returned function
// counts it out.
func (s *Server) admit(transport string) (func(), error) {
	s.mu.Lock()
	if s.open >= s.cfg.Interactive.MaxSessions {
		s.mu.Unlock()
		s.metrics.Rejected("sessions_full")
		return nil, ErrTooManySessions
	}
	s.open++
	s.mu.Unlock()
	begin := time.Now()
	s.metrics.SessionOpened(transport)
	return func() {
		s.mu.Lock()
		s.open--
		s.mu.Unlock()
		s.metrics.SessionClosed(transport, time.Since(begin))
	}, nil
}

// idle is the idle limit of an interactive session.
func (s *Server) idle() time.Duration {
	return time.Duration(s.cfg.Interactive.IdleMs) * time.Millisecond
}
