package live_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/api"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/metrics"
	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/runner"
)

// echoExec stands in for the runner: an interactive run echoes each stdin chunk to stdout,
// byte by byte (so characters arrive cut in two), and ends at eof or a signal.
type echoExec struct{}

func (echoExec) Execute(ctx context.Context, p *runner.Plan, sink runner.Sink) (*runner.Result, error) {
	res := &runner.Result{JobID: p.JobID, Language: p.Language, Version: p.Version, Status: runner.OK}
	emit := func(ev runner.Event) error { ev.Stage = runner.StageRun; return sink.Event(ev) }
	if err := emit(runner.Event{Type: runner.StageStarted}); err != nil {
		return nil, err
	}
	console, ok := sink.(runner.Console)
	if ok && p.Job.Interactive {
	loop:
		for {
			select {
			case in := <-console.Input():
				switch in.Kind {
				case agentproto.KindStdin:
					for i := range in.Data {
						if err := emit(runner.Event{Type: runner.Stdout, Data: in.Data[i : i+1]}); err != nil {
							return nil, err
						}
						res.Run.Stdout = append(res.Run.Stdout, in.Data[i])
					}
				case agentproto.KindSignal:
					res.Run.Signal, res.Status = string(in.Data), runner.RuntimeError
					break loop
				default:
					break loop
				}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	step := res.Run
	step.Status = res.Status
	if err := emit(runner.Event{Type: runner.StageFinished, Step: &step}); err != nil {
		return nil, err
	}
	return res, nil
}

type fakePools struct{}

func (fakePools) Stats() []pool.Stats { return nil }
func (fakePools) AllReady() error     { return nil }

type pinger struct{}

func (pinger) Ping(context.Context) error { return nil }

func start(t *testing.T, extra string) string {
	url, _ := startServer(t, extra)
	return url
}

func startServer(t *testing.T, extra string) (string, *api.Server) {
	t.Helper()
	cfg, err := config.Parse([]byte(extra + `
languages:
  python:
    image: python
    version: 3.11.2
    source: main.py
    run: [python3, "{entry}"]
`))
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(cfg, api.Deps{Exec: echoExec{}, Local: echoExec{}, Pools: fakePools{}, Engine: pinger{}, Metrics: metrics.New(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, a
}

func dial(t *testing.T, url, path string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(url, "http")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func send(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// messages reads until the connection closes: the messages, and the close frame's code.
func messages(t *testing.T, c *websocket.Conn) ([]map[string]any, websocket.StatusCode) {
	t.Helper()
	var out []map[string]any
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return out, websocket.CloseStatus(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		out = append(out, m)
	}
}

func types(ms []map[string]any) string {
	var ts []string
	for _, m := range ms {
		ts = append(ts, m["type"].(string))
	}
	return strings.Join(ts, " ")
}

// The native protocol over a real socket: each character arrives whole though the run's output
// cut it in two, and the result is the answer of POST /api/v2/execute with its type.
func TestNativeSession(t *testing.T) {
	url := start(t, "")
	c := dial(t, url, "/api/v1/ws")
	send(t, c, `{"language": "python", "interactive": true, "files": [{"filename": "main.py", "code": "x"}]}`)
	send(t, c, `{"type": "stdin", "data": "né"}`)
	send(t, c, `{"type": "eof"}`)
	ms, code := messages(t, c)
	if code != websocket.StatusNormalClosure || types(ms) != "runtime stage stdout stdout exit result" {
		t.Fatalf("closed %d after %v", code, ms)
	}
	if ms[2]["data"] != "n" || ms[3]["data"] != "é" || ms[4]["status"] != "ok" {
		t.Errorf("output messages %v", ms[2:5])
	}
	if r, _ := ms[5]["result"].(map[string]any); ms[5]["succeeded"] != true || r["stdout"] != "né" || r["status"] != "ok" {
		t.Errorf("result %v", ms[5])
	}
}

func TestPistonSession(t *testing.T) {
	url := start(t, "")
	c := dial(t, url, "/api/v2/connect")
	send(t, c, `{"type": "init", "language": "python", "version": "3", "files": [{"content": "x"}], "stdin": "discarded"}`)
	send(t, c, `{"type": "data", "stream": "stdin", "data": "hi"}`)
	send(t, c, `{"type": "signal", "signal": "SIGINT"}`)
	ms, code := messages(t, c)
	if code != 4999 || types(ms) != "runtime stage data data exit" {
		t.Fatalf("closed %d after %v", code, ms)
	}
	if ms[2]["stream"] != "stdout" || ms[2]["data"] != "h" || ms[4]["signal"] != "SIGINT" || ms[4]["stage"] != "run" {
		t.Errorf("messages %v", ms)
	}
}

// Past interactive.maxSessions the upgrade is refused with 429 in the route's own error shape.
func TestMaxSessions(t *testing.T) {
	url := start(t, "interactive: {maxSessions: 1}\n")
	dial(t, url, "/api/v1/ws")
	for path, field := range map[string]string{"/api/v1/ws": "errorMessage", "/api/v2/connect": "message"} {
		_, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(url, "http")+path, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s: %v %+v", path, err, resp)
		}
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || !strings.Contains(body[field].(string), "too many live sessions") {
			t.Errorf("%s: %v %v", path, body, err)
		}
	}
}

// The event stream carries the native messages as events named by their type; an interactive
// request is refused before it starts.
func TestEventStream(t *testing.T) {
	url := start(t, "")
	post := func(body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/execute", strings.NewReader(body))
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := post(`{"language": "python", "code": "x"}`)
	b, _ := io.ReadAll(resp.Body)
	want := "event: runtime\ndata: {\"type\":\"runtime\""
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), want) || !strings.Contains(string(b), "event: exit\ndata: {\"type\":\"exit\"") ||
		!strings.Contains(string(b), "event: result\ndata: {\"type\":\"result\",\"succeeded\":true") {
		t.Errorf("HTTP %d:\n%s", resp.StatusCode, b)
	}
	resp = post(`{"language": "python", "code": "x", "interactive": true}`)
	if resp.StatusCode != 400 {
		t.Errorf("interactive event stream: HTTP %d", resp.StatusCode)
	}
}

// A server that shuts down ends its sessions with 1001; their runs stop.
func TestShutdownEndsSessions(t *testing.T) {
	url, a := startServer(t, "")
	c := dial(t, url, "/api/v1/ws")
	send(t, c, `{"language": "python", "interactive": true, "files": [{"filename": "main.py", "code": "x"}]}`)
	for _, want := range []string{"runtime", "stage"} {
		_, b, err := c.Read(context.Background())
		if err != nil || !strings.Contains(string(b), `"type":"`+want+`"`) {
			t.Fatalf("want %s: %s %v", want, b, err)
		}
	}
	a.CloseSessions()
	if ms, code := messages(t, c); code != websocket.StatusGoingAway || len(ms) != 0 {
		t.Errorf("closed %d after %v", code, ms)
	}
}
