package api

import (
	"net/http"

	"github.com/codeexec/codeexec/api/httpjson"
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
	var req requestV2
	if !decodeBytes(w, b, &req) {
		return
	}
	if len(req.Files) == 0 {
		writeError(w, http.StatusBadRequest, "files is required: at least one {filename, code}")
		return
	}
	s.answer(w, r, req.toRunner(filesToRunner(req.Files)))
}

// answer executes a native request and answers its result.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req *runner.Request) {
	res, err := s.execute(r.Context(), req, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, struct {
		Succeeded bool        `json:"succeeded"`
		Result    *resultJSON `json:"result"`
	}{true, toResult(res)})
}
