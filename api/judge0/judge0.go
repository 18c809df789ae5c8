// Package judge0 is the Judge0 CE dialect (judge0/judge0 v1.13.1): its routes, request
// attributes, answers, statuses, language ids and errors, so that a Judge0 client works by
// changing its base URL. Judge0's tokens are async submissions: the dialect plans a request with
// runner.NewPlan and hands the plan to a Store, which runs it and keeps its result; the Judge0
// answer is derived from the runner.Result (FromResult) when it is read. README "Coming from
// Judge0" says what maps to what.
package judge0

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/queue"
	"github.com/codeexec/codeexec/runner"
)

// Version is the Judge0 release whose API this is; GET /about answers it, so that clients that
// pick their language table by version (the official Python SDK) recognise the server.
const Version = "1.13.1"

// API names Judge0's submissions in the queue (queue.SubmitOptions.API).
const API = "judge0"

// Store is what Judge0's tokens need from the async submissions; *queue.Queue is one. A token is
// a queue submission: the plan's job id, with Judge0's attributes as its Meta.
type Store interface {
	CallbackChecker
	// Submit queues a plan; queue.ErrFull when no more may wait.
	Submit(ctx context.Context, p *runner.Plan, o queue.SubmitOptions) error
	// Get is the submission now; queue.ErrNotFound for an unknown or expired token.
	Get(ctx context.Context, token string) (*queue.Submission, error)
	// Wait is the submission once done, or as it is when ctx ends.
	Wait(ctx context.Context, token string) (*queue.Submission, error)
	Depths(ctx context.Context) ([]queue.Depth, error)
	Workers(ctx context.Context) ([]queue.WorkerInfo, error)
}

// Core is the server's mapping of errors to HTTP statuses.
type Core interface {
	Fail(w http.ResponseWriter, r *http.Request, err error, writeErr httpjson.ErrorWriter)
}

// Route adds a handler to the server's router; limited puts it behind the per-client rate limit.
type Route func(method, path string, limited bool, h http.HandlerFunc)

// Dialect serves Judge0's API.
type Dialect struct {
	cfg   *config.Config
	core  Core
	store Store
	log   *slog.Logger
}

// New makes the dialect.
func New(cfg *config.Config, core Core, store Store, log *slog.Logger) *Dialect {
	return &Dialect{cfg: cfg, core: core, store: store, log: log}
}

// Routes adds Judge0's routes under the configured prefix.
func (d *Dialect) Routes(add Route) {
	p := d.cfg.Judge0.Prefix
	add(http.MethodPost, p+"/submissions", true, d.create)
	add(http.MethodPost, p+"/submissions/batch", true, d.batchCreate)
	// httprouter allows no static segment beside a parameter: show serves /submissions/batch
	// and language /languages/all.
	add(http.MethodGet, p+"/submissions/:token", false, d.show)
	add(http.MethodGet, p+"/languages", false, d.languages)
	add(http.MethodGet, p+"/languages/:id", false, d.language)
	add(http.MethodGet, p+"/statuses", false, d.statuses)
	add(http.MethodGet, p+"/about", false, d.about)
	add(http.MethodGet, p+"/version", false, d.version)
	add(http.MethodGet, p+"/config_info", false, d.configInfo)
	add(http.MethodGet, p+"/workers", false, d.workers)
}

// WriteError is Judge0's error shape, {"error": "..."}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	httpjson.Write(w, code, map[string]string{"error": msg})
}

const (
	conversionError      = "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter"
	batchConversionError = "some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter"
)

// fieldsParam answers 400 for unknown fields, as Judge0 does before anything else.
func fieldsParam(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	want, invalid := requestedFields(r.URL.Query().Get("fields"))
	if len(invalid) > 0 {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("invalid fields: [%s]", strings.Join(invalid, ", ")))
		return nil, false
	}
	return want, true
}

func queryTrue(r *http.Request, name string) bool { return r.URL.Query().Get(name) == "true" }

func (d *Dialect) create(w http.ResponseWriter, r *http.Request) {
	wait := queryTrue(r, "wait")
	want, ok := fieldsParam(w, r)
	if !ok {
		return
	}
	b64 := queryTrue(r, "base64_encoded")
	body, ok := httpjson.ReadBody(w, r, d.cfg.Server.MaxBodyBytes, WriteError)
	if !ok {
		return
	}
	token, plan, errs, err := d.submit(r.Context(), body, b64)
	switch {
	case err != nil:
		d.fail(w, r, err)
		return
	case errs != nil:
		httpjson.Write(w, http.StatusUnprocessableEntity, errs)
		return
	case !wait:
		httpjson.Write(w, http.StatusCreated, map[string]string{"token": token})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), plan.Deadline+time.Duration(d.cfg.Server.QueueWaitMs)*time.Millisecond+time.Minute)
	sub, err := d.store.Wait(ctx, token)
	cancel()
	if err != nil {
		d.fail(w, r, err)
		return
	}
	out, err := d.submission(sub).render(want, b64)
	if errors.Is(err, errNotUTF8) {
		httpjson.Write(w, http.StatusCreated, map[string]string{"token": token, "error": conversionError})
		return
	}
	httpjson.Write(w, http.StatusCreated, out)
}

// submit validates one submission, plans it and stores it. errs is the 422 hash; err a
// failure of the store.
func (d *Dialect) submit(ctx context.Context, raw json.RawMessage, b64 bool) (token string, plan *runner.Plan, errs Errors, err error) {
	p, errs := parse(ctx, d.cfg, d.store, raw, b64)
	if errs != nil {
		return "", nil, errs, nil
	}
	plan, err = runner.NewPlan(d.cfg, p.req)
	if err != nil {
		var input *runner.InputError
		if errors.As(err, &input) {
			return "", nil, planErrors(input.Msg), nil
		}
		return "", nil, nil, err
	}
	meta, err := json.Marshal(p.attrs)
	if err != nil {
		return "", nil, nil, err
	}
	o := queue.SubmitOptions{API: API, Meta: meta}
	if p.attrs.CallbackURL != nil && !blank(*p.attrs.CallbackURL) {
		o.Callback = *p.attrs.CallbackURL
	}
	if err := d.store.Submit(ctx, plan, o); err != nil {
		return "", nil, nil, err
	}
	return plan.JobID, plan, nil, nil
}

// planErrors puts a planning error under the attribute it is about.
func planErrors(msg string) Errors {
	attr := "base"
	switch {
	case strings.HasPrefix(msg, "files") || strings.HasPrefix(msg, "file name") || strings.Contains(msg, "files;"):
		attr = "additional_files"
	case strings.HasPrefix(msg, "stdin") || strings.HasPrefix(msg, "tests"):
		attr = "stdin"
	case strings.HasPrefix(msg, "args"):
		attr = "command_line_arguments"
	}
	return Errors{attr: {msg}}
}

// fail answers a store's error: Judge0's 503 and 404, else the server's status for it.
func (d *Dialect) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, queue.ErrFull):
		w.Header().Set("Retry-After", "1")
		WriteError(w, http.StatusServiceUnavailable, "queue is full")
	case errors.Is(err, queue.ErrNotFound):
		notFound(w)
	default:
		d.core.Fail(w, r, err, WriteError)
	}
}

// notFound is Rails' answer to a record it cannot find.
func notFound(w http.ResponseWriter) {
	httpjson.Write(w, http.StatusNotFound, map[string]any{"status": 404, "error": "Not Found"})
}

// submission is a queue submission as Judge0 shows it.
func (d *Dialect) submission(sub *queue.Submission) *submission {
	s, err := view(d.cfg, sub)
	if err != nil {
		d.log.Error("judge0: a submission's attributes do not decode", "token", sub.Token, "err", err)
	}
	return s
}

// view is a queue submission as Judge0 shows it: its attributes are its Meta, its outcome is
// derived from its result.
func view(cfg *config.Config, sub *queue.Submission) (*submission, error) {
	s := &submission{Token: sub.Token, Status: sub.Status, FinishedAt: sub.FinishedAt}
	err := json.Unmarshal(sub.Meta, &s.Attrs)
	s.Language = languageRef{ID: s.Attrs.LanguageID}
	if l, ok := cfg.Judge0Language(s.Attrs.LanguageID); ok {
		s.Language.Name = languageName(l)
	}
	if sub.Status != queue.Done {
		return s, err
	}
	switch {
	case sub.Result != nil:
		s.Outcome = FromResult(sub.Result, deref(s.Attrs.ExpectedOutput), s.Attrs.ExpectedOutput != nil, s.Attrs.RedirectStderr)
	default:
		// An input error is the client's to read; any other cause is for the server's log.
		msg := "no sandbox could run the submission"
		if sub.Failure != nil && sub.Failure.Kind == "input" {
			msg = sub.Failure.Message
		}
		s.Outcome = Outcome{Status: InternalError, Message: &msg}
	}
	return s, err
}

// Callback is a finished submission's callback as Judge0's job sends it from its ensure block: a
// PUT of the default fields, base64-encoded, up to three tries (a try that got any answer is the
// last) of five seconds each (queue.Callbacks' timeout). The worker that ran it sends it.
func Callback(cfg *config.Config, sub *queue.Submission) (queue.Notice, error) {
	s, err := view(cfg, sub)
	if err != nil {
		return queue.Notice{}, err
	}
	body, err := s.render(defaultFields, true)
	if err != nil {
		return queue.Notice{}, err
	}
	return queue.Notice{Method: http.MethodPut, Body: body, Backoff: make([]time.Duration, callbackTries-1), AnyAnswer: true}, nil
}

func (d *Dialect) show(w http.ResponseWriter, r *http.Request) {
	token := httprouter.ParamsFromContext(r.Context()).ByName("token")
	if token == "batch" {
		d.batchShow(w, r)
		return
	}
	want, ok := fieldsParam(w, r)
	if !ok {
		return
	}
	sub, err := d.store.Get(r.Context(), token)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	out, err := d.submission(sub).render(want, queryTrue(r, "base64_encoded"))
	if err != nil {
		WriteError(w, http.StatusBadRequest, conversionError)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (d *Dialect) batchSizeError(n int) string {
	switch {
	case n > d.cfg.Judge.MaxBatch:
		return fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", d.cfg.Judge.MaxBatch)
	case n == 0:
		return "there should be at least one submission in a batch"
	}
	return ""
}

// batchCreate stores each valid submission of the batch: an answer per item, its token or its
// errors; 201 when any was valid, else 422. Fields and wait do not apply to a batch.
func (d *Dialect) batchCreate(w http.ResponseWriter, r *http.Request) {
	body, ok := httpjson.ReadBody(w, r, d.cfg.Server.MaxBodyBytes, WriteError)
	if !ok {
		return
	}
	var req struct {
		Submissions []json.RawMessage `json:"submissions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, "malformed JSON: "+httpjson.Problem(err))
		return
	}
	if msg := d.batchSizeError(len(req.Submissions)); msg != "" {
		WriteError(w, http.StatusBadRequest, msg)
		return
	}
	pending, err := d.pending(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if pending+len(req.Submissions) > d.cfg.Queue.MaxPending {
		d.fail(w, r, queue.ErrFull)
		return
	}
	b64 := queryTrue(r, "base64_encoded")
	out := make([]any, len(req.Submissions))
	valid := false
	for i, raw := range req.Submissions {
		token, _, errs, err := d.submit(r.Context(), raw, b64)
		switch {
		case err != nil:
			// Those stored before it stay stored; the client learns of none of them, as with
			// Judge0 when its database fails mid-batch.
			d.fail(w, r, err)
			return
		case errs != nil:
			out[i] = errs
		default:
			out[i] = map[string]string{"token": token}
			valid = true
		}
	}
	code := http.StatusUnprocessableEntity
	if valid {
		code = http.StatusCreated
	}
	httpjson.Write(w, code, out)
}

func (d *Dialect) batchShow(w http.ResponseWriter, r *http.Request) {
	want, ok := fieldsParam(w, r)
	if !ok {
		return
	}
	list := r.Header.Get("tokens")
	if list == "" {
		list = r.URL.Query().Get("tokens")
	}
	var tokens []string
	if s := strings.TrimSpace(list); s != "" {
		tokens = strings.Split(s, ",")
	}
	if msg := d.batchSizeError(len(tokens)); msg != "" {
		WriteError(w, http.StatusBadRequest, msg)
		return
	}
	b64 := queryTrue(r, "base64_encoded")
	out := make([]json.RawMessage, len(tokens))
	for i, token := range tokens {
		sub, err := d.store.Get(r.Context(), token)
		switch {
		case errors.Is(err, queue.ErrNotFound):
			out[i] = json.RawMessage("null")
			continue
		case err != nil:
			d.fail(w, r, err)
			return
		}
		if out[i], err = d.submission(sub).render(want, b64); err != nil {
			WriteError(w, http.StatusBadRequest, batchConversionError)
			return
		}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"submissions": out})
}

// language is one Judge0 language id of a configured language.
type language struct {
	ID         int     `json:"id"`
	Name       string  `json:"name"`
	IsArchived bool    `json:"is_archived"`
	SourceFile string  `json:"source_file"`
	CompileCmd *string `json:"compile_cmd"`
	RunCmd     string  `json:"run_cmd"`
}

func languageName(l *config.Language) string {
	name := l.Judge0Name
	if name == "" {
		name = l.Name + " ({version})"
	}
	return strings.ReplaceAll(name, "{version}", l.Version())
}

// judge0Languages lists every id, by name as Judge0 orders them (then by id).
func (d *Dialect) judge0Languages() []language {
	var out []language
	for _, name := range d.cfg.LanguageNames() {
		l := d.cfg.Languages[name]
		for _, id := range l.Judge0IDs {
			lj := language{ID: id, Name: languageName(l), SourceFile: l.Source, RunCmd: command(l.Run, l.Source)}
			if l.Compiled() {
				c := command(l.Compile, l.Source)
				lj.CompileCmd = &c
			}
			out = append(out, lj)
		}
	}
	slices.SortStableFunc(out, func(a, b language) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.ID - b.ID
	})
	return out
}

// command is a configured argv as one line, for the languages' listing.
func command(argv []string, source string) string {
	base := strings.TrimSuffix(source, source[strings.LastIndex(source, "."):])
	r := strings.NewReplacer("{entry}", source, "{sources}", source, "{entryBase}", base)
	return r.Replace(strings.Join(argv, " "))
}

func (d *Dialect) languages(w http.ResponseWriter, r *http.Request) {
	out := []map[string]any{}
	for _, l := range d.judge0Languages() {
		out = append(out, map[string]any{"id": l.ID, "name": l.Name})
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (d *Dialect) allLanguages(w http.ResponseWriter, r *http.Request) {
	out := []map[string]any{}
	for _, l := range d.judge0Languages() {
		out = append(out, map[string]any{"id": l.ID, "name": l.Name, "is_archived": l.IsArchived})
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (d *Dialect) language(w http.ResponseWriter, r *http.Request) {
	param := httprouter.ParamsFromContext(r.Context()).ByName("id")
	if param == "all" {
		d.allLanguages(w, r)
		return
	}
	id, err := strconv.Atoi(param)
	if err == nil {
		for _, l := range d.judge0Languages() {
			if l.ID == id {
				httpjson.Write(w, http.StatusOK, l)
				return
			}
		}
	}
	notFound(w)
}

func (d *Dialect) statuses(w http.ResponseWriter, r *http.Request) {
	out := []statusRef{}
	for id := InQueue; id <= lastStatus; id++ {
		out = append(out, statusRef{id, statusNames[id]})
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (d *Dialect) about(w http.ResponseWriter, r *http.Request) {
	ours := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		ours = bi.Main.Version
	}
	httpjson.Write(w, http.StatusOK, map[string]string{
		"version":          Version,
		"homepage":         "https://github.com/codeexec/codeexec",
		"source_code":      "https://github.com/codeexec/codeexec",
		"maintainer":       "CodeExec",
		"codeexec_version": ours,
	})
}

func (d *Dialect) version(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(Version))
}

// configInfo is Config.config_info with our values. Limits differ by language here; each is the
// one every language accepts (the smallest), and a submission gets its language's own.
func (d *Dialect) configInfo(w http.ResponseWriter, r *http.Request) {
	var lim defaults
	first := true
	for _, name := range d.cfg.LanguageNames() {
		l := defaultsFor(d.cfg, d.cfg.Languages[name])
		if first {
			lim, first = l, false
			continue
		}
		lim.cpu, lim.maxCPU = min(lim.cpu, l.cpu), min(lim.maxCPU, l.maxCPU)
		lim.wall, lim.maxWall = min(lim.wall, l.wall), min(lim.maxWall, l.maxWall)
		lim.memoryKB, lim.maxMemoryKB = min(lim.memoryKB, l.memoryKB), min(lim.maxMemoryKB, l.maxMemoryKB)
		lim.pids = min(lim.pids, l.pids)
	}
	httpjson.Write(w, http.StatusOK, map[string]any{
		"maintenance_mode":                                 false,
		"enable_wait_result":                               true,
		"enable_compiler_options":                          false,
		"allowed_languages_for_compile_options":            []string{},
		"enable_command_line_arguments":                    true,
		"enable_submission_delete":                         false,
		"enable_callbacks":                                 len(d.cfg.Queue.CallbackAllow) > 0,
		"callbacks_max_tries":                              callbackTries,
		"callbacks_timeout":                                callbackTimeout.Seconds(),
		"enable_additional_files":                          true,
		"max_queue_size":                                   d.cfg.Queue.MaxPending,
		"cpu_time_limit":                                   lim.cpu,
		"max_cpu_time_limit":                               lim.maxCPU,
		"cpu_extra_time":                                   0.0,
		"max_cpu_extra_time":                               maxCPUExtraTime,
		"wall_time_limit":                                  lim.wall,
		"max_wall_time_limit":                              lim.maxWall,
		"memory_limit":                                     lim.memoryKB,
		"max_memory_limit":                                 lim.maxMemoryKB,
		"stack_limit":                                      0,
		"max_stack_limit":                                  maxStackLimit,
		"max_processes_and_or_threads":                     lim.pids,
		"max_max_processes_and_or_threads":                 maxProcesses,
		"enable_per_process_and_thread_time_limit":         false,
		"allow_enable_per_process_and_thread_time_limit":   false,
		"enable_per_process_and_thread_memory_limit":       false,
		"allow_enable_per_process_and_thread_memory_limit": false,
		"max_file_size":                                    d.cfg.Server.OutputLimitBytes >> 10,
		"max_max_file_size":                                maxMaxFileSize,
		"number_of_runs":                                   1,
		"max_number_of_runs":                               maxNumberOfRuns,
		"redirect_stderr_to_stdout":                        false,
		"max_extract_size":                                 leastTmpfsKB(d.cfg),
		"enable_batched_submissions":                       true,
		"max_submission_batch_size":                        d.cfg.Judge.MaxBatch,
		"submission_cache_duration":                        0.0,
		"use_docs_as_homepage":                             false,
		"allow_enable_network":                             false,
		"enable_network":                                   false,
	})
}

// tmpfsKB is the most additional_files may unpack to in every language: its folder's size.
func leastTmpfsKB(cfg *config.Config) int64 {
	var least int64 = -1
	for _, l := range cfg.Languages {
		if kb := l.TmpfsMB << 10; least < 0 || kb < least {
			least = kb
		}
	}
	return least
}

// pending is how many submissions wait in the queue, every language's.
func (d *Dialect) pending(ctx context.Context) (int, error) {
	depths, err := d.store.Depths(ctx)
	n := 0
	for _, q := range depths {
		n += q.Pending
	}
	return n, err
}

// workers is GET /workers: the job queue and the workers that take from it (their heartbeats).
func (d *Dialect) workers(w http.ResponseWriter, r *http.Request) {
	pending, err := d.pending(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	list, err := d.store.Workers(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	slots, working := 0, 0
	for _, wi := range list {
		slots += wi.Slots
		working += wi.InUse
	}
	httpjson.Write(w, http.StatusOK, []map[string]any{{
		"queue": "codeexec", "size": pending, "available": slots,
		"idle": max(slots-working, 0), "working": working, "paused": 0, "failed": 0,
	}})
}
