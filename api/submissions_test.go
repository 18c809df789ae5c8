package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/metrics"
	"github.com/codeexec/codeexec/queue"
	"github.com/codeexec/codeexec/runner"
)

type warm struct{}

func (warm) Warm(string) bool { return true }

// submissionsServer is the API on a real embedded queue, with a worker on exec when given.
func submissionsServer(t *testing.T, exec queue.Runner) http.Handler {
	t.Helper()
	cfg, err := config.Parse([]byte(`
queue:
  callbackAllow: [127.0.0.1]
  syncWaitMs: 3000
languages:
  python:
    image: python
    source: main.py
    run: [python3, "{entry}"]
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Queue.Dir = t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.Open(context.Background(), cfg.Queue, queue.Options{Name: "t", Languages: cfg.LanguageNames(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if exec != nil {
		w := &queue.Worker{Q: q, Name: "t", Exec: exec, Warm: warm{}, Slots: 2, Callback: Callback(cfg)}
		go func() { w.Run(ctx); close(done) }()
	} else {
		close(done)
	}
	t.Cleanup(func() { cancel(); <-done; q.Close() })
	return New(cfg, Deps{Exec: queue.Executor{Q: q, TakeWait: 2 * time.Second}, Subs: q, Metrics: metrics.New(), Log: log}).Handler()
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestSubmissionLifecycle(t *testing.T) {
	h := submissionsServer(t, &fakeExec{res: &runner.Result{Status: runner.OK, Run: runner.Step{Status: runner.OK, Stdout: []byte("hi\n")}}})
	rec := post(h, "/api/v1/submissions", `{"language":"python","code":"print(1)"}`)
	var accepted struct{ Token, Status string }
	if rec.Code != 202 || json.Unmarshal(rec.Body.Bytes(), &accepted) != nil || accepted.Status != "queued" || accepted.Token == "" {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	if loc := rec.Header().Get("Location"); loc != "/api/v1/submissions/"+accepted.Token {
		t.Errorf("Location %q", loc)
	}
	rec = get(h, "/api/v1/submissions/"+accepted.Token+"?wait=true")
	var got struct {
		Token, Status string
		Result        struct {
			Succeeded bool
			Result    struct{ JobID, Stdout, Status string }
		}
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	if got.Status != "done" || !got.Result.Succeeded || got.Result.Result.Stdout != "hi\n" || got.Result.Result.JobID != accepted.Token {
		t.Fatalf("GET: %s", rec.Body)
	}
	// The synchronous path answers the same through the queue.
	rec = post(h, "/api/v2/execute", `{"language":"python","files":[{"filename":"a.py","code":"print('hi')"}]}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"stdout":"hi\n"`) {
		t.Fatalf("v2 through the queue: %d %s", rec.Code, rec.Body)
	}
}

func TestSubmissionBadInput(t *testing.T) {
	h := submissionsServer(t, nil)
	for _, c := range []struct {
		method, path, body string
		code               int
		says               string
	}{
		{"GET", "/api/v1/submissions/nope", "", 404, "no submission"},
		{"GET", "/api/v1/submissions/nope?wait=1", "", 400, "wait"},
		{"POST", "/api/v1/submissions", `{"language":"python","code":"1","callbackUrl":"gopher://127.0.0.1/"}`, 400, "http or https"},
		{"POST", "/api/v1/submissions", `{"language":"python","code":"1","callbackUrl":"http://10.0.0.1/x"}`, 400, "callbackAllow"},
		{"POST", "/api/v1/submissions", `{"language":"python","code":"1","files":[{"filename":"a.py","code":"1"}]}`, 400, "either code or files"},
		{"POST", "/api/v1/submissions", `{"language":"python","code":"1","bogus":1}`, 400, "bogus"},
		{"POST", "/api/v1/submissions", `{"language":"python"}`, 400, "code is required"},
	} {
		var rec *httptest.ResponseRecorder
		if c.method == "GET" {
			rec = get(h, c.path)
		} else {
			rec = post(h, c.path, c.body)
		}
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) || !strings.Contains(rec.Body.String(), `"succeeded":false`) {
			t.Errorf("%s %s %s: %d %s; want %d naming %q", c.method, c.path, c.body, rec.Code, rec.Body, c.code, c.says)
		}
	}
	// No worker: queued, and a synchronous request gives up with 429 after the take wait.
	rec := post(h, "/api/v1/submissions", `{"language":"python","code":"1"}`)
	var accepted struct{ Token string }
	_ = json.Unmarshal(rec.Body.Bytes(), &accepted)
	if rec = get(h, "/api/v1/submissions/"+accepted.Token); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"queued"`) || strings.Contains(rec.Body.String(), `"result"`) {
		t.Errorf("queued submission: %d %s", rec.Code, rec.Body)
	}
	if rec = post(h, "/api/v1/execute", `{"language":"python","code":"1"}`); rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("sync request with no worker: %d %s", rec.Code, rec.Body)
	}
}
