package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"golang.org/x/sync/errgroup"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/runner"
)

// submission is one entry of a batch: the fields of /api/v1/execute (code) or of
// /api/v2/execute (files).
type submission struct {
	options
	Code  *string  `json:"code"`
	Files []fileV2 `json:"files"`
}

// batchEntry is one submission's answer: its result, or the error it would have got on its own
// (status is that HTTP status).
type batchEntry struct {
	Succeeded    bool        `json:"succeeded"`
	Result       *resultJSON `json:"result,omitempty"`
	Status       int         `json:"status,omitempty"`
	ErrorMessage string      `json:"errorMessage,omitempty"`
}

// batch runs up to judge.maxBatch submissions concurrently and answers them in request order.
// A bad submission gets its own error entry; only a bad envelope fails the whole batch.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Submissions []json.RawMessage `json:"submissions"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	n, max := len(req.Submissions), s.cfg.Judge.MaxBatch
	switch {
	case n == 0:
		writeError(w, http.StatusBadRequest, `submissions is required: a list of execute requests, e.g. {"submissions": [{"language": "python", "code": "print(1)"}]}`)
		return
	case n > max:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%d submissions; the limit is %d (judge.maxBatch): split the batch", n, max))
		return
	}
	out := make([]batchEntry, n)
	var g errgroup.Group
	// No more at once than there are execution slots: the rest would only wait in the shared
	// queue, taking places other clients' requests need.
	g.SetLimit(s.cfg.Server.MaxConcurrent)
	for i, raw := range req.Submissions {
		g.Go(func() error {
			out[i] = s.runSubmission(r, i, raw)
			return nil
		})
	}
	_ = g.Wait()
	if r.Context().Err() != nil {
		s.log.Info("client gone before the answer", "path", r.URL.Path)
		return
	}
	httpjson.Write(w, http.StatusOK, struct {
		Succeeded bool         `json:"succeeded"`
		Results   []batchEntry `json:"results"`
	}{true, out})
}

func (s *Server) runSubmission(r *http.Request, i int, raw json.RawMessage) batchEntry {
	bad := func(msg string) batchEntry {
		return batchEntry{Status: http.StatusBadRequest, ErrorMessage: fmt.Sprintf("submissions[%d]: %s", i, msg)}
	}
	var sub submission
	if err := httpjson.DecodeStrict(raw, &sub); err != nil {
		return bad(err.Error())
	}
	var req *runner.Request
	switch {
	case sub.Code != nil && sub.Files != nil:
		return bad("give either code or files, not both")
	case sub.Code != nil:
		req = sub.withCode(*sub.Code)
	case len(sub.Files) > 0:
		req = sub.toRunner(filesToRunner(sub.Files))
	default:
		return bad("code is required (or files, with at least one {filename, code})")
	}
	if req.Interactive {
		return bad(`"interactive": true needs the WebSocket GET /api/v1/ws`)
	}
	res, err := s.execute(r.Context(), req, nil)
	if err != nil {
		code, msg, _ := s.problem(r, err)
		return batchEntry{Status: code, ErrorMessage: fmt.Sprintf("submissions[%d]: %s", i, msg)}
	}
	return batchEntry{Succeeded: true, Result: toResult(res)}
}
