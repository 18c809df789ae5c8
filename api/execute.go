package api

import (
	"net/http"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/api/live"
	"github.com/codeexec/codeexec/api/piston"
	"github.com/codeexec/codeexec/runner"
)

func (s *Server) executeV1(w http.ResponseWriter, r *http.Request) {
	var req requestV1
	if !s.decode(w, r, &req) {
		return
	}
	if req.Code == nil {
		writeError(w, http.StatusBadRequest, "code is required")
		return
	}
	s.answer(w, r, req.withCode(*req.Code))
}

// requestFromV2 decodes a native v2 body (errors: *runner.InputError).
func requestFromV2(b []byte) (*runner.Request, error) {
	var req requestV2
	if err := httpjson.DecodeStrict(b, &req); err != nil {
		return nil, &runner.InputError{Msg: err.Error()}
	}
	if len(req.Files) == 0 {
		return nil, &runner.InputError{Msg: "files is required: at least one {filename, code}"}
	}
	return req.toRunner(filesToRunner(req.Files)), nil
}

func (s *Server) executeV2(w http.ResponseWriter, r *http.Request) {
	b, ok := httpjson.ReadBody(w, r, s.cfg.Server.MaxBodyBytes, writeError)
	if !ok {
		return
	}
	// Piston clients post to the same path; their shape is recognised and answered in kind.
	if piston.IsRequest(b) {
		s.piston.Execute(w, r, b)
		return
	}
	req, err := requestFromV2(b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answer(w, r, req)
}

// answerJSON is the answer of the native execute endpoints; a live session's last message is
// the same, with type "result".
type answerJSON struct {
	Type      string      `json:"type,omitempty"`
	Succeeded bool        `json:"succeeded"`
	Result    *resultJSON `json:"result"`
}

// answer executes a native request and answers its result, or streams its events to a client
// that asked for an event stream.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req *runner.Request) {
	if live.WantsEvents(r) {
		s.live.Stream(w, r, req)
		return
	}
	if req.Interactive {
		writeError(w, http.StatusBadRequest, `"interactive": true needs the WebSocket GET /api/v1/ws`)
		return
	}
	res, err := s.execute(r.Context(), req, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, answerJSON{Succeeded: true, Result: toResult(res)})
}
