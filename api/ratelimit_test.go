package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/metrics"
	"github.com/codeexec/codeexec/runner"
)

// fakeClock is a settable clock: the limiter is tested without sleeping.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func limiterAt(c *fakeClock, perSecond float64, burst int) *clientLimiter {
	l := newClientLimiter(perSecond, burst)
	l.now = c.now
	return l
}

func TestClientKey(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"10.0.0.1:1234", "10.0.0.1:5678", true},
		{"10.0.0.1:1234", "10.0.0.2:1234", false},
		{"[2001:db8::1]:80", "[2001:db8::ffff:1]:80", true}, // one /64
		{"[2001:db8:0:1::1]:80", "[2001:db8::1]:80", false},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80", true}, // IPv4-mapped is the IPv4 client
	}
	for _, c := range cases {
		if got := clientKey(c.a) == clientKey(c.b); got != c.same {
			t.Errorf("clientKey(%s) == clientKey(%s): %v, want %v", c.a, c.b, got, c.same)
		}
	}
}

func TestClientLimiter(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := limiterAt(clock, 1, 3)
	a, b := clientKey("10.0.0.1:1"), clientKey("10.0.0.2:1")
	steps := []struct {
		name       string
		advance    time.Duration
		key        netip.Prefix
		allowed    bool
		remaining  int
		retryAfter time.Duration
	}{
		{"first of the burst", 0, a, true, 2, 0},
		{"second", 0, a, true, 1, 0},
		{"third", 0, a, true, 0, 0},
		{"burst spent", 0, a, false, 0, time.Second},
		{"another client has its own bucket", 0, b, true, 2, 0},
		{"half a token is not enough", 500 * time.Millisecond, a, false, 0, 500 * time.Millisecond},
		{"one token earned", 500 * time.Millisecond, a, true, 0, 0},
		{"refilled after 3 s", 3 * time.Second, a, true, 2, 0},
	}
	for _, s := range steps {
		clock.t = clock.t.Add(s.advance)
		d := l.takeN(s.key, 1)
		if d.Allowed != s.allowed || d.Remaining != s.remaining || d.RetryAfter.Round(time.Millisecond) != s.retryAfter {
			t.Errorf("%s: allowed %v remaining %d retryAfter %v; want %v %d %v", s.name, d.Allowed, d.Remaining, d.RetryAfter, s.allowed, s.remaining, s.retryAfter)
		}
	}
}

func TestClientLimiterForgetsFullBuckets(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := limiterAt(clock, 10, 5) // refills in 0.5 s; sweeps at most once a second
	for i := 0; i < 100; i++ {
		l.takeN(clientKey(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()+":1"), 1)
	}
	if l.size() != 100 {
		t.Fatalf("%d buckets, want 100", l.size())
	}
	clock.t = clock.t.Add(2 * time.Second)
	l.takeN(clientKey("192.0.2.1:1"), 1)
	if l.size() != 1 {
		t.Errorf("%d buckets after every old one refilled, want 1", l.size())
	}
}

func TestRateLimitedHandler(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	s := &Server{metrics: metrics.New(), log: slog.Default(), limiter: limiterAt(clock, 0.5, 2)}
	h := s.rateLimited(func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, 200, map[string]bool{"succeeded": true})
	})
	cases := []struct {
		code                         int
		remaining, reset, retryAfter string
	}{
		{200, "1", "2", ""},
		{200, "0", "4", ""},
		{429, "0", "4", "2"},
	}
	for i, c := range cases {
		req := httptest.NewRequest("POST", "/api/v1/execute", nil)
		req.RemoteAddr = "198.51.100.7:4321"
		rec := httptest.NewRecorder()
		h(rec, req)
		hd := rec.Header()
		if rec.Code != c.code || hd.Get("RateLimit-Limit") != "2" || hd.Get("RateLimit-Remaining") != c.remaining ||
			hd.Get("RateLimit-Reset") != c.reset || hd.Get("Retry-After") != c.retryAfter {
			t.Errorf("request %d: %d limit=%q remaining=%q reset=%q retry-after=%q; want %d 2 %s %s %q", i, rec.Code,
				hd.Get("RateLimit-Limit"), hd.Get("RateLimit-Remaining"), hd.Get("RateLimit-Reset"), hd.Get("Retry-After"),
				c.code, c.remaining, c.reset, c.retryAfter)
		}
		if rec.Code == 429 {
			var body errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Succeeded || body.ErrorMessage == "" {
				t.Errorf("429 body: %s", rec.Body.Bytes())
			}
		}
	}
	// Off: the handler is the same one, and no header is added.
	off := &Server{}
	rec := httptest.NewRecorder()
	off.rateLimited(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != 204 || rec.Header().Get("RateLimit-Limit") != "" {
		t.Errorf("limit off: %d %v", rec.Code, rec.Header())
	}
}

// A request is charged a token per run (tests, batch entries' runs), at most the burst: a big
// request stays possible, and spends the client's tokens.
func TestRateLimitChargesPerRun(t *testing.T) {
	cfg, err := config.Parse([]byte(`
server:
  rateLimit: {perSecond: 0.001, burst: 5}
languages:
  python: {image: python, source: main.py, run: [python3, "{entry}"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	exec := &fakeExec{res: &runner.Result{Status: runner.OK}}
	h := New(cfg, Deps{Exec: exec, Pools: fakePools{}, Engine: pinger{}, Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler)}).Handler()
	send := func(from, path, body string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.RemoteAddr = from
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	tests := func(n int) string {
		return `[` + strings.TrimSuffix(strings.Repeat(`{"stdin": ""},`, n), ",") + `]`
	}
	hello := `{"language": "python", "code": "1"}`
	// Four tests, then one run: the burst of five is spent.
	if c := send("10.0.0.1:1", "/api/v1/execute", `{"language": "python", "code": "1", "tests": `+tests(4)+`}`); c != 200 {
		t.Fatalf("4 tests: %d", c)
	}
	if c := send("10.0.0.1:1", "/api/v1/execute", hello); c != 200 {
		t.Fatalf("the fifth run: %d", c)
	}
	if c := send("10.0.0.1:1", "/api/v1/execute", hello); c != 429 {
		t.Fatalf("the sixth run: %d, want 429", c)
	}
	// Twenty tests cost the burst, not more: allowed, and nothing is left.
	if c := send("10.0.0.2:1", "/api/v1/execute", `{"language": "python", "code": "1", "tests": `+tests(20)+`}`); c != 200 {
		t.Fatalf("20 tests: %d", c)
	}
	if c := send("10.0.0.2:1", "/api/v1/execute", hello); c != 429 {
		t.Fatalf("after 20 tests: %d, want 429", c)
	}
	// A batch of three single runs costs three.
	batch := `{"submissions": [` + strings.TrimSuffix(strings.Repeat(hello+",", 3), ",") + `]}`
	if c := send("10.0.0.3:1", "/api/v1/batch", batch); c != 200 {
		t.Fatalf("batch: %d", c)
	}
	for i, want := range []int{200, 200, 429} {
		if c := send("10.0.0.3:1", "/api/v1/execute", hello); c != want {
			t.Fatalf("run %d after the batch: %d, want %d", i+1, c, want)
		}
	}
}
