package judge0_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/api/judge0"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/queue"
	"github.com/codeexec/codeexec/runner"
)

// gate runs a plan when the test releases it and answers what the test put in results (by
// the first byte of the source), or a failure.
type gate struct {
	release chan struct{}
	// stop ends the runs still held when the test ends (a worker's job runs to its end, not
	// to its context's).
	stop chan struct{}
}

func (g *gate) Execute(ctx context.Context, p *runner.Plan, _ runner.Sink) (*runner.Result, error) {
	select {
	case <-g.release:
	case <-g.stop:
		return nil, errors.New("test over")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	src := string(p.Job.Files[0].Content)
	if src == "fail" {
		return nil, errors.New("engine gone")
	}
	step := runner.Step{Status: runner.OK, Stdout: []byte(src + "\n"), CPU: time.Millisecond, MemoryBytes: 1 << 20}
	return &runner.Result{Status: runner.Accepted, Tests: []runner.TestResult{{Step: step, Verdict: runner.Accepted}}}, nil
}

type failCore struct{}

func (failCore) Fail(w http.ResponseWriter, _ *http.Request, err error, writeErr httpjson.ErrorWriter) {
	writeErr(w, http.StatusInternalServerError, err.Error())
}

type warm struct{}

func (warm) Warm(string) bool { return true }

// server is the dialect on a real embedded queue whose one worker runs plans on a gate.
func server(t *testing.T, maxPending int) (*httptest.Server, *gate) {
	t.Helper()
	cfg, err := config.Parse([]byte(`
queue: {maxPending: ` + itoa(maxPending) + `}
judge0: {prefix: /j0}
languages:
  python: {image: python, version: 3.11.2, source: main.py, run: [python3, "{entry}"], judge0Ids: [71, 113], judge0Name: "Python ({version})"}
  ruby: {image: ruby, version: 3.1.2, source: main.rb, run: [ruby, "{entry}"], judge0Ids: [72]}
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
	g := &gate{release: make(chan struct{}, 100), stop: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := &queue.Worker{Q: q, Name: "t", Exec: g, Warm: warm{}, Slots: 1,
		Callback: func(s *queue.Submission) (queue.Notice, error) { return judge0.Callback(cfg, s) }}
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { close(g.stop); cancel(); <-done; q.Close() })
	d := judge0.New(cfg, failCore{}, q, log)
	r := httprouter.New()
	d.Routes(func(method, path string, _ bool, h http.HandlerFunc) { r.Handler(method, path, h) })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, g
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+"/j0"+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func token(t *testing.T, body string) string {
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil || m["token"] == "" {
		t.Fatalf("no token in %s", body)
	}
	return m["token"]
}

func TestTokenLifecycle(t *testing.T) {
	srv, g := server(t, 10)
	code, body := call(t, srv, "POST", "/submissions", `{"source_code": "one", "language_id": 71}`)
	if code != 201 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	first := token(t, body)
	_, body = call(t, srv, "POST", "/submissions", `{"source_code": "two", "language_id": 71}`)
	second := token(t, body)
	// The one worker's one slot holds the first (Processing) until released; the second is In
	// Queue.
	for {
		if _, b := call(t, srv, "GET", "/submissions/"+first+"?fields=status_id", ""); b == `{"status_id":2}` {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, b := call(t, srv, "GET", "/submissions/"+second+"?fields=status,stdout,time,finished_at", ""); b != `{"status":{"id":1,"description":"In Queue"},"stdout":null,"time":null,"finished_at":null}` {
		t.Errorf("queued: %s", b)
	}
	for range 3 {
		g.release <- struct{}{}
	}
	code, body = call(t, srv, "POST", "/submissions?wait=true&fields=stdout,status_id,language", `{"source_code": "three", "language_id": "113"}`)
	if code != 201 || body != `{"stdout":"three\n","status_id":3,"language":{"id":113,"name":"Python (3.11.2)"}}` {
		t.Errorf("wait=true: HTTP %d %s", code, body)
	}
	code, body = call(t, srv, "GET", "/submissions/batch?tokens="+first+","+second+",nope&fields=stdout,language_id&base64_encoded=true", "")
	if code != 200 || body != `{"submissions":[{"stdout":"b25lCg==\n","language_id":71},{"stdout":"dHdvCg==\n","language_id":71},null]}` {
		t.Errorf("batch get: HTTP %d %s", code, body)
	}
	_, body = call(t, srv, "POST", "/submissions", `{"source_code": "four", "language_id": 72}`)
	if _, b := call(t, srv, "GET", "/submissions/"+token(t, body)+"?fields=language", ""); b != `{"language":{"id":72,"name":"ruby (3.1.2)"}}` {
		t.Errorf("default language name: %s", b)
	}
}

func TestInternalErrorAndErrors(t *testing.T) {
	// queue.maxPending counts the jobs not finished: the one running and the one waiting.
	srv, g := server(t, 2)
	g.release <- struct{}{}
	code, body := call(t, srv, "POST", "/submissions?wait=true", `{"source_code": "fail", "language_id": 71}`)
	if code != 201 || !strings.Contains(body, `"status":{"id":13,"description":"Internal Error"}`) || !strings.Contains(body, `"message":"no sandbox could run the submission"`) {
		t.Errorf("internal error: HTTP %d %s", code, body)
	}
	cases := []struct{ method, path, body, want string }{
		{"GET", "/submissions/nope", "", `404 {"error":"Not Found","status":404}`},
		{"GET", "/submissions/nope?fields=x", "", `400 {"error":"invalid fields: [x]"}`},
		{"POST", "/submissions?fields=x", `{}`, `400 {"error":"invalid fields: [x]"}`},
		{"GET", "/submissions/batch", "", `400 {"error":"there should be at least one submission in a batch"}`},
		{"POST", "/submissions/batch", `{"submissions": []}`, `400 {"error":"there should be at least one submission in a batch"}`},
		{"GET", "/languages/99", "", `404 {"error":"Not Found","status":404}`},
		{"GET", "/languages", "", `200 [{"id":71,"name":"Python (3.11.2)"},{"id":113,"name":"Python (3.11.2)"},{"id":72,"name":"ruby (3.1.2)"}]`},
		{"GET", "/version", "", `200 1.13.1`},
	}
	for _, c := range cases {
		code, body := call(t, srv, c.method, c.path, c.body)
		if got := itoa(code) + " " + body; got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
	// One may wait (the worker is held by the first); the next is refused.
	if code, body := call(t, srv, "POST", "/submissions", `{"source_code": "a", "language_id": 71}`); code != 201 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	for {
		if _, b := call(t, srv, "GET", "/workers", ""); strings.Contains(b, `"working":1`) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if code, body := call(t, srv, "POST", "/submissions", `{"source_code": "b", "language_id": 71}`); code != 201 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	if code, body := call(t, srv, "POST", "/submissions", `{"source_code": "c", "language_id": 71}`); code != 503 || body != `{"error":"queue is full"}` {
		t.Errorf("full: HTTP %d %s", code, body)
	}
}
