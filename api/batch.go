package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

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
	n, most := len(req.Submissions), s.cfg.Judge.MaxBatch
	switch {
	case n == 0:
		writeError(w, http.StatusBadRequest, `submissions is required: a list of execute requests, e.g. {"submissions": [{"language": "python", "code": "print(1)"}]}`)
		return
	case n > most:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%d submissions; the limit is %d (judge.maxBatch): split the batch", n, most))
		return
	}
	// Every submission is planned first: the batch is admitted, charged and capped as a whole.
	out := make([]batchEntry, n)
	plans := make([]*runner.Plan, n)
	var total time.Duration
	runs, valid := 0, 0
	for i, raw := range req.Submissions {
		p, err := s.planSubmission(raw)
		if err != nil {
			out[i] = s.entryError(r, i, err)
			continue
		}
		plans[i] = p
		valid++
		total += p.Deadline
		runs += len(p.Job.Runs)
	}
	if err := runner.CheckTotalLimit(s.cfg, total); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.chargeRuns(r.Context(), runs); err != nil {
		s.fail(w, r, err)
		return
	}
	// The submissions share the answer's cap, each its part of it (wherever it runs), and run at
	// most the heavy share of the slots at once (they are admitted as heavy): the rest would only
	// wait in the shared queue.
	share := s.cfg.Server.MaxAnswerBytes / int64(max(valid, 1))
	var g errgroup.Group
	g.SetLimit(s.cfg.Server.HeavyShare)
	for i, p := range plans {
		if p == nil {
			continue
		}
		g.Go(func() error {
			p.AnswerBytes = share
			res, err := s.exec.Execute(r.Context(), p, nil)
			if err != nil {
				out[i] = s.entryError(r, i, err)
			} else {
				out[i] = batchEntry{Succeeded: true, Result: toResult(res)}
			}
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

// entryError is the entry of a submission that failed: the status and message it would have
// got on its own.
func (s *Server) entryError(r *http.Request, i int, err error) batchEntry {
	code, msg, _ := s.problem(r, err)
	return batchEntry{Status: code, ErrorMessage: fmt.Sprintf("submissions[%d]: %s", i, msg)}
}

// planSubmission decodes and plans one submission of a batch.
func (s *Server) planSubmission(raw json.RawMessage) (*runner.Plan, error) {
	var sub submission
	if err := httpjson.DecodeStrict(raw, &sub); err != nil {
		return nil, &runner.InputError{Msg: err.Error()}
	}
	var req *runner.Request
	switch {
	case sub.Code != nil && sub.Files != nil:
		return nil, &runner.InputError{Msg: "give either code or files, not both"}
	case sub.Code != nil:
		req = sub.withCode(*sub.Code)
	case len(sub.Files) > 0:
		req = sub.toRunner(filesToRunner(sub.Files))
	default:
		return nil, &runner.InputError{Msg: "code is required (or files, with at least one {filename, code})"}
	}
	if req.Interactive {
		return nil, &runner.InputError{Msg: `"interactive": true needs the WebSocket GET /api/v1/ws`}
	}
	req.Batch = true
	return runner.NewPlan(s.cfg, req)
}
