package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/codeexec/codeexec/metrics/execlog"
	"github.com/codeexec/codeexec/runner"
)

// ExecutionLog is what the execution log endpoints need; *execlog.Log is one.
type ExecutionLog interface {
	Add(r execlog.Record) bool
	Get(ctx context.Context, jobID string) (*execlog.Record, error)
	List(ctx context.Context, q execlog.Query) ([]execlog.Record, error)
	Stats(ctx context.Context) (*execlog.Stats, error)
}

const (
	defaultListLimit = 20
	maxListLimit     = 100
	logReadTimeout   = 5 * time.Second
)

// statuses are the values the status filter accepts.
var statuses = []runner.Status{runner.OK, runner.Accepted, runner.WrongAnswer, runner.CompileError,
	runner.RuntimeError, runner.TimeLimitExceeded, runner.MemoryLimitExceeded, runner.OutputLimitExceeded}

// SetExecutionLog serves the log's read endpoints and stores every execution whose request
// says saveMetric (after any OnExecuted hook already set).
func (s *Server) SetExecutionLog(l ExecutionLog) {
	s.execLog = l
	prev := s.OnExecuted
	s.OnExecuted = func(req *runner.Request, res *runner.Result, saveMetric bool) {
		if prev != nil {
			prev(req, res, saveMetric)
		}
		if saveMetric {
			l.Add(NewRecord(req, res))
		}
	}
}

// NewRecord is the stored form of an execution: the same legacy fields as the API answer
// (toResult), the status, exit code and times, and the code. Nothing about the client.
func NewRecord(req *runner.Request, res *runner.Result) execlog.Record {
	j := toResult(res)
	rec := execlog.Record{
		JobID: j.JobID, UserID: "anonymous", ProjectID: "default", Language: j.Language, Version: j.Version,
		Output: j.Output, ErrorMessage: j.ErrorMessage, ExecutionTime: j.ExecutionTime,
		MemoryUsage: j.MemoryUsage, CPUUsage: j.CPUUsage, RunTimeStatus: j.RunTimeStatus,
		Status: string(j.Status), ExitCode: j.ExitCode,
		WallTimeMs: j.WallTimeMs, CPUTimeMs: j.CPUTimeMs, MemoryBytes: j.MemoryBytes,
	}
	if j.Compile != nil {
		rec.CompileTimeMs = j.Compile.WallTimeMs
	}
	for _, f := range req.Files {
		if f.Entry || len(req.Files) == 1 {
			rec.Code = string(f.Content)
		}
		if len(req.Files) > 1 {
			rec.Files = append(rec.Files, execlog.File{Filename: f.Name, Code: string(f.Content)})
		}
	}
	return rec
}

func (s *Server) logEnabled(w http.ResponseWriter) bool {
	if s.execLog == nil {
		writeError(w, http.StatusNotFound, "the execution log is not enabled on this server")
		return false
	}
	return true
}

// getExecution is GET /api/v1/executions/:jobId.
func (s *Server) getExecution(w http.ResponseWriter, r *http.Request) {
	if !s.logEnabled(w) {
		return
	}
	id := httprouter.ParamsFromContext(r.Context()).ByName("jobId")
	if _, err := uuid.Parse(id); err != nil {
		s.fail(w, r, &runner.InputError{Msg: fmt.Sprintf("jobId %q is not a UUID: use the jobId of an execution's answer", id)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), logReadTimeout)
	defer cancel()
	rec, err := s.execLog.Get(ctx, id)
	if err != nil {
		s.fail(w, r, fmt.Errorf("jobId %s: %w (only executions sent with \"saveMetric\": true are stored, until the retention deletes them)", id, err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Succeeded bool            `json:"succeeded"`
		Execution *execlog.Record `json:"execution"`
	}{true, rec})
}

// listExecutions is GET /api/v1/executions?language=&status=&limit=, most recent first.
func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request) {
	if !s.logEnabled(w) {
		return
	}
	q, err := s.parseListQuery(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), logReadTimeout)
	defer cancel()
	recs, err := s.execLog.List(ctx, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if recs == nil {
		recs = []execlog.Record{}
	}
	writeJSON(w, http.StatusOK, struct {
		Succeeded  bool             `json:"succeeded"`
		Count      int              `json:"count"`
		Executions []execlog.Record `json:"executions"`
	}{true, len(recs), recs})
}

func (s *Server) parseListQuery(v url.Values) (execlog.Query, error) {
	bad := func(format string, a ...any) (execlog.Query, error) {
		return execlog.Query{}, &runner.InputError{Msg: fmt.Sprintf(format, a...)}
	}
	for k := range v {
		if k != "language" && k != "status" && k != "limit" {
			return bad("unknown query parameter %q: use language, status and limit", k)
		}
	}
	q := execlog.Query{Limit: defaultListLimit}
	if name := v.Get("language"); name != "" {
		l, ok := s.cfg.Lookup(name)
		if !ok {
			return bad("unknown language %q: use one of %s", name, strings.Join(s.cfg.LanguageNames(), ", "))
		}
		q.Language = l.Name
	}
	if st := v.Get("status"); st != "" {
		known := false
		names := make([]string, len(statuses))
		for i, k := range statuses {
			names[i] = string(k)
			known = known || string(k) == st
		}
		if !known {
			return bad("unknown status %q: use one of %s", st, strings.Join(names, ", "))
		}
		q.Status = st
	}
	if ls := v.Get("limit"); ls != "" {
		n, err := strconv.Atoi(ls)
		if err != nil || n < 1 || n > maxListLimit {
			return bad("limit %q must be a whole number from 1 to %d", ls, maxListLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// stats is GET /api/v1/stats.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	if !s.logEnabled(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), logReadTimeout)
	defer cancel()
	st, err := s.execLog.Stats(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Succeeded bool           `json:"succeeded"`
		Stats     *execlog.Stats `json:"stats"`
	}{true, st})
}
