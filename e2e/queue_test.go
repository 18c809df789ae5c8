//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// natsNode is a real nats-server process (bin/nats-server, installed by make).
type natsNode struct {
	name        string
	port, route int
	dir         string
	routes      string
	cmd         *exec.Cmd
	exited      chan struct{}
	logs        *lockedWriter
	buf         *strings.Builder
}

func natsBinary(t *testing.T) string {
	bin := filepath.Join(repoRoot, "bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: `make bin/nats-server` installs it (make test does)", bin)
	}
	return bin
}

// startNATS starts n servers with JetStream; with n > 1 they form a cluster with routes to
// each other on 127.0.0.1. It returns the nodes and the client URL list.
func startNATS(t *testing.T, n int) ([]*natsNode, string) {
	nodes := make([]*natsNode, n)
	var routes, urls []string
	for i := range nodes {
		nodes[i] = &natsNode{name: fmt.Sprintf("n%d", i+1), port: freePort(t), route: freePort(t), dir: t.TempDir()}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", nodes[i].route))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", nodes[i].port))
	}
	for _, nd := range nodes {
		if n > 1 {
			nd.routes = strings.Join(routes, ",")
		}
		nd.start(t)
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.kill()
		}
		if t.Failed() {
			for _, nd := range nodes {
				t.Logf("nats %s log (tail):\n%s", nd.name, tail(nd.log(), 3000))
			}
		}
	})
	return nodes, strings.Join(urls, ",")
}

func (nd *natsNode) start(t *testing.T) {
	args := []string{"-n", nd.name, "-a", "127.0.0.1", "-p", fmt.Sprint(nd.port), "-js", "-sd", nd.dir}
	if nd.routes != "" {
		args = append(args, "-cluster_name", "codeexec", "-cluster", fmt.Sprintf("nats://127.0.0.1:%d", nd.route), "-routes", nd.routes)
	}
	nd.cmd = exec.Command(natsBinary(t), args...)
	if nd.buf == nil {
		nd.buf = &strings.Builder{}
		nd.logs = &lockedWriter{w: nd.buf, mu: &sync.Mutex{}}
	}
	nd.cmd.Stdout, nd.cmd.Stderr = nd.logs, nd.logs
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	nd.exited = make(chan struct{})
	go func() { _ = nd.cmd.Wait(); close(nd.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", nd.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats %s does not listen: %s", nd.name, nd.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (nd *natsNode) log() string {
	nd.logs.mu.Lock()
	defer nd.logs.mu.Unlock()
	return nd.buf.String()
}

// kill stops the node with SIGKILL, as a crash.
func (nd *natsNode) kill() {
	if nd.cmd == nil || nd.cmd.Process == nil {
		return
	}
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.exited
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// callbackSink is an HTTP server on 127.0.0.1 that records the callbacks it receives.
type callbackSink struct {
	URL  string
	mu   sync.Mutex
	got  map[string][]map[string]any
	srv  *http.Server
	addr string
}

func newCallbackSink(t *testing.T) *callbackSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &callbackSink{URL: "http://" + ln.Addr().String() + "/done", got: map[string][]map[string]any{}}
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil || r.Method != http.MethodPost {
			t.Errorf("callback: %s %v %.300s", r.Method, err, b)
			return
		}
		tok, _ := body["token"].(string)
		c.mu.Lock()
		c.got[tok] = append(c.got[tok], body)
		c.mu.Unlock()
	})}
	go c.srv.Serve(ln)
	t.Cleanup(func() { c.srv.Close() })
	return c
}

func (c *callbackSink) count(token string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got[token])
}

// submit posts an asynchronous submission and requires 202 with a token.
func submit(t *testing.T, s *Server, body map[string]any) string {
	t.Helper()
	r := s.Post(t, "/api/v1/submissions", body)
	// A 503 with Retry-After (the queue's cluster electing a leader) is retried as a client would.
	for tries := 0; r.Code == 503 && r.Header.Get("Retry-After") != "" && tries < 10; tries++ {
		t.Logf("submit: 503 %.200s; retrying", r.Raw)
		time.Sleep(time.Second)
		r = s.Post(t, "/api/v1/submissions", body)
	}
	tok, _ := r.Body["token"].(string)
	if r.Code != 202 || tok == "" || r.Body["status"] != "queued" {
		t.Fatalf("submit: HTTP %d %.300s", r.Code, r.Raw)
	}
	return tok
}

// awaitDone polls GET ?wait=true until the submission is done or the deadline passes.
func awaitDone(t *testing.T, s *Server, token string, deadline time.Time) *Response {
	t.Helper()
	var last any
	for {
		resp, err := http.Get(s.URL + "/api/v1/submissions/" + token + "?wait=true")
		last = err
		if err == nil {
			r := readResponse(t, resp)
			if r.Code == 200 && r.Body["status"] == "done" {
				return r
			}
			if r.Code != 200 && r.Code != 503 {
				t.Fatalf("GET %s: HTTP %d %.300s", token, r.Code, r.Raw)
			}
			last = fmt.Sprintf("HTTP %d %.300s", r.Code, r.Raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("submission %s not done in time (last: %v)", token, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stdoutOf is the stdout inside a done submission's result (the /api/v2/execute answer).
func stdoutOf(r *Response) (string, bool) {
	res, _ := r.Body["result"].(map[string]any)
	inner, _ := res["result"].(map[string]any)
	out, _ := inner["stdout"].(string)
	return out, res["succeeded"] == true && inner["status"] == "ok"
}

// TestQueueSubmissions: the asynchronous API in the default role (embedded queue): 202 and a
// token, the result by GET and by callback, bad input, a full queue, and a restart that keeps
// queued jobs and stored results.
func TestQueueSubmissions(t *testing.T) {
	sink := newCallbackSink(t)
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 1, Edit: func(cfg map[string]any) {
		cfg["server"].(map[string]any)["maxConcurrent"] = 1
		q := cfg["queue"].(map[string]any)
		q["maxPending"] = 2
		q["ackWaitMs"] = 3000
		q["callbackAllow"] = []string{"127.0.0.1"}
	}})
	deadline := time.Now().Add(2 * time.Minute)

	// v1 shape with a callback, v2 shape without.
	tok := submit(t, s, map[string]any{"language": "python", "code": `print("async")`, "callbackUrl": sink.URL})
	r := awaitDone(t, s, tok, deadline)
	if out, ok := stdoutOf(r); !ok || out != "async\n" || r.Body["token"] != tok {
		t.Fatalf("done submission: %.500s", r.Raw)
	}
	tok2 := submit(t, s, map[string]any{"language": "python", "files": []map[string]any{{"filename": "a.py", "code": "print(6*7)"}}})
	if out, ok := stdoutOf(awaitDone(t, s, tok2, deadline)); !ok || out != "42\n" {
		t.Fatalf("v2-shaped submission: %q", out)
	}
	// The callback carries what GET answers, once.
	for time.Now().Before(deadline) && sink.count(tok) == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if n := sink.count(tok); n != 1 {
		t.Fatalf("%d callbacks for %s, want 1", n, tok)
	}
	if got := sink.got[tok][0]; got["status"] != "done" || got["result"].(map[string]any)["succeeded"] != true {
		t.Errorf("callback body: %v", got)
	}

	// Bad input: each a 4xx naming the problem.
	for _, c := range []struct {
		method, path string
		body         any
		code         int
		says         string
	}{
		{"GET", "/api/v1/submissions/00000000-0000-0000-0000-000000000000", nil, 404, "no submission"},
		{"GET", "/api/v1/submissions/" + tok + "?wait=maybe", nil, 400, "wait"},
		{"POST", "/api/v1/submissions", map[string]any{"language": "python", "code": "1", "callbackUrl": "ftp://127.0.0.1/x"}, 400, "http or https"},
		{"POST", "/api/v1/submissions", map[string]any{"language": "python", "code": "1", "callbackUrl": "http://169.254.169.254/latest/meta-data"}, 400, "callbackAllow"},
		{"POST", "/api/v1/submissions", map[string]any{"language": "python", "code": "1", "callbackUrl": "::not a url"}, 400, "not a URL"},
		{"POST", "/api/v1/submissions", map[string]any{"language": "brainfuck", "code": "1"}, 400, "unknown language"},
		{"POST", "/api/v1/submissions", map[string]any{"language": "python"}, 400, "code is required"},
	} {
		var resp *Response
		if c.method == "GET" {
			resp = s.Get(t, c.path)
		} else {
			resp = s.Post(t, c.path, c.body)
		}
		msg, _ := resp.Body["errorMessage"].(string)
		if resp.Code != c.code || !strings.Contains(msg, c.says) || resp.Body["succeeded"] != false {
			t.Errorf("%s %s %v: HTTP %d %.300s; want %d naming %q", c.method, c.path, c.body, resp.Code, resp.Raw, c.code, c.says)
		}
	}

	// A full queue: one job runs (it stays in the stream until acknowledged), one waits, the
	// third is refused with 429 and Retry-After.
	slow := map[string]any{"language": "python", "code": "import time\ntime.sleep(1.5)\nprint('slow')"}
	running, waiting := submit(t, s, slow), submit(t, s, slow)
	full := s.Post(t, "/api/v1/submissions", slow)
	if full.Code != 429 || full.Header.Get("Retry-After") == "" || !strings.Contains(fmt.Sprint(full.Body["errorMessage"]), "queue is full") {
		t.Errorf("third submission on a queue of 2: HTTP %d %q %.300s", full.Code, full.Header.Get("Retry-After"), full.Raw)
	}

	// SIGKILL with a job running and one queued; after the restart both finish and the stored
	// result still answers.
	s.Kill()
	s.Restart(t)
	waitReady(t, s, 2*time.Minute)
	for _, tk := range []string{running, waiting} {
		if out, ok := stdoutOf(awaitDone(t, s, tk, deadline)); !ok || out != "slow\n" {
			t.Errorf("after the restart, %s: %q", tk, out)
		}
	}
	if out, _ := stdoutOf(s.Get(t, "/api/v1/submissions/"+tok2)); out != "42\n" {
		t.Errorf("stored result after the restart: %q", out)
	}
}

// TestQueueCallbacksOffByDefault: with the repository's config, a callback URL is refused.
func TestQueueCallbacksOffByDefault(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python"}})
	r := s.Post(t, "/api/v1/submissions", map[string]any{"language": "python", "code": "1", "callbackUrl": "http://127.0.0.1:9/x"})
	if msg, _ := r.Body["errorMessage"].(string); r.Code != 400 || !strings.Contains(msg, "callbacks are off") {
		t.Fatalf("HTTP %d %.300s", r.Code, r.Raw)
	}
}

// TestQueueNATSDown: role api on an external NATS server that goes away: /ready and
// submissions answer 503 naming the queue; when it is back, both recover and a token from
// before still answers.
func TestQueueNATSDown(t *testing.T) {
	nodes, url := startNATS(t, 1)
	api := StartServer(t, ServerOptions{Languages: []string{"python"}, Args: []string{"-role", "api"}, Env: []string{"NATS_URL=" + url}})
	tok := submit(t, api, map[string]any{"language": "python", "code": "print(1)"})

	nodes[0].kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := api.Get(t, "/ready")
		if r.Code == 503 && strings.Contains(string(r.Raw), "queue") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready while NATS is down: HTTP %d %.300s", r.Code, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := api.Post(t, "/api/v1/submissions", map[string]any{"language": "python", "code": "print(2)"})
	if msg, _ := r.Body["errorMessage"].(string); r.Code != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(msg, "NATS") {
		t.Fatalf("submission while NATS is down: HTTP %d %.300s", r.Code, r.Raw)
	}
	if r := api.Post(t, "/api/v1/execute", map[string]any{"language": "python", "code": "print(2)"}); r.Code != 503 {
		t.Errorf("execute while NATS is down: HTTP %d %.300s", r.Code, r.Raw)
	}
	if r := api.Get(t, "/api/v1/submissions/"+tok); r.Code != 503 {
		t.Errorf("GET while NATS is down: HTTP %d %.300s", r.Code, r.Raw)
	}

	nodes[0].start(t)
	waitReady(t, api, 30*time.Second)
	if r := api.Get(t, "/api/v1/submissions/"+tok); r.Code != 200 || r.Body["status"] != "queued" {
		t.Errorf("token from before the outage: HTTP %d %.300s", r.Code, r.Raw)
	}
	submit(t, api, map[string]any{"language": "python", "code": "print(3)"})
}

// TestQueueCluster: three NATS servers, one api, two workers on this engine. 100 submissions in
// three languages each get exactly one correct result (one callback each) while a worker is
// SIGKILLed mid-run, a NATS node is killed and the api restarts.
func TestQueueCluster(t *testing.T) {
	begin := time.Now()
	nodes, url := startNATS(t, 3)
	sink := newCallbackSink(t)
	edit := func(cfg map[string]any) {
		cfg["server"].(map[string]any)["maxConcurrent"] = 2
		q := cfg["queue"].(map[string]any)
		q["ackWaitMs"] = 3000
		q["callbackAllow"] = []string{"127.0.0.1"}
	}
	env := []string{"NATS_URL=" + url}
	langs := []string{"python", "javascript", "ruby"}
	api := StartServer(t, ServerOptions{Languages: langs, Args: []string{"-role", "api"}, Env: env, Edit: edit})
	workers := make([]*Server, 2)
	for i := range workers {
		workers[i] = StartServer(t, ServerOptions{Languages: langs, PoolSize: 2, Args: []string{"-role", "worker"}, Env: env, Edit: edit})
	}
	t.Logf("cluster up in %v", time.Since(begin).Round(time.Millisecond))
	programs := map[string]string{
		"python":     "import time\ntime.sleep(0.2)\nprint('r%d')",
		"javascript": "setTimeout(() => console.log('r%d'), 200)",
		"ruby":       "sleep 0.2\nputs 'r%d'",
	}
	const n = 100
	tokens := make([]string, n)
	send := func(i int) {
		lang := langs[i%len(langs)]
		tokens[i] = submit(t, api, map[string]any{"language": lang, "code": fmt.Sprintf(programs[lang], i), "callbackUrl": sink.URL})
	}
	for i := 0; i < 50; i++ {
		send(i)
	}
	// A worker dies while it runs jobs: they come back to the other after the ack wait.
	for !strings.Contains(workers[0].Logs(), "msg=execution") {
		time.Sleep(20 * time.Millisecond)
	}
	workers[0].Kill()
	t.Logf("worker %s killed at %v", workers[0].Instance, time.Since(begin).Round(time.Millisecond))
	// A NATS node dies: the streams have three replicas.
	nodes[2].kill()
	for i := 50; i < 80; i++ {
		send(i)
	}
	// The api restarts: the tokens it gave still answer.
	api.Stop(t)
	api.Restart(t)
	waitReady(t, api, time.Minute)
	for i := 80; i < n; i++ {
		send(i)
	}
	// The killed worker comes back (and removes what its crash left).
	workers[0].Restart(t)

	deadline := time.Now().Add(3 * time.Minute)
	for i, tok := range tokens {
		r := awaitDone(t, api, tok, deadline)
		if out, ok := stdoutOf(r); !ok || out != fmt.Sprintf("r%d\n", i) {
			t.Errorf("submission %d (%s): %.400s", i, langs[i%len(langs)], r.Raw)
		}
	}
	// Exactly one final result each. Its callback is sent at least once: a second one only
	// when a worker died between a callback's answer and recording it (at most its jobs in
	// flight), and then with the same result.
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		missing := 0
		for _, tok := range tokens {
			if sink.count(tok) == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
	}
	ranBy := map[string]int{}
	twice := 0
	for i, tok := range tokens {
		r := api.Get(t, "/api/v1/submissions/"+tok)
		res, _ := r.Body["result"].(map[string]any)["result"].(map[string]any)
		if id, _ := res["jobId"].(string); id != tok {
			t.Errorf("submission %d: result of job %q", i, id)
		}
		sink.mu.Lock()
		got := sink.got[tok]
		sink.mu.Unlock()
		switch {
		case len(got) == 0:
			t.Errorf("submission %d: no callback", i)
		case len(got) > 1:
			twice++
		}
		for _, body := range got {
			if fmt.Sprint(body) != fmt.Sprint(map[string]any(r.Body)) {
				t.Errorf("submission %d: a callback differs from the stored result:\n%v\n%v", i, body, r.Body)
			}
		}
	}
	if twice > 2 {
		t.Errorf("%d submissions got two callbacks; only the killed worker's jobs in flight may", twice)
	}
	for _, w := range workers {
		ranBy[w.Instance] = strings.Count(w.Logs(), "msg=execution ")
	}
	t.Logf("100 submissions done in %v; executions logged per worker %v (a killed worker's are lost with it)", time.Since(begin).Round(time.Millisecond), ranBy)
	if !strings.Contains(workers[1].Logs(), "msg=execution ") {
		t.Errorf("the second worker ran nothing")
	}
	judge0OnTheCluster(t, api, workers)
	versionsOnTheCluster(t, api)
}

// versionsOnTheCluster: an api process has no engine to read the images' versions from; it
// shows the workers' (their heartbeats carry them) in every dialect, and Piston's version match
// works on it.
func versionsOnTheCluster(t *testing.T, api *Server) {
	cli := dockerClient(t)
	defer cli.Close()
	img, _, err := cli.ImageInspectWithRaw(context.Background(), "codeexec/python")
	if err != nil {
		t.Fatal(err)
	}
	want := img.Config.Labels["codeexec.version"]
	if want == "" {
		t.Fatalf("codeexec/python has no codeexec.version label")
	}
	got := ""
	for _, l := range parseArray(t, api.Get(t, "/api/v1/languages").Raw) {
		if l["name"] == "python" {
			got, _ = l["version"].(string)
		}
	}
	if got != want {
		t.Errorf("api shows python %q, the workers' image is %q", got, want)
	}
	r := api.Post(t, "/api/v2/execute", map[string]any{"language": "python", "version": want,
		"files": []map[string]any{{"content": "print('v')"}}})
	if run, _ := r.Body["run"].(map[string]any); r.Code != 200 || run["stdout"] != "v\n" {
		t.Errorf("Piston execute with version %s on the api: HTTP %d %.300s", want, r.Code, r.Raw)
	}
	found := false
	for _, l := range parseArray(t, api.Get(t, "/judge0/languages").Raw) {
		if name, _ := l["name"].(string); strings.HasPrefix(name, "Python (") {
			found = true
			if !strings.Contains(name, want) {
				t.Errorf("Judge0 language %q does not name the image's version %s", name, want)
			}
		}
	}
	if !found {
		t.Errorf("Judge0's languages on the api list no Python")
	}
}

// judge0OnTheCluster: Judge0's tokens are the queue's submissions in role api too: a token made
// on the api is run by a worker and answered by the api, its callback is Judge0's PUT sent by the
// worker, and /workers counts the workers' slots.
func judge0OnTheCluster(t *testing.T, api *Server, workers []*Server) {
	puts := make(chan string, 4)
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		puts <- r.Method + " " + string(b)
	}))
	defer listener.Close()
	a := judge0Call(t, api, "POST", "/submissions?wait=true&fields=token,stdout,status_id", map[string]any{
		"language_id": 71, "source_code": "print(input())", "stdin": "cluster", "expected_output": "cluster", "callback_url": listener.URL + "/j0"})
	m := a.obj()
	tok, _ := m["token"].(string)
	if a.code != 201 || m["stdout"] != "cluster\n" || m["status_id"] != 3.0 || tok == "" {
		t.Fatalf("judge0 on role api: HTTP %d %s", a.code, a.raw)
	}
	if g := judge0Call(t, api, "GET", "/submissions/"+tok+"?fields=status", nil); g.code != 200 || !strings.Contains(string(g.raw), `"description":"Accepted"`) {
		t.Errorf("GET the token: HTTP %d %s", g.code, g.raw)
	}
	select {
	case got := <-puts:
		if !strings.HasPrefix(got, "PUT ") || !strings.Contains(got, `"token":"`+tok+`"`) || !strings.Contains(got, `"stdout":"Y2x1c3Rlcgo=\n"`) {
			t.Errorf("callback: %.400s", got)
		}
	case <-time.After(time.Minute):
		t.Errorf("no Judge0 callback")
	}
	if w := judge0Call(t, api, "GET", "/workers", nil).arr(); len(w) != 1 || w[0].(map[string]any)["available"] != float64(2*len(workers)) {
		t.Errorf("/workers: %v, want the slots of %d workers", w, len(workers))
	}
}
