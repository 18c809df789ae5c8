package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"golang.org/x/sync/errgroup"

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
	writeJSON(w, http.StatusOK, struct {
		Succeeded bool         `json:"succeeded"`
		Results   []batchEntry `json:"results"`
	}{true, out})
}

func (s *Server) runSubmission(r *http.Request, i int, raw json.RawMessage) batchEntry {
	bad := func(msg string) batchEntry {
		return batchEntry{Status: http.StatusBadRequest, ErrorMessage: fmt.Sprintf("submissions[%d]: %s", i, msg)}
	}
	var sub submission
	if err := decodeStrict(raw, &sub); err != nil {
		return bad(err.Error())
	}
	var files []runner.File
	switch {
	case sub.Code != nil && sub.Files != nil:
		return bad("give either code or files, not both")
	case sub.Code != nil:
		if lang, ok := s.cfg.Lookup(sub.Language); ok {
			files = []runner.File{{Name: lang.Source, Content: []byte(*sub.Code), Entry: true}}
		}
	case len(sub.Files) > 0:
		for _, f := range sub.Files {
			files = append(files, runner.File{Name: f.Filename, Content: []byte(f.Code), Entry: f.IsEntryPoint})
		}
	default:
		return bad("code is required (or files, with at least one {filename, code})")
	}
	req := sub.toRunner(files)
	res, err := s.exec.Execute(r.Context(), req)
	if err != nil {
		code, msg, _ := errorStatus(err)
		return batchEntry{Status: code, ErrorMessage: fmt.Sprintf("submissions[%d]: %s", i, msg)}
	}
	if s.OnExecuted != nil {
		s.OnExecuted(req, res, sub.SaveMetric)
	}
	return batchEntry{Succeeded: true, Result: toResult(res)}
}
