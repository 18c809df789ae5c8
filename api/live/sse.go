package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/codeexec/codeexec/runner"
)

// WantsEvents tells whether the client of an execute request asked for an event stream
// (Accept: text/event-stream) instead of one answer at the end.
func WantsEvents(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			if t, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && t == "text/event-stream" {
				return true
			}
		}
	}
	return false
}

// Stream answers a native execute request as an event stream: the native WebSocket's messages,
// each as an event named by its type (runtime, stage, stdout, stderr, exit, then result or
// error). Problems found before the run starts get the usual HTTP error answer. An event stream
// carries output only: an interactive request is refused.
func (s *Server) Stream(w http.ResponseWriter, r *http.Request, req *runner.Request) {
	if req.Interactive {
		s.core.Fail(w, r, &runner.InputError{Msg: `"interactive": true needs the WebSocket GET /api/v1/ws: an event stream carries output only`}, s.nativeErr)
		return
	}
	p, err := s.core.Plan(req)
	if err != nil {
		s.core.Fail(w, r, err, s.nativeErr)
		return
	}
	done, err := s.admit("sse")
	if err != nil {
		s.core.Fail(w, r, err, s.nativeErr)
		return
	}
	defer done()
	rc := http.NewResponseController(w)
	// The server's read timeout would end the request's context while the run streams; the
	// body has been read, and the run's own limits bound the stream.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx must not hold events back
	w.WriteHeader(http.StatusOK)
	es := &eventStream{w: w, rc: rc, srv: s, conv: native{core: s.core}}
	if es.send(es.conv.runtime(p)) != nil {
		return
	}
	res, err := s.core.Run(r.Context(), p, es)
	switch {
	case errors.Is(err, errGone) || r.Context().Err() != nil:
	case err != nil:
		_, msg := s.core.Problem(r, err)
		_ = es.send(errorMessage{"error", msg})
	default:
		_ = es.send(es.conv.result(res))
	}
}

// eventStream is the run's sink on an event stream.
type eventStream struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	srv   *Server
	conv  converter
	texts texts
}

func (es *eventStream) Event(ev runner.Event) error {
	msgs, n := es.texts.messages(es.conv, ev)
	for _, m := range msgs {
		if err := es.send(m); err != nil {
			return fmt.Errorf("%w: %w", errGone, err)
		}
	}
	es.srv.metrics.Streamed("sse", n)
	return nil
}

// send writes one event, named by the message's type, and flushes it: output is not batched.
func (es *eventStream) send(msg any) error {
	b, err := marshal(msg)
	if err != nil {
		return err
	}
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &head)
	if _, err := fmt.Fprintf(es.w, "event: %s\ndata: %s\n\n", head.Type, b); err != nil {
		return err
	}
	return es.rc.Flush()
}
