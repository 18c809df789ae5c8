package live

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/runner"
)

// protocol is one WebSocket dialect: how its messages map to the session's.
type protocol interface {
	transport() string
	writeError() httpjson.ErrorWriter
	// initTimeout is how long the client has for its first message; idle is the session's idle
	// limit.
	initTimeout(idle time.Duration) time.Duration
	// request decodes the first message.
	request(b []byte) (*runner.Request, *closing)
	// input decodes a later message into a frame for the run; ok false means there is none to
	// send (a message the protocol ignores).
	input(b []byte, st *inputState) (in agentproto.Input, ok bool, c *closing)
	converter
	completed() *closing
	// failed is the close for an error the server answers with HTTP status code.
	failed(code int, msg string) *closing
	initTimedOut() *closing
	idle(d time.Duration) *closing
}

// inputState is what a protocol needs to judge a later message.
type inputState struct {
	interactive bool // the run reads input
	eof         bool // the client ended stdin
}

// closing is how a session ends: an error message first when message is set, then a close
// frame with code and reason.
type closing struct {
	code    websocket.StatusCode
	reason  string
	message any
}

// stuckWriteWait is how long a stopped run may wait for a write to the client before the
// connection is dropped under it.
const stuckWriteWait = time.Second

// finalWriteWait bounds the last messages and the close handshake with a client that may not
// be reading.
const finalWriteWait = 5 * time.Second

// serveWS runs one WebSocket session: admission, the upgrade, the first message (the request),
// then the run with its events out and the client's input in.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, proto protocol) {
	done, err := s.admit(proto.transport())
	if err != nil {
		s.core.Fail(w, r, err, proto.writeError())
		return
	}
	defer done()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.Interactive.AllowedOrigins})
	if err != nil {
		return // Accept has answered (403 for an origin that is not allowed, 400 for a bad upgrade)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(s.cfg.Server.MaxBodyBytes)
	ss := &session{srv: s, r: r, conn: conn, proto: proto, msgs: make(chan message), over: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background()) // the request's context ends with the upgrade's handler
	defer cancel()
	defer close(ss.over)
	go ss.read(ctx)
	if c := ss.serve(ctx); c != nil {
		ss.close(ctx, c)
	}
}

// message is one message the client sent; err ends the stream.
type message struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

type session struct {
	srv   *Server
	r     *http.Request
	conn  *websocket.Conn
	proto protocol
	msgs  chan message
	over  chan struct{} // closed when the session ends: the reader stops handing over messages

	// active is when output last went out or input came in (UnixNano), for the idle limit.
	active atomic.Int64
	// running is set while the run step runs: the idle limit counts only then.
	running atomic.Bool
	texts   texts // used by the run's goroutine only
	input   chan agentproto.Input
	ctx     context.Context // the session's: the sink writes under it
}

// read hands the client's messages to the session until the connection ends.
func (ss *session) read(ctx context.Context) {
	for {
		typ, b, err := ss.conn.Read(ctx)
		select {
		case ss.msgs <- message{typ, b, err}:
		case <-ss.over:
			return
		}
		if err != nil {
			return
		}
	}
}

// serve runs the session and returns how it ends (nil: the connection is gone already).
func (ss *session) serve(ctx context.Context) *closing {
	initTimer := time.NewTimer(ss.proto.initTimeout(ss.srv.idle()))
	defer initTimer.Stop()
	var first message
	select {
	case first = <-ss.msgs:
	case <-initTimer.C:
		return ss.proto.initTimedOut()
	case <-ss.srv.closing:
		return goingAway
	}
	if first.err != nil {
		return nil
	}
	if first.typ != websocket.MessageText {
		return ss.proto.failed(http.StatusBadRequest, "messages must be text (JSON), not binary")
	}
	req, c := ss.proto.request(first.data)
	if c != nil {
		return c
	}
	p, err := ss.srv.core.Plan(req)
	if err != nil {
		return ss.failed(err)
	}
	if !ss.send(ctx, ss.proto.runtime(p)) {
		return nil
	}
	return ss.run(ctx, p)
}

type outcome struct {
	res *runner.Result
	err error
}

// run runs the plan while it hands the client's input to it, and stops it on a bad message, a
// gone client or the idle limit.
func (ss *session) run(ctx context.Context, p *runner.Plan) *closing {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ss.ctx = ctx
	ss.input = make(chan agentproto.Input)
	ss.touch()
	finished := make(chan outcome, 1)
	go func() {
		res, err := ss.srv.core.Run(runCtx, p, (*console)(ss))
		finished <- outcome{res, err}
	}()
	// A stopped run returns once its sandbox is closed, at once, unless the sink is writing to
	// a client that does not read: then the connection goes, which it cannot read from anyway.
	abort := func(c *closing) *closing {
		stop()
		t := time.NewTimer(stuckWriteWait)
		defer t.Stop()
		select {
		case <-finished:
			return c
		case <-t.C:
			ss.conn.CloseNow()
			<-finished
			return nil
		}
	}
	idle := ss.srv.idle()
	idleTimer := time.NewTimer(idle)
	defer idleTimer.Stop()
	// idleOver tells, when the idle timer fires, whether the limit has passed, and if not sets
	// the timer again. The run's own limits bound a compile step and a run without input.
	idleOver := func() bool {
		left := idle - time.Since(time.Unix(0, ss.active.Load()))
		if !p.Job.Interactive || !ss.running.Load() {
			left = idle
		}
		if left > 0 {
			idleTimer.Reset(left)
			return false
		}
		return true
	}
	st := &inputState{interactive: p.Job.Interactive}
	for {
		select {
		case o := <-finished:
			return ss.finish(ctx, o)
		case <-idleTimer.C:
			if idleOver() {
				return abort(ss.proto.idle(idle))
			}
		case <-ss.srv.closing:
			return abort(goingAway)
		case m := <-ss.msgs:
			if m.err != nil {
				return abort(nil) // the client is gone: its container goes at once
			}
			if m.typ != websocket.MessageText {
				return abort(ss.proto.failed(http.StatusBadRequest, "messages must be text (JSON), not binary"))
			}
			in, ok, c := ss.proto.input(m.data, st)
			if c != nil {
				return abort(c)
			}
			if !ok {
				continue
			}
			ss.touch()
			// Input waits while the program does not read it; no more is read from the client
			// meanwhile, so a flood of input is held back by the connection, not buffered here.
			for sent := false; !sent; {
				select {
				case ss.input <- in:
					sent = true
				case o := <-finished:
					return ss.finish(ctx, o)
				case <-idleTimer.C:
					if idleOver() {
						return abort(ss.proto.idle(idle))
					}
				}
			}
		}
	}
}

// finish sends what ends a run: its result, or the error it failed with.
func (ss *session) finish(ctx context.Context, o outcome) *closing {
	if o.err != nil {
		if ctx.Err() != nil || errors.Is(o.err, errGone) {
			return nil
		}
		return ss.failed(o.err)
	}
	if msg := ss.proto.result(o.res); msg != nil && !ss.send(ctx, msg) {
		return nil
	}
	return ss.proto.completed()
}

func (ss *session) failed(err error) *closing {
	code, msg := ss.srv.core.Problem(ss.r, err)
	return ss.proto.failed(code, msg)
}

func (ss *session) touch() { ss.active.Store(time.Now().UnixNano()) }

// send writes one message, waiting at most finalWriteWait for a client that does not read.
func (ss *session) send(ctx context.Context, msg any) bool {
	ctx, cancel := context.WithTimeout(ctx, finalWriteWait)
	defer cancel()
	return ss.write(ctx, msg) == nil
}

func (ss *session) write(ctx context.Context, msg any) error {
	b, err := marshal(msg)
	if err != nil {
		return err
	}
	return ss.conn.Write(ctx, websocket.MessageText, b)
}

// close ends the session as c says.
func (ss *session) close(ctx context.Context, c *closing) {
	if c.message != nil && !ss.send(ctx, c.message) {
		return
	}
	_ = ss.conn.Close(c.code, closeReason(c.reason))
}

// closeReason fits a reason in a close frame (123 bytes), on a character boundary.
func closeReason(s string) string {
	const max = 123
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// goingAway ends the sessions of a server that shuts down.
var goingAway = &closing{code: websocket.StatusGoingAway, reason: "the server is shutting down"}

// errGone is the sink's error when the client cannot be written to: the run stops.
var errGone = errors.New("live: the client is gone")

// console is the session as the run's sink: it writes each event as it happens (blocking while
// the client does not read, which blocks the program on its output) and gives the run its input.
type console session

func (c *console) Input() <-chan agentproto.Input { return c.input }

func (c *console) Event(ev runner.Event) error {
	ss := (*session)(c)
	msgs, n := ss.texts.messages(ss.proto, ev)
	for _, m := range msgs {
		// No deadline: a client that does not read holds the program up (see abort), as a
		// terminal does. The context is not the run's: its end would drop the connection.
		if err := ss.write(ss.ctx, m); err != nil {
			return fmt.Errorf("%w: %w", errGone, err)
		}
	}
	ss.srv.metrics.Streamed(ss.proto.transport(), n)
	ss.touch()
	ss.running.Store(ev.Stage == runner.StageRun && ev.Type != runner.StageFinished)
	return nil
}
