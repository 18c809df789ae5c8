//go:build integration

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/docker/docker/errdefs"
)

// wsClient is a real WebSocket client (coder/websocket) of a live session.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	stdout strings.Builder
	stderr strings.Builder
	msgs   []map[string]any
}

func dialWS(t *testing.T, s *Server, path string, hdr http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+path, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}, resp, nil
}

func mustDial(t *testing.T, s *Server, path string) *wsClient {
	t.Helper()
	w, resp, err := dialWS(t, s, path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%+v)", path, err, resp)
	}
	return w
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			w.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write %s: %v", b, err)
	}
}

// next reads one message; output messages are added to stdout and stderr.
func (w *wsClient) next(within time.Duration) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("message is not JSON: %v: %s", err, b)
	}
	w.msgs = append(w.msgs, m)
	switch {
	case m["type"] == "stdout" || m["type"] == "data" && m["stream"] == "stdout":
		w.stdout.WriteString(m["data"].(string))
	case m["type"] == "stderr" || m["type"] == "data" && m["stream"] == "stderr":
		w.stderr.WriteString(m["data"].(string))
	}
	return m, nil
}

// until reads messages until cond holds for one, and returns it.
func (w *wsClient) until(what string, within time.Duration, cond func(m map[string]any) bool) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		m, err := w.next(time.Until(deadline))
		if err != nil {
			w.t.Fatalf("waiting for %s: %v; messages so far: %s", what, err, mustJSON(w.msgs))
		}
		if cond(m) {
			return m
		}
	}
}

func (w *wsClient) untilType(typ string, within time.Duration) map[string]any {
	w.t.Helper()
	return w.until(typ+" message", within, func(m map[string]any) bool { return m["type"] == typ })
}

// closed reads to the end and returns the close frame's status and reason.
func (w *wsClient) closed(within time.Duration) (websocket.StatusCode, string) {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, err := w.next(time.Until(deadline))
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			w.t.Fatalf("want a close frame, got %v; messages: %s", err, mustJSON(w.msgs))
		}
	}
}

func (w *wsClient) wantClose(code websocket.StatusCode, reason string) {
	w.t.Helper()
	got, why := w.closed(20 * time.Second)
	if got != code || !strings.Contains(why, reason) {
		w.t.Errorf("closed with %d %q, want %d with %q; messages: %s", got, why, code, reason, mustJSON(w.msgs))
	}
}

// interactive is a native first message.
func interactive(lang, file, code string) map[string]any {
	return map[string]any{"language": lang, "files": []map[string]any{{"filename": file, "code": code}}, "interactive": true}
}

// dialogues are programs that ask for a name and greet it, one per language.
var dialogues = []struct{ lang, file, code string }{
	{"python", "main.py", "name = input('Your name? ')\nprint(f'Hello, {name}!')\n"},
	// Node runs while its stdin is open: the program closes it (a native client may send eof).
	{"javascript", "main.js", "const rl = require('readline').createInterface({ input: process.stdin, output: process.stdout });\n" +
		"rl.question('Your name? ', (name) => {\n  console.log(`Hello, ${name}!`);\n  rl.close();\n  process.stdin.destroy();\n});\n"},
	{"java", "Main.java", "import java.util.Scanner;\npublic class Main {\n  public static void main(String[] args) {\n" +
		"    System.out.print(\"Your name? \");\n    System.out.flush();\n    String name = new Scanner(System.in).nextLine();\n" +
		"    System.out.println(\"Hello, \" + name + \"!\");\n  }\n}\n"},
	{"cpp", "main.cpp", "#include <iostream>\n#include <string>\nint main() {\n  std::cout << \"Your name? \" << std::flush;\n" +
		"  std::string name;\n  std::getline(std::cin, name);\n  std::cout << \"Hello, \" << name << \"!\" << std::endl;\n}\n"},
}

func TestLive(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python", "javascript", "java", "cpp"}, Edit: func(cfg map[string]any) {
		// Room for a client that stops reading to show that the server does not buffer for it.
		cfg["server"].(map[string]any)["outputLimitBytes"] = 256 << 20
	}})
	t.Run("dialogue", func(t *testing.T) {
		for _, d := range dialogues {
			t.Run(d.lang, func(t *testing.T) { testDialogue(t, s, d.lang, d.file, d.code) })
		}
	})
	t.Run("piston node client", func(t *testing.T) { testPistonNode(t, s) })
	t.Run("output before the end", func(t *testing.T) { testOutputBeforeTheEnd(t, s) })
	t.Run("event stream", func(t *testing.T) { testEventStream(t, s) })
	t.Run("sigint", func(t *testing.T) { testSigint(t, s) })
	t.Run("client never reads", func(t *testing.T) { testNeverReads(t, s) })
	t.Run("stdin flood", func(t *testing.T) { testStdinFlood(t, s) })
	t.Run("disconnect frees the container", func(t *testing.T) { testDisconnect(t, s) })
	t.Run("bad frames", func(t *testing.T) { testBadFrames(t, s) })
}

// testDialogue: a prompt, an answer, a reply, exit 0, and the result as POST /api/v2/execute
// answers it.
func testDialogue(t *testing.T, s *Server, lang, file, code string) {
	w := mustDial(t, s, "/api/v1/ws")
	w.send(interactive(lang, file, code))
	rt := w.untilType("runtime", 30*time.Second)
	if rt["language"] != lang || rt["version"] == "" || rt["jobId"] == "" {
		t.Errorf("runtime message: %v", rt)
	}
	w.until("the prompt", 60*time.Second, func(map[string]any) bool { return w.stdout.String() == "Your name? " })
	w.send(map[string]any{"type": "stdin", "data": "Ada\n"})
	exit := w.until("the run's exit", 30*time.Second, func(m map[string]any) bool { return m["type"] == "exit" && m["stage"] == "run" })
	if exit["status"] != "ok" || exit["exitCode"] != 0.0 {
		t.Errorf("exit: %v; stderr %q", exit, w.stderr.String())
	}
	if got := w.stdout.String(); got != "Your name? Hello, Ada!\n" {
		t.Errorf("stdout %q", got)
	}
	res := w.untilType("result", 10*time.Second)
	r, _ := res["result"].(map[string]any)
	if res["succeeded"] != true || r["status"] != "ok" || r["stdout"] != "Your name? Hello, Ada!\n" || r["language"] != lang {
		t.Errorf("result: %s", mustJSON(res))
	}
	w.wantClose(websocket.StatusNormalClosure, "completed")
}

// testOutputBeforeTheEnd: the program prints, then waits for input the client sends only after
// it has the first line: the line was streamed before the program could end.
func testOutputBeforeTheEnd(t *testing.T, s *Server) {
	w := mustDial(t, s, "/api/v1/ws")
	w.send(interactive("python", "main.py", "print('first', flush=True)\ninput()\nprint('second')\n"))
	w.until("the first line", 30*time.Second, func(map[string]any) bool { return w.stdout.String() == "first\n" })
	for _, m := range w.msgs {
		if m["type"] == "exit" || m["type"] == "result" {
			t.Fatalf("the run ended before its input: %s", mustJSON(w.msgs))
		}
	}
	w.send(map[string]any{"type": "stdin", "data": "go\n"})
	exit := w.untilType("exit", 10*time.Second)
	if got := w.stdout.String(); got != "first\nsecond\n" || exit["status"] != "ok" {
		t.Errorf("stdout %q, exit %v", got, exit)
	}
}

// testEventStream: POST /api/v1/execute with Accept: text/event-stream streams the same events;
// the first line arrives before the time the program prints just before its second write (the
// container shares the host's clock).
func testEventStream(t *testing.T, s *Server) {
	body := `{"language": "python", "code": "import time\nprint('first', flush=True)\ntime.sleep(0.5)\nprint(time.time_ns(), flush=True)"}`
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/execute", strings.NewReader(body))
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var (
		types   []string
		firstAt time.Time
		stdout  string
		result  map[string]any
	)
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var m map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m); err != nil {
				t.Fatalf("event data: %v: %s", err, line)
			}
			if m["type"] != event {
				t.Errorf("event %q carries type %v", event, m["type"])
			}
			types = append(types, event)
			if event == "stdout" {
				if firstAt.IsZero() {
					firstAt = time.Now()
				}
				stdout += m["data"].(string)
			}
			if event == "result" {
				result = m
			}
		}
	}
	want := "runtime stage stdout stdout exit result"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	ns, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil || lines[0] != "first" {
		t.Fatalf("stdout %q", stdout)
	}
	if !firstAt.Before(time.Unix(0, ns)) {
		t.Errorf("the first line arrived at %v, after the program's second write at %v", firstAt, time.Unix(0, ns))
	}
	if r, _ := result["result"].(map[string]any); result["succeeded"] != true || r["stdout"] != stdout {
		t.Errorf("result %s", mustJSON(result))
	}
	// Without the header nothing changes; an interactive request is refused on both.
	if r := s.Execute(t, "python", "print(1)", nil); r.Str("stdout") != "1\n" {
		t.Errorf("plain execute: %s", r.Raw)
	}
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/api/v1/execute", strings.NewReader(`{"language": "python", "code": "input()", "interactive": true}`))
	req.Header.Set("Accept", "text/event-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r := readResponse(t, resp); r.Code != 400 || !strings.Contains(r.Body["errorMessage"].(string), "/api/v1/ws") {
		t.Errorf("interactive event stream: HTTP %d %s", r.Code, r.Raw)
	}
	if r := s.Post(t, "/api/v1/execute", map[string]any{"language": "python", "code": "input()", "interactive": true}); r.Code != 400 {
		t.Errorf("interactive plain execute: HTTP %d %s", r.Code, r.Raw)
	}
}

// testSigint: SIGINT stops a looping program as Ctrl-C does (python raises KeyboardInterrupt).
func testSigint(t *testing.T, s *Server) {
	w := mustDial(t, s, "/api/v1/ws")
	w.send(interactive("python", "main.py", "import time\ni = 0\nwhile True:\n    print(i, flush=True)\n    i += 1\n    time.sleep(0.05)\n"))
	w.until("output", 30*time.Second, func(map[string]any) bool { return strings.Contains(w.stdout.String(), "2\n") })
	w.send(map[string]any{"type": "signal", "signal": "SIGINT"})
	exit := w.untilType("exit", 10*time.Second)
	if exit["status"] != "runtime_error" || !strings.Contains(w.stderr.String(), "KeyboardInterrupt") {
		t.Errorf("exit %v, stderr %q", exit, w.stderr.String())
	}
	w.untilType("result", 10*time.Second)
	w.wantClose(websocket.StatusNormalClosure, "")
}

// testNeverReads: a client that stops reading holds the program up; what it wrote meanwhile is
// what the buffers between them hold, far below the output cap it would otherwise reach.
func testNeverReads(t *testing.T, s *Server) {
	const stall = 3 * time.Second
	const bound = 32 << 20 // kernel socket buffers, the engine's pipes, one chunk in flight
	w := mustDial(t, s, "/api/v1/ws")
	w.send(interactive("python", "main.py", "import sys, time\npad = 'x' * 1000\nwhile True:\n    sys.stdout.write(f'{time.time_ns()} {pad}\\n')\n"))
	stalledUntil := time.Now().Add(stall)
	time.Sleep(stall)
	var (
		before int // bytes the program wrote before the client read again
		line   string
		after  bool
	)
	for !after {
		m, err := w.next(30 * time.Second)
		if err != nil {
			t.Fatalf("reading after the stall: %v (%d bytes before it)", err, before)
		}
		if m["type"] == "exit" {
			t.Fatalf("the run ended: %v (%d bytes written during the stall)", m, before)
		}
		if m["type"] != "stdout" {
			continue
		}
		line += m["data"].(string)
		for {
			i := strings.IndexByte(line, '\n')
			if i < 0 {
				break
			}
			ns, err := strconv.ParseInt(strings.Fields(line[:i])[0], 10, 64)
			if err != nil {
				t.Fatalf("line %q", line[:i])
			}
			if time.Unix(0, ns).After(stalledUntil) {
				after = true
				break
			}
			before += i + 1
			line = line[i+1:]
		}
	}
	t.Logf("written while the client did not read for %v: %d bytes", stall, before)
	if before > bound {
		t.Errorf("the program wrote %d bytes while the client did not read: the server buffered them (bound %d)", before, bound)
	}
	w.send(map[string]any{"type": "signal", "signal": "SIGKILL"})
	exit := w.untilType("exit", 30*time.Second)
	if exit["signal"] != "SIGKILL" {
		t.Errorf("exit %v", exit)
	}
}

// testStdinFlood: input the program reads arrives whole; input it does not read holds the client
// back instead of piling up in the server.
func testStdinFlood(t *testing.T, s *Server) {
	chunk := strings.Repeat("y", 64<<10)
	t.Run("read", func(t *testing.T) {
		const n = 256 // 16 MiB
		w := mustDial(t, s, "/api/v1/ws")
		w.send(interactive("python", "main.py", "import sys\nn = 0\nwhile True:\n    b = sys.stdin.buffer.read1(1 << 16)\n    if not b:\n        break\n    n += len(b)\nprint(n)\n"))
		w.untilType("stage", 30*time.Second)
		for range n {
			w.send(map[string]any{"type": "stdin", "data": chunk})
		}
		w.send(map[string]any{"type": "eof"})
		w.untilType("result", 60*time.Second)
		if got, want := strings.TrimSpace(w.stdout.String()), strconv.Itoa(n*len(chunk)); got != want {
			t.Errorf("the program read %s bytes, want %s", got, want)
		}
	})
	t.Run("not read", func(t *testing.T) {
		const bound = 32 << 20
		w := mustDial(t, s, "/api/v1/ws")
		w.send(interactive("python", "main.py", "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"))
		w.until("the program", 30*time.Second, func(map[string]any) bool { return w.stdout.String() == "sleeping\n" })
		sent := 0
		for sent <= 2*bound {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := w.c.Write(ctx, websocket.MessageText, []byte(`{"type":"stdin","data":"`+chunk+`"}`))
			cancel()
			if err != nil {
				break // held back
			}
			sent += len(chunk)
		}
		t.Logf("stdin accepted before the writes blocked: %d bytes", sent)
		if sent > bound {
			t.Errorf("the server took %d bytes of stdin the program does not read (bound %d)", sent, bound)
		}
	})
}

// testDisconnect: a client that drops the connection stops the run; its container is removed at
// once (checked on the engine: the program prints its host name, the container's short ID).
func testDisconnect(t *testing.T, s *Server) {
	w := mustDial(t, s, "/api/v1/ws")
	w.send(interactive("python", "main.py", "import socket\nprint(socket.gethostname(), flush=True)\ninput()\n"))
	w.until("the host name", 30*time.Second, func(map[string]any) bool { return strings.HasSuffix(w.stdout.String(), "\n") })
	id := strings.TrimSpace(w.stdout.String())
	cli := dockerClient(t)
	defer cli.Close()
	if _, err := cli.ContainerInspect(context.Background(), id); err != nil {
		t.Fatalf("the running container %s: %v", id, err)
	}
	dropped := time.Now()
	w.c.CloseNow()
	for {
		_, err := cli.ContainerInspect(context.Background(), id)
		if errdefs.IsNotFound(err) {
			t.Logf("container removed %v after the disconnect", time.Since(dropped).Round(time.Millisecond))
			return
		}
		if time.Since(dropped) > 15*time.Second {
			t.Fatalf("container %s still there 15 s after the client dropped the connection (%v)", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testBadFrames: every message the native protocol refuses closes with 4400 and says why in an
// error message first.
func testBadFrames(t *testing.T, s *Server) {
	first := []struct{ name, msg, reason string }{
		{"not JSON", "hello", "malformed JSON"},
		{"a typed message first", `{"type": "stdin", "data": "x"}`, "the first message is the request"},
		{"unknown field", `{"language": "python", "code": "print(1)", "files": []}`, "unknown field"},
		{"unknown language", `{"language": "brainfuck", "files": [{"filename": "a", "code": "x"}]}`, "unknown language"},
		{"tests in an interactive run", `{"language": "python", "files": [{"filename": "a.py", "code": "x"}], "interactive": true, "tests": [{"stdin": ""}]}`, "no tests"},
	}
	for _, c := range first {
		t.Run(c.name, func(t *testing.T) {
			w := mustDial(t, s, "/api/v1/ws")
			w.send(c.msg)
			w.wantClose(4400, c.reason)
			if len(w.msgs) != 1 || w.msgs[0]["type"] != "error" || !strings.Contains(w.msgs[0]["message"].(string), c.reason) {
				t.Errorf("messages: %s", mustJSON(w.msgs))
			}
		})
	}
	t.Run("binary", func(t *testing.T) {
		w := mustDial(t, s, "/api/v1/ws")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.c.Write(ctx, websocket.MessageBinary, []byte("{}"))
		w.wantClose(4400, "text")
	})
	later := []struct{ name, msg, reason string }{
		{"not JSON", "{", "malformed JSON"},
		{"no type", `{"data": "x"}`, "needs a \"type\""},
		{"unknown type", `{"type": "kill"}`, "unknown message type"},
		{"unknown field", `{"type": "stdin", "data": "x", "stream": "stdin"}`, "unknown field"},
		{"stdin without data", `{"type": "stdin"}`, "needs \"data\""},
		{"data not a string", `{"type": "stdin", "data": 5}`, "must be string"},
		{"bad signal", `{"type": "signal", "signal": "SIGSTOP"}`, "not one of"},
	}
	for _, c := range later {
		t.Run("later "+c.name, func(t *testing.T) {
			w := mustDial(t, s, "/api/v1/ws")
			w.send(interactive("python", "main.py", "input()"))
			w.untilType("stage", 30*time.Second)
			w.send(c.msg)
			w.wantClose(4400, c.reason)
		})
	}
	t.Run("stdin after eof", func(t *testing.T) {
		w := mustDial(t, s, "/api/v1/ws")
		w.send(interactive("python", "main.py", "import time\ntime.sleep(30)"))
		w.untilType("stage", 30*time.Second)
		w.send(map[string]any{"type": "eof"})
		w.send(map[string]any{"type": "stdin", "data": "late"})
		w.wantClose(4400, "stdin is closed")
	})
	t.Run("stdin to a run that is not interactive", func(t *testing.T) {
		w := mustDial(t, s, "/api/v1/ws")
		req := interactive("python", "main.py", "import time\ntime.sleep(30)")
		delete(req, "interactive")
		w.send(req)
		w.untilType("stage", 30*time.Second)
		w.send(map[string]any{"type": "stdin", "data": "x"})
		w.wantClose(4400, "does not read input")
	})
	t.Run("a run that is not interactive streams", func(t *testing.T) {
		w := mustDial(t, s, "/api/v1/ws")
		w.send(map[string]any{"language": "python", "files": []map[string]any{{"filename": "main.py", "code": "print(input())"}}, "stdin": "given"})
		res := w.untilType("result", 30*time.Second)
		if r, _ := res["result"].(map[string]any); r["stdout"] != "given\n" || w.stdout.String() != "given\n" {
			t.Errorf("result %s", mustJSON(res))
		}
		w.wantClose(websocket.StatusNormalClosure, "")
	})
}

// TestLiveLimits: the session limits, on a server whose limits are short.
func TestLiveLimits(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, Edit: func(cfg map[string]any) {
		cfg["interactive"] = map[string]any{"maxSessions": 10, "idleMs": 3000, "maxWallMs": 4000, "allowedOrigins": []string{"allowed.example"}}
	}})
	t.Run("idle", func(t *testing.T) {
		w := mustDial(t, s, "/api/v1/ws")
		w.send(interactive("python", "main.py", "print('waiting', flush=True)\ninput()\n"))
		w.untilType("stdout", 30*time.Second)
		w.wantClose(4408, "idle")
		if m := w.msgs[len(w.msgs)-1]; m["type"] != "error" || !strings.Contains(m["message"].(string), "idle limit") {
			t.Errorf("messages: %s", mustJSON(w.msgs))
		}
	})
	t.Run("idle piston", func(t *testing.T) {
		w := mustDial(t, s, "/api/v2/connect")
		w.send(map[string]any{"type": "init", "language": "python", "version": "*", "files": []map[string]any{{"content": "input()"}}})
		w.untilType("stage", 30*time.Second)
		w.wantClose(4002, "Notified Error")
		if m := w.msgs[len(w.msgs)-1]; m["type"] != "error" || !strings.Contains(m["message"].(string), "idle limit") {
			t.Errorf("messages: %s", mustJSON(w.msgs))
		}
	})
	t.Run("no request", func(t *testing.T) {
		w := mustDial(t, s, "/api/v1/ws")
		w.wantClose(4408, "no request")
	})
	t.Run("wall", func(t *testing.T) {
		// Output every 100 ms keeps the session from being idle; the wall limit stops it.
		w := mustDial(t, s, "/api/v1/ws")
		w.send(interactive("python", "main.py", "import time\nwhile True:\n    print('.', flush=True)\n    time.sleep(0.1)\n"))
		exit := w.untilType("exit", 30*time.Second)
		if exit["status"] != "time_limit_exceeded" || exit["wallTimeMs"].(float64) < 4000 {
			t.Errorf("exit %v", exit)
		}
		res := w.untilType("result", 5*time.Second)
		if r, _ := res["result"].(map[string]any); !strings.Contains(r["errorMessage"].(string), "wall clock") {
			t.Errorf("result %s", mustJSON(res))
		}
		w.wantClose(websocket.StatusNormalClosure, "")
	})
	t.Run("11 sessions", func(t *testing.T) {
		var open []*wsClient
		for i := range 10 {
			w, resp, err := dialWS(t, s, "/api/v1/ws", nil)
			if err != nil {
				t.Fatalf("session %d: %v (%+v)", i+1, err, resp)
			}
			open = append(open, w)
		}
		_, resp, err := dialWS(t, s, "/api/v2/connect", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("the 11th session: %v %+v", err, resp)
		}
		for _, w := range open {
			w.c.CloseNow()
		}
		waitFor(t, 10*time.Second, "a session after the others closed", func() bool {
			w, _, err := dialWS(t, s, "/api/v1/ws", nil)
			if err == nil {
				w.c.CloseNow()
			}
			return err == nil
		})
		if v := sample(t, s, `codeexec_rejected_requests_total{reason="sessions_full"}`); v < 1 {
			t.Errorf("sessions_full rejections: %v", v)
		}
	})
	t.Run("origin", func(t *testing.T) {
		if _, resp, err := dialWS(t, s, "/api/v1/ws", http.Header{"Origin": {"http://elsewhere.example"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("a page of another host: %v %+v", err, resp)
		}
		if _, _, err := dialWS(t, s, "/api/v1/ws", http.Header{"Origin": {"https://allowed.example"}}); err != nil {
			t.Errorf("an allowed origin: %v", err)
		}
	})
	t.Run("execution log and metrics", func(t *testing.T) {
		w := mustDial(t, s, "/api/v1/ws")
		req := interactive("python", "main.py", "print(input()[::-1])")
		req["saveMetric"] = true
		w.send(req)
		rt := w.untilType("runtime", 30*time.Second)
		w.send(map[string]any{"type": "stdin", "data": "typed\n"})
		w.untilType("result", 30*time.Second)
		rec := waitExecution(t, s, rt["jobId"].(string))
		if rec["interactive"] != true || rec["typed"] != "typed\n" || rec["output"] != "depyt\n" {
			t.Errorf("record %v", rec)
		}
		if v := sample(t, s, `codeexec_live_streamed_bytes_total{transport="ws"}`); v < 6 {
			t.Errorf("streamed bytes %v", v)
		}
		if v := sample(t, s, `codeexec_live_session_duration_seconds_count{transport="ws"}`); v < 1 {
			t.Errorf("session durations %v", v)
		}
		waitFor(t, 5*time.Second, "no session open", func() bool {
			return sample(t, s, `codeexec_live_sessions_open{transport="ws"}`) == 0
		})
	})
}

// sample reads one sample (labels included in name) from /metrics.
func sample(t *testing.T, s *Server, name string) float64 {
	t.Helper()
	return metricValue(t, s, regexp.QuoteMeta(name))
}
