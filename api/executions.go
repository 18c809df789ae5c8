package api

// The execution log's read endpoints. The log is written by the runner's observer (see
// cmd/codeexec), not here.

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/execlog"
	"github.com/codeexec/codeexec/runner"
)

const (
	defaultListLimit = 20
	maxListLimit     = 100
	logReadTimeout   = 5 * time.Second
)

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
	httpjson.Write(w, http.StatusOK, struct {
		Succeeded bool            `json:"succeeded"`
		Execution *execlog.Record `json:"execution"`
	}{true, rec})
}

// operator admits only the operator to the log's listing and stats: they show everyone's code
// and output. One execution's record stays open to whoever holds its unguessable jobId.
func (s *Server) operator(w http.ResponseWriter, r *http.Request) bool {
	token := s.cfg.Server.AdminToken
	if token == "" {
		writeError(w, http.StatusForbidden, "listing executions and their stats is for the operator and is off on this server: set server.adminToken in the config and send it as Authorization: Bearer <token> (GET /api/v1/executions/{jobId} needs none)")
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="codeexec operator"`)
		writeError(w, http.StatusUnauthorized, "listing executions and their stats needs the operator's token (server.adminToken) as Authorization: Bearer <token>")
		return false
	}
	return true
}

// listExecutions is GET /api/v1/executions?language=&status=&limit=, most recent first.
func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request) {
	if !s.logEnabled(w) || !s.operator(w, r) {
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
	httpjson.Write(w, http.StatusOK, struct {
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
		names := make([]string, len(runner.Statuses))
		for i, k := range runner.Statuses {
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
	if !s.logEnabled(w) || !s.operator(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), logReadTimeout)
	defer cancel()
	st, err := s.execLog.Stats(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, struct {
		Succeeded bool           `json:"succeeded"`
		Stats     *execlog.Stats `json:"stats"`
	}{true, st})
}
