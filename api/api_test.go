package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/metrics"
	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/runner"
)

// fakeExec records the plans it was given and answers with res or err.
type fakeExec struct {
	mu    sync.Mutex // batch runs submissions concurrently
	plans []*runner.Plan
	res   *runner.Result
	err   error
}

func (f *fakeExec) Execute(ctx context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error) {
	f.mu.Lock()
	f.plans = append(f.plans, p)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	res := *f.res
	res.JobID, res.Language, res.Version, res.TimeLimit, res.MemoryLimitBytes = p.JobID, p.Language, p.Version, p.TimeLimit, p.MemoryBytes
	return &res, nil
}

type fakePools struct{}

func (fakePools) Stats() []pool.Stats { return []pool.Stats{{Lang: "python", Ready: 1, Target: 2}} }
func (fakePools) AllReady() error     { return nil }

type pinger struct{}

func (pinger) Ping(context.Context) error { return nil }

func testServer(t *testing.T, exec Executor, log io.Writer) http.Handler {
	t.Helper()
	cfg, err := config.Parse([]byte(`
languages:
  python:
    image: python
    version: 3.11.2
    aliases: [py]
    source: main.py
    run: [python3, "{entry}"]
    maxMemoryMb: 1024
`))
	if err != nil {
		t.Fatal(err)
	}
	return New(cfg, Deps{Exec: exec, Pools: fakePools{}, Engine: pinger{}, Metrics: metrics.New(),
		Log: slog.New(slog.NewTextHandler(log, nil))}).Handler()
}

// GET / is the playground unless server.playground is false.
func TestPlaygroundSwitch(t *testing.T) {
	on := testServer(t, &fakeExec{}, io.Discard)
	rec := httptest.NewRecorder()
	on.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "CodeExec playground") {
		t.Errorf("playground on: GET / = %d", rec.Code)
	}
	cfg, err := config.Parse([]byte(`
server:
  playground: false
languages:
  python: {image: python, version: "3.11.2", source: main.py, run: [python3, "{entry}"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	off := New(cfg, Deps{Exec: &fakeExec{}, Pools: fakePools{}, Engine: pinger{}, Metrics: metrics.New(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	for _, path := range []string{"/", "/playground/app.js"} {
		rec := httptest.NewRecorder()
		off.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("playground off: GET %s = %d", path, rec.Code)
		}
	}
}

func post(h http.Handler, path, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	return rec
}

// Every dialect plans its request and runs the plan on the one executor.
func TestExecutePath(t *testing.T) {
	exec := &fakeExec{res: &runner.Result{Status: runner.OK,
		Run: runner.Step{Status: runner.OK, Stdout: []byte("hi\n\xff"), Wall: 41600 * time.Microsecond, CPU: 20 * time.Millisecond, MemoryBytes: 8 << 20}}}
	h := testServer(t, exec, io.Discard)

	rec := post(h, "/api/v1/execute", `{"language": "py", "code": "print('hi')", "timeLimitMs": 500, "memoryLimitMb": 128, "saveMetric": true}`)
	if rec.Code != 200 {
		t.Fatalf("v1: %d %s", rec.Code, rec.Body)
	}
	p := exec.plans[0]
	if p.Language != "python" || p.Entry != "main.py" || string(p.Job.Files[0].Content) != "print('hi')" ||
		p.TimeLimit != 500*time.Millisecond || p.MemoryBytes != 128<<20 || !p.Save {
		t.Errorf("v1 plan %+v", p)
	}
	var v1 struct {
		Succeeded bool           `json:"succeeded"`
		Result    map[string]any `json:"result"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v1); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"jobId": p.JobID, "language": "python", "version": "3.11.2", "status": "ok", "exitCode": 0.0,
		"stdout": "hi\n\uFFFD", "stdoutBase64": "aGkK/w==", "stderr": "", "truncated": false, "wallTimeMs": 41.6, "cpuTimeMs": 20.0,
		"memoryBytes": float64(8 << 20), "compileOutput": "", "timeLimitMs": 500.0, "memoryLimitMb": 128.0,
		"output": "hi\n\uFFFD", "errorMessage": "", "executionTime": 0.042, "memoryUsage": "8.0MB", "cpuUsage": "48.1%", "runTimeStatus": "succeeded"}
	if !v1.Succeeded || fmt.Sprint(v1.Result) != fmt.Sprint(want) {
		t.Errorf("v1 answer\n got %v\nwant %v", v1.Result, want)
	}

	rec = post(h, "/api/v2/execute", `{"language": "python", "files": [{"filename": "lib/a.py", "code": "x"}, {"filename": "m.py", "code": "y", "isEntryPoint": true}]}`)
	if p := exec.plans[1]; rec.Code != 200 || p.Entry != "m.py" || len(p.Job.Files) != 2 || p.Save {
		t.Errorf("v2: %d %s, plan %+v", rec.Code, rec.Body, p)
	}

	// Piston's shape on the v2 path is answered in Piston's shape.
	rec = post(h, "/api/v2/execute", `{"language": "python", "version": "3", "files": [{"content": "print(1)"}], "run_timeout": 999999}`)
	if p := exec.plans[2]; rec.Code != 200 || p.Entry != "main.py" || p.TimeLimit != 15*time.Second ||
		!strings.HasPrefix(rec.Body.String(), `{"language":"python","version":"3.11.2","run":{"stdout":"hi\n�","stderr":"","output":"hi\n�","code":0,"signal":null,"message":null,"status":null,"cpu_time":20,"wall_time":41.6,"memory":8388608}}`) {
		t.Errorf("piston: %d %s, plan %+v", rec.Code, rec.Body, p)
	}

	rec = post(h, "/api/v1/batch", `{"submissions": [{"language": "python", "code": "1"}, {"language": "cobol", "code": "1"}, {"language": "python", "files": [{"filename": "a.py", "code": "2"}]}]}`)
	var batch struct {
		Results []struct {
			Succeeded    bool           `json:"succeeded"`
			Status       int            `json:"status"`
			ErrorMessage string         `json:"errorMessage"`
			Result       map[string]any `json:"result"`
		} `json:"results"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &batch); err != nil || len(batch.Results) != 3 {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	if r := batch.Results; !r[0].Succeeded || r[1].Status != 400 || !strings.Contains(r[1].ErrorMessage, `submissions[1]: unknown language "cobol"`) || !r[2].Succeeded {
		t.Errorf("batch: %s", rec.Body)
	}

	// Input errors are the runner's own sentence, in each dialect's shape.
	for path, body := range map[string]string{
		"/api/v1/execute": `{"succeeded":false,"errorMessage":"timeLimitMs 9223372036854 is above the maximum 15000 for python"}`,
		"/api/v2/execute": `{"message":"memoryLimitMb must be at least 32"}`,
	} {
		req := `{"language": "python", "code": "x", "timeLimitMs": 9223372036854775807}`
		if path == "/api/v2/execute" {
			req = `{"language": "python", "files": [{"content": "x"}], "run_memory_limit": 1}`
		}
		if rec := post(h, path, req); rec.Code != 400 || strings.TrimSpace(rec.Body.String()) != body {
			t.Errorf("%s: %d %s, want 400 %s", path, rec.Code, rec.Body, body)
		}
	}
}

// A server-side failure answers a fixed sentence; its cause, which may hold an agent's stderr,
// goes to the log only.
func TestErrorsDoNotLeak(t *testing.T) {
	const secret = "goroutine 1 [running]: SECRET"
	for _, c := range []struct {
		err        error
		code       int
		body       string
		retryAfter string
	}{
		{fmt.Errorf("%w: agent: %s", runner.ErrUnavailable, secret), 503, runner.ErrUnavailable.Error(), "5"},
		{errors.New(secret), 500, "internal error", ""},
		{runner.ErrOverloaded, 429, runner.ErrOverloaded.Error(), "1"},
	} {
		var log bytes.Buffer
		h := testServer(t, &fakeExec{err: c.err}, &log)
		for _, r := range []struct{ path, body, shape string }{
			{"/api/v1/execute", `{"language": "python", "code": "x"}`, `{"succeeded":false,"errorMessage":%q}`},
			{"/api/v2/execute", `{"language": "python", "files": [{"content": "x"}]}`, `{"message":%q}`},
		} {
			rec := post(h, r.path, r.body)
			if want := fmt.Sprintf(r.shape, c.body); rec.Code != c.code || strings.TrimSpace(rec.Body.String()) != want || rec.Header().Get("Retry-After") != c.retryAfter {
				t.Errorf("%s %v: %d %s (Retry-After %q), want %d %s", r.path, c.err, rec.Code, rec.Body, rec.Header().Get("Retry-After"), c.code, want)
			}
		}
		rec := post(h, "/api/v1/batch", `{"submissions": [{"language": "python", "code": "x"}]}`)
		if strings.Contains(rec.Body.String(), "SECRET") {
			t.Errorf("batch: %s", rec.Body)
		}
		if c.code >= 500 && (!strings.Contains(log.String(), "SECRET") || !strings.Contains(log.String(), "path=/api/v1/execute")) {
			t.Errorf("the cause is not in the log:\n%s", log.String())
		}
	}
}
