//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Faults: overload, a crashed server, a Docker engine that goes away, and two servers sharing
// one engine. Every answer must be a correct 200 or a clean 4xx/5xx with Retry-After, never a
// hang, and no container may outlive its server.

// faultClient bounds every request: a hang is a failure, not a stuck test.
var faultClient = &http.Client{Timeout: 60 * time.Second}

// faultPost sends a JSON body and returns the code, headers, decoded body and how long it took.
func faultPost(url string, body any) (*Response, time.Duration, error) {
	b, _ := json.Marshal(body)
	begin := time.Now()
	resp, err := faultClient.Post(url, "application/json", strings.NewReader(string(b)))
	if err != nil {
		return nil, time.Since(begin), err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	took := time.Since(begin)
	if err != nil {
		return nil, took, err
	}
	r := &Response{Code: resp.StatusCode, Header: resp.Header, Raw: raw}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		return r, took, fmt.Errorf("HTTP %d answer is not JSON: %v: %.300s", resp.StatusCode, err, raw)
	}
	return r, took, nil
}

// waitReady polls /ready until it answers 200.
func waitReady(t *testing.T, s *Server, within time.Duration) time.Duration {
	t.Helper()
	begin := time.Now()
	for {
		resp, err := http.Get(s.URL + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(begin)
			}
		}
		if time.Since(begin) > within {
			t.Fatalf("not ready after %v:\n%s", within, s.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFaultsBurst: 50 requests at once on 2 execution slots, 2 warm containers and a short
// queue. Each gets a correct 200 or a 429 with Retry-After; at most 2 programs run at once.
func TestFaultsBurst(t *testing.T) {
	const slots, queue = 2, 6
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 2, Edit: func(cfg map[string]any) {
		srv := cfg["server"].(map[string]any)
		srv["maxConcurrent"] = slots
		srv["queueLength"] = queue
		srv["queueWaitMs"] = 3000
	}})
	// Each run reports when it started and ended (the containers share the host's clock).
	code := "import time\nb = time.time()\ntime.sleep(0.3)\nprint(b, time.time())"
	type answer struct {
		r    *Response
		took time.Duration
		err  error
	}
	answers := make([]answer, 50)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, took, err := faultPost(s.URL+"/api/v1/execute", map[string]any{"language": "python", "code": code})
			answers[i] = answer{r, took, err}
		}()
	}
	wg.Wait()
	total := time.Since(begin)
	type span struct{ from, to float64 }
	var spans []span
	counts := map[int]int{}
	var slowest time.Duration
	for i, a := range answers {
		if a.err != nil {
			t.Errorf("request %d: %v", i, a.err)
			continue
		}
		counts[a.r.Code]++
		slowest = max(slowest, a.took)
		switch a.r.Code {
		case 200:
			var sp span
			if _, err := fmt.Sscan(a.r.Str("stdout"), &sp.from, &sp.to); err != nil || a.r.Str("status") != "ok" {
				t.Errorf("request %d: a 200 with a wrong result: %.500s", i, a.r.Raw)
				continue
			}
			spans = append(spans, sp)
		case 429:
			if ra, err := strconv.Atoi(a.r.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("request %d: 429 without a usable Retry-After: %q", i, a.r.Header.Get("Retry-After"))
			}
			if msg, _ := a.r.Body["errorMessage"].(string); a.r.Body["succeeded"] != false || !strings.Contains(msg, "try again") {
				t.Errorf("request %d: 429 body: %s", i, a.r.Raw)
			}
		default:
			t.Errorf("request %d: HTTP %d: %.500s", i, a.r.Code, a.r.Raw)
		}
	}
	// At most `slots` programs overlap in time.
	type edge struct {
		at    float64
		delta int
	}
	var edges []edge
	for _, sp := range spans {
		edges = append(edges, edge{sp.from, 1}, edge{sp.to, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].delta < edges[j].delta
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	t.Logf("burst of 50: %v in %v (slowest answer %v); at most %d programs ran at once", counts, total.Round(time.Millisecond), slowest.Round(time.Millisecond), most)
	if most > slots {
		t.Errorf("%d programs ran at once; maxConcurrent is %d", most, slots)
	}
	if counts[200] < slots || counts[429] == 0 {
		t.Errorf("want some 200s and some 429s: %v", counts)
	}
	// The queue wait (3 s) and the claim wait bound every answer.
	if slowest > 20*time.Second {
		t.Errorf("an answer took %v", slowest)
	}
	// The server recovers: ready, and a request runs.
	waitReady(t, s, 30*time.Second)
	if r := s.Execute(t, "python", `print("after")`, nil); r.Str("stdout") != "after\n" {
		t.Errorf("after the burst: %s", r.Raw)
	}
	if m := s.Get(t, "/metrics"); !strings.Contains(string(m.Raw), "codeexec_") {
		t.Errorf("/metrics: %.300s", m.Raw)
	}
}

// TestFaultsKill: SIGKILL in the middle of runs, then start again. The dead server's containers
// are removed at start and service resumes.
func TestFaultsKill(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 2})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// These lose their connection when the server dies; that is the point.
			_, _, _ = faultPost(s.URL+"/api/v1/execute", map[string]any{"language": "python", "code": "import time\ntime.sleep(5)"})
		}()
	}
	time.Sleep(1500 * time.Millisecond) // both runs are in their containers now
	before := instanceContainers(t, s.Instance, "python")
	s.Kill()
	wg.Wait()
	if len(before) == 0 {
		t.Fatal("no containers before the kill")
	}
	// The crash leaves containers behind (paused warm ones cannot even see their stdin close).
	t.Logf("containers of the killed instance: %d before the kill, %d after", len(before), CountContainers(t, s.Instance))
	begin := time.Now()
	s.Restart(t)
	took := waitReady(t, s, 2*time.Minute)
	for id := range before {
		if instanceContainers(t, s.Instance, "python")[id] {
			t.Errorf("container %.12s of the killed server is still there after the restart", id)
		}
	}
	if !strings.Contains(s.Logs(), "removed containers left by an earlier run") {
		t.Errorf("the restart did not say it removed the dead server's containers")
	}
	r := s.Execute(t, "python", `print("back")`, nil)
	if r.Str("stdout") != "back\n" {
		t.Errorf("after the restart: %s", r.Raw)
	}
	t.Logf("SIGKILL -> restart -> ready in %v (ready %v after the process started), then status %s", time.Since(begin).Round(time.Millisecond), took.Round(time.Millisecond), r.Str("status"))
}

// TestFaultsTwoInstances: two servers on one engine; killing, restarting and stopping one leaves
// the other's containers alone, and it keeps serving.
func TestFaultsTwoInstances(t *testing.T) {
	a := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 1})
	b := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 2})
	bBefore := instanceContainers(t, b.Instance, "python")
	if len(bBefore) != 2 {
		t.Fatalf("b has %d containers, want its 2 warm ones", len(bBefore))
	}
	a.Kill()
	a.Restart(t) // removes a's leftovers, and only those
	waitReady(t, a, 2*time.Minute)
	a.Execute(t, "python", `print(1)`, nil)
	a.Stop(t) // removes every container of a, and only those
	if n := CountContainers(t, a.Instance); n != 0 {
		t.Errorf("a left %d containers", n)
	}
	bAfter := instanceContainers(t, b.Instance, "python")
	for id := range bBefore {
		if !bAfter[id] {
			t.Errorf("b's warm container %.12s disappeared while a crashed, restarted and stopped", id)
		}
	}
	if r := b.Execute(t, "python", `print("b")`, nil); r.Str("stdout") != "b\n" {
		t.Errorf("b after a's faults: %s", r.Raw)
	}
}

// engineProxy stands between a server and the shared Docker engine: cutting it is the engine
// going away for that server only (the real dockerd, which other tests use, stays up).
type engineProxy struct {
	path, upstream string
	mu             sync.Mutex
	ln             net.Listener
	conns          map[net.Conn]bool
}

func newEngineProxy(t *testing.T) *engineProxy {
	dir, err := os.MkdirTemp("", "cxp") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	p := &engineProxy{path: filepath.Join(dir, "docker.sock"), upstream: "/var/run/docker.sock", conns: map[net.Conn]bool{}}
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		p.upstream = strings.TrimPrefix(h, "unix://")
	}
	p.listen(t)
	t.Cleanup(func() {
		p.cut()
		os.RemoveAll(dir)
	})
	return p
}

func (p *engineProxy) listen(t *testing.T) {
	os.Remove(p.path)
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(ln, c)
		}
	}()
}

func (p *engineProxy) serve(ln net.Listener, c net.Conn) {
	up, err := net.Dial("unix", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln != ln { // cut while this one was being accepted
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	// Both directions, passing half-closes on: attach relies on closing stdin only.
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
	wg.Add(2)
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut closes the listener and every connection through it.
func (p *engineProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// TestFaultsEngineDown: the engine goes away and comes back. While it is away /ready is 503 and
// requests get 503 with Retry-After, quickly; after it is back the pools rebuild by themselves
// and nothing is leaked.
func TestFaultsEngineDown(t *testing.T) {
	proxy := newEngineProxy(t)
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 2,
		Env: []string{"DOCKER_HOST=unix://" + proxy.path}})
	if r := s.Execute(t, "python", `print("up")`, nil); r.Str("stdout") != "up\n" {
		t.Fatalf("before the cut: %s", r.Raw)
	}
	waitReady(t, s, time.Minute)

	proxy.cut()
	cutAt := time.Now()
	// /ready notices.
	for {
		r := s.Get(t, "/ready")
		if r.Code == 503 {
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("/ready 503 without Retry-After")
			}
			t.Logf("/ready 503 %v after the cut: %s", time.Since(cutAt).Round(time.Millisecond), r.Raw)
			break
		}
		if time.Since(cutAt) > 10*time.Second {
			t.Fatalf("/ready still %d 10 s after the engine went away: %s", r.Code, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Requests get 503, not a hang: a few at once, while the warm containers that the server
	// still holds turn out to be unreachable.
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, took, err := faultPost(s.URL+"/api/v1/execute", map[string]any{"language": "python", "code": `print(1)`})
			if err != nil {
				t.Errorf("while the engine is away: %v", err)
				return
			}
			t.Logf("request while the engine is away: HTTP %d in %v: %.200s", r.Code, took.Round(time.Millisecond), r.Raw)
			if r.Code != 503 || r.Header.Get("Retry-After") == "" || r.Body["succeeded"] != false {
				t.Errorf("want 503 with Retry-After: HTTP %d %q %.300s", r.Code, r.Header.Get("Retry-After"), r.Raw)
			}
			// Not the whole claim wait (pool.claimWaitMs, 10 s): the pool knows its starts fail.
			if took > 5*time.Second {
				t.Errorf("503 took %v", took)
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // the pools keep trying and backing off meanwhile

	proxy.listen(t)
	back := time.Now()
	took := waitReady(t, s, 90*time.Second)
	// Every request after the recovery runs: the pools hold no container whose line to the
	// engine died with the cut.
	for i := 0; i < 4; i++ {
		r, _, err := faultPost(s.URL+"/api/v1/execute", map[string]any{"language": "python", "code": `print("again")`})
		if err != nil || r.Code != 200 || r.Str("stdout") != "again\n" {
			if err == nil {
				err = fmt.Errorf("HTTP %d %.500s", r.Code, r.Raw)
			}
			t.Errorf("request %d after the engine came back: %v", i, err)
		}
	}
	t.Logf("engine back: /ready 200 after %v, 4 requests ran in %v", took.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))

	// A short outage that no request sees: the warm containers' lines to their agents died with
	// it, and the pools must notice and replace them by themselves.
	waitReady(t, s, 30*time.Second)
	proxy.cut()
	time.Sleep(1500 * time.Millisecond)
	proxy.listen(t)
	waitReady(t, s, 90*time.Second)
	for i := 0; i < 4; i++ {
		r, _, err := faultPost(s.URL+"/api/v1/execute", map[string]any{"language": "python", "code": `print("again")`})
		if err != nil || r.Code != 200 || r.Str("stdout") != "again\n" {
			if err == nil {
				err = fmt.Errorf("HTTP %d %.500s", r.Code, r.Raw)
			}
			t.Errorf("request %d after a short outage: %v", i, err)
		}
	}
	// Nothing leaked: what the server failed to remove while the engine was away is removed
	// once it is back, leaving the warm pool.
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := CountContainers(t, s.Instance)
		if n <= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("a minute after the engine came back the server has %d containers; its pool is 2", n)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestFaultsRateLimit: with server.rateLimit on, one client gets its burst, then 429 with
// Retry-After and the RateLimit-* headers; the limit is per client and off by default.
func TestFaultsRateLimit(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 1, Edit: func(cfg map[string]any) {
		cfg["server"].(map[string]any)["rateLimit"] = map[string]any{"perSecond": 0.2, "burst": 3}
	}})
	// Requests that fail validation count too: the limit is on requests, not on runs.
	bad := map[string]any{"language": "brainfuck", "code": "x"}
	for i := 0; i < 3; i++ {
		r := s.Post(t, "/api/v1/execute", bad)
		if r.Code != 400 || r.Header.Get("RateLimit-Limit") != "3" || r.Header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Errorf("request %d within the burst: HTTP %d, RateLimit-Limit %q, RateLimit-Remaining %q", i, r.Code,
				r.Header.Get("RateLimit-Limit"), r.Header.Get("RateLimit-Remaining"))
		}
	}
	r := s.Post(t, "/api/v1/execute", map[string]any{"language": "python", "code": "print(1)"})
	ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	if r.Code != 429 || ra < 1 || ra > 5 || r.Header.Get("RateLimit-Remaining") != "0" || r.Body["succeeded"] != false {
		t.Errorf("past the burst: HTTP %d Retry-After %q: %s", r.Code, r.Header.Get("Retry-After"), r.Raw)
	}
	t.Logf("past the burst: HTTP %d, Retry-After %s, RateLimit-Reset %s: %s", r.Code, r.Header.Get("Retry-After"), r.Header.Get("RateLimit-Reset"), r.Raw)
	// Other endpoints are not limited.
	if r := s.Get(t, "/ready"); r.Code != 200 {
		t.Errorf("/ready under the rate limit: %d", r.Code)
	}
	// Off by default: the burst test above sent 50 at once without one rate-limit header.
	def := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 1})
	if r := def.Post(t, "/api/v1/execute", bad); r.Header.Get("RateLimit-Limit") != "" {
		t.Errorf("rate limit headers with the default config: %v", r.Header)
	}
}
