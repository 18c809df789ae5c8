package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/api/judge0"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/queue"
	"github.com/codeexec/codeexec/runner"
)

// Submissions is the durable store behind the asynchronous APIs, ours and Judge0's tokens;
// *queue.Queue is one.
type Submissions interface {
	judge0.Store
	Ready(ctx context.Context) error
}

// asyncRequest is POST /api/v1/submissions: the fields of /api/v1/execute (code) or of
// /api/v2/execute (files), and where to post the result.
type asyncRequest struct {
	submission
	CallbackURL *string `json:"callbackUrl"`
}

// submissionJSON is the answer about a submission, and its callback's body.
type submissionJSON struct {
	Token  string `json:"token"`
	Status string `json:"status"`
	// Result is, once done, exactly what /api/v2/execute answers for it.
	Result any `json:"result,omitempty"`
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req asyncRequest
	if !s.decode(w, r, &req) {
		return
	}
	var rreq *runner.Request
	switch {
	case req.Code != nil && req.Files != nil:
		writeError(w, http.StatusBadRequest, "give either code or files, not both")
		return
	case req.Code != nil:
		rreq = req.withCode(*req.Code)
	case len(req.Files) > 0:
		rreq = req.toRunner(filesToRunner(req.Files))
	default:
		writeError(w, http.StatusBadRequest, "code is required (or files, with at least one {filename, code})")
		return
	}
	callback := ""
	if req.CallbackURL != nil {
		if err := s.subs.CheckCallback(*req.CallbackURL); err != nil {
			writeError(w, http.StatusBadRequest, "callbackUrl "+err.Error())
			return
		}
		callback = *req.CallbackURL
	}
	p, err := runner.NewPlan(s.cfg, rreq)
	if err == nil {
		err = s.subs.Submit(r.Context(), p, queue.SubmitOptions{Callback: callback})
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/submissions/"+p.JobID)
	httpjson.Write(w, http.StatusAccepted, submissionJSON{Token: p.JobID, Status: string(queue.Queued)})
}

func (s *Server) getSubmission(w http.ResponseWriter, r *http.Request) {
	token := httprouter.ParamsFromContext(r.Context()).ByName("token")
	var sub *queue.Submission
	var err error
	switch wait := r.URL.Query().Get("wait"); wait {
	case "", "false":
		sub, err = s.subs.Get(r.Context(), token)
	case "true":
		// Held until done, at most queue.syncWaitMs; then the current state.
		ctx, cancel := context.WithTimeout(r.Context(), time.Duration(s.cfg.Queue.SyncWaitMs)*time.Millisecond)
		sub, err = s.subs.Wait(ctx, token)
		cancel()
	default:
		writeError(w, http.StatusBadRequest, `wait must be "true" or "false"`)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, toSubmission(sub))
}

func toSubmission(sub *queue.Submission) submissionJSON {
	out := submissionJSON{Token: sub.Token, Status: string(sub.Status)}
	switch {
	case sub.Status != queue.Done:
	case sub.Failure != nil:
		_, msg, _ := errorStatus(sub.Failure.Err())
		out.Result = errorBody{Succeeded: false, ErrorMessage: msg}
	default:
		out.Result = struct {
			Succeeded bool        `json:"succeeded"`
			Result    *resultJSON `json:"result"`
		}{true, toResult(sub.Result)}
	}
	return out
}

// callbackBackoff is the wait before each retry of our callbacks.
var callbackBackoff = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// Callback renders a finished submission's callback as the API that took it sends one: ours
// POSTs what GET /api/v1/submissions/{token} answers, retrying with backoff until a 2xx; Judge0's
// is judge0.Callback. A worker sends it.
func Callback(cfg *config.Config) func(*queue.Submission) (queue.Notice, error) {
	return func(sub *queue.Submission) (queue.Notice, error) {
		if sub.API == judge0.API {
			return judge0.Callback(cfg, sub)
		}
		body, err := json.Marshal(toSubmission(sub))
		return queue.Notice{Method: http.MethodPost, Body: body, Backoff: callbackBackoff}, err
	}
}
