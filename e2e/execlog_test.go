//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/codeexec/codeexec/execlog"
)

// The execution log (issue 6): saveMetric executions stored in memory by default, or through
// the MongoDB driver in FerretDB (bin/ferretdb: the MongoDB wire protocol over SQLite).

// ferret is a FerretDB process with its own data folder and port.
type ferret struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
	exited   chan error
	logs     bytes.Buffer
}

var (
	ferretBinOnce sync.Once
	ferretBin     string
	ferretBinErr  error
)

// ferretBinary is bin/ferretdb as `make test` builds it, or built here when a test runs alone.
func ferretBinary(t testing.TB) string {
	ferretBinOnce.Do(func() {
		ferretBin = filepath.Join(binDir, "ferretdb")
		cmd := exec.Command("go", "build", "-o", ferretBin, ".")
		cmd.Dir = filepath.Join(repoRoot, "tools", "ferretdb")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			ferretBinErr = fmt.Errorf("building tools/ferretdb: %v\n%s", err, out)
		}
	})
	if ferretBinErr != nil {
		t.Fatal(ferretBinErr)
	}
	return ferretBin
}

func startFerret(t testing.TB) *ferret {
	t.Helper()
	f := &ferret{bin: ferretBinary(t), dir: t.TempDir(), port: freePort(t)}
	f.start(t)
	t.Cleanup(func() {
		f.kill()
		if t.Failed() {
			t.Logf("ferretdb log:\n%s", f.logs.String())
		}
	})
	return f
}

func (f *ferret) URI() string { return fmt.Sprintf("mongodb://127.0.0.1:%d/codeexec", f.port) }

// start runs FerretDB (again: same folder, same port) and waits until it accepts connections.
func (f *ferret) start(t testing.TB) {
	t.Helper()
	f.cmd = exec.Command(f.bin, "-listen", fmt.Sprintf("127.0.0.1:%d", f.port), "-dir", f.dir)
	f.cmd.Stdout, f.cmd.Stderr = &f.logs, &f.logs
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.exited = make(chan error, 1)
	go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(f.cmd, f.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", f.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-f.exited:
			t.Fatalf("ferretdb exited: %v\n%s", err, f.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferretdb does not listen after 30 s\n%s", f.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops FerretDB the hard way (a crash: no goodbye to the clients).
func (f *ferret) kill() {
	if f.cmd == nil || f.cmd.Process == nil {
		return
	}
	_ = f.cmd.Process.Kill()
	<-f.exited
	f.cmd = nil
}

// collection opens the executions collection directly with the driver, to check what is stored.
func (f *ferret) collection(t testing.TB) *mongo.Collection {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(f.URI()).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database("codeexec").Collection("executions")
}

// storedJobIDs counts each jobId in the collection.
func storedJobIDs(t testing.TB, coll *mongo.Collection) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "jobId", Value: 1}}))
	if err != nil {
		t.Fatalf("reading the collection: %v", err)
	}
	var docs []struct {
		JobID string `bson:"jobId"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, d := range docs {
		out[d.JobID]++
	}
	return out
}

// xlogPost runs one execution without t (it is called from several goroutines).
func xlogPost(url string, body map[string]any) (map[string]any, error) {
	j, _ := json.Marshal(body)
	resp, err := http.Post(url+"/api/v1/execute", "application/json", bytes.NewReader(j))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Result       map[string]any `json:"result"`
		ErrorMessage string         `json:"errorMessage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, out.ErrorMessage)
	}
	return out.Result, nil
}

// metricValue reads one unlabelled sample from /metrics.
func metricValue(t testing.TB, s *Server, name string) float64 {
	t.Helper()
	r := s.Get(t, "/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(r.Raw)
	if m == nil {
		t.Fatalf("metric %s not exposed", name)
	}
	var v float64
	fmt.Sscan(string(m[1]), &v)
	return v
}

// waitExecution polls GET /api/v1/executions/:jobId until it answers 200 (the write is async).
func waitExecution(t *testing.T, s *Server, jobID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := s.Get(t, "/api/v1/executions/"+jobID)
		if r.Code == 200 {
			e, _ := r.Body["execution"].(map[string]any)
			return e
		}
		if r.Code != 404 || time.Now().After(deadline) {
			t.Fatalf("GET execution %s: HTTP %d %s", jobID, r.Code, r.Raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wantError(t *testing.T, r *Response, code int, fragment string) {
	t.Helper()
	msg, _ := r.Body["errorMessage"].(string)
	if r.Code != code || r.Body["succeeded"] != false || !strings.Contains(msg, fragment) {
		t.Errorf("want %d with an errorMessage about %q; got %d %s", code, fragment, r.Code, r.Raw)
	}
}

// TestExecLogMemory: with no database the log lives in memory and every endpoint works.
func TestExecLogMemory(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, Env: []string{"DB="}})
	if !strings.Contains(s.Logs(), "store=memory") {
		t.Errorf("the server does not say it logs in memory:\n%s", s.Logs())
	}
	code := "print('hello')"
	saved := s.Execute(t, "python", code, map[string]any{"saveMetric": true})
	notSaved := s.Execute(t, "python", "print('secret')", nil)
	notSaved2 := s.Execute(t, "python", "print('secret')", map[string]any{"saveMetric": false})
	failed := s.Execute(t, "py", "import sys\nsys.exit(3)", map[string]any{"saveMetric": true})

	// The record holds the answer's fields with the same meanings.
	e := waitExecution(t, s, saved.Str("jobId"))
	for field, want := range map[string]any{
		"jobId": saved.Str("jobId"), "userId": "anonymous", "projectId": "default", "language": "python",
		"code": code, "output": "hello\n", "errorMessage": saved.Str("errorMessage"),
		"executionTime": saved.Num("executionTime"), "memoryUsage": saved.Str("memoryUsage"),
		"cpuUsage": saved.Str("cpuUsage"), "runTimeStatus": "succeeded", "status": "ok",
		"exitCode": 0.0, "wallTimeMs": saved.Num("wallTimeMs"), "cpuTimeMs": saved.Num("cpuTimeMs"),
		"memoryBytes": saved.Num("memoryBytes"),
	} {
		if e[field] != want {
			t.Errorf("stored %s = %#v, want %#v", field, e[field], want)
		}
	}
	created, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["created"]))
	if err != nil || time.Since(created) > time.Minute || time.Since(created) < 0 {
		t.Errorf("created = %v (%v), want about now", e["created"], err)
	}
	for k := range e {
		if l := strings.ToLower(k); strings.Contains(l, "addr") || strings.Contains(l, "ip") || strings.Contains(l, "remote") || strings.Contains(l, "agent") {
			t.Errorf("record has a client field %q", k)
		}
	}
	f := waitExecution(t, s, failed.Str("jobId"))
	if f["status"] != "runtime_error" || f["exitCode"] != 3.0 || f["runTimeStatus"] != "Error" {
		t.Errorf("failed run stored as %v", f)
	}
	// One writer writes in order: failed is stored, so the earlier unsaved ones were passed over.
	for _, r := range []*Response{notSaved, notSaved2} {
		wantError(t, s.Get(t, "/api/v1/executions/"+r.Str("jobId")), 404, "saveMetric")
	}

	list := s.Admin(t, "/api/v1/executions?language=py&limit=10")
	ex, _ := list.Body["executions"].([]any)
	if list.Code != 200 || len(ex) != 2 || ex[0].(map[string]any)["jobId"] != failed.Str("jobId") {
		t.Errorf("list: want the 2 saved executions, newest first; got %d %s", list.Code, list.Raw)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"status=runtime_error", []string{failed.Str("jobId")}},
		{"status=ok", []string{saved.Str("jobId")}},
		{"limit=1", []string{failed.Str("jobId")}},
		{"language=ruby", []string{}},
	} {
		r := s.Admin(t, "/api/v1/executions?"+tc.query)
		var got []string
		for _, x := range r.Body["executions"].([]any) {
			got = append(got, x.(map[string]any)["jobId"].(string))
		}
		if r.Code != 200 || fmt.Sprint(got) != fmt.Sprint(tc.want) || r.Body["count"] != float64(len(tc.want)) {
			t.Errorf("?%s: got %d %v, want %v", tc.query, r.Code, got, tc.want)
		}
	}

	st := s.Admin(t, "/api/v1/stats")
	langs, _ := st.Body["stats"].(map[string]any)["languages"].([]any)
	if st.Code != 200 || len(langs) != 1 {
		t.Fatalf("stats: %d %s", st.Code, st.Raw)
	}
	py := langs[0].(map[string]any)
	times := []float64{saved.Num("executionTime"), failed.Num("executionTime")}
	sort.Float64s(times)
	if py["language"] != "python" || py["count"] != 2.0 || py["succeeded"] != 1.0 || py["successRate"] != 0.5 ||
		math.Abs(py["avgExecutionTime"].(float64)-(times[0]+times[1])/2) > 0.0001 || py["p95ExecutionTime"] != times[1] {
		t.Errorf("stats python = %v, want count 2, success 0.5, avg and p95 of %v", py, times)
	}

	// Bad requests name the problem.
	for _, tc := range []struct {
		path     string
		code     int
		fragment string
	}{
		{"/api/v1/executions/not-a-uuid", 400, "not a UUID"},
		{"/api/v1/executions/7b0c4d4e-0000-4000-8000-000000000000", 404, "saveMetric"},
		{"/api/v1/executions?limit=0", 400, "limit"},
		{"/api/v1/executions?limit=1000", 400, "from 1 to 100"},
		{"/api/v1/executions?limit=abc", 400, "limit"},
		{"/api/v1/executions?language=brainfuck", 400, "unknown language \"brainfuck\""},
		{"/api/v1/executions?status=great", 400, "unknown status \"great\""},
		{"/api/v1/executions?user=me", 400, "unknown query parameter \"user\""},
	} {
		wantError(t, s.Admin(t, tc.path), tc.code, tc.fragment)
	}
	if w := metricValue(t, s, "codeexec_execlog_written_records_total"); w != 2 {
		t.Errorf("written records = %v, want 2", w)
	}
}

// TestExecLogFerretDB: FerretDB is killed in the middle of a stream of saveMetric executions
// and started again on the same folder and port. Executions keep succeeding; every saved record
// arrives exactly once, none of the unsaved ones does; records buffered when the server is
// stopped are flushed; retention deletes old records; stats are computed on FerretDB.
func TestExecLogFerretDB(t *testing.T) {
	f := startFerret(t)
	coll := f.collection(t)
	// Retention: one record past the default 30 days, one recent, put there before the server starts.
	old := time.Now().UTC().Add(-40 * 24 * time.Hour).Truncate(time.Millisecond)
	recent := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Millisecond)
	oldID, recentID := "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	ictx, icancel := context.WithTimeout(context.Background(), 20*time.Second)
	_, err := coll.InsertMany(ictx, []any{
		bson.D{{Key: "jobId", Value: oldID}, {Key: "language", Value: "ruby"}, {Key: "status", Value: "ok"}, {Key: "created", Value: old}},
		bson.D{{Key: "jobId", Value: recentID}, {Key: "language", Value: "ruby"}, {Key: "status", Value: "ok"}, {Key: "runTimeStatus", Value: "succeeded"}, {Key: "created", Value: recent}},
	})
	icancel()
	if err != nil {
		t.Fatal(err)
	}

	s := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 2, Env: []string{"DB=" + f.URI()}})
	wantError(t, s.Get(t, "/api/v1/executions/"+oldID), 404, "saveMetric")
	waitFor(t, 30*time.Second, "the old record deleted by retention", func() bool {
		return storedJobIDs(t, coll)[oldID] == 0
	})
	if storedJobIDs(t, coll)[recentID] != 1 {
		t.Errorf("retention deleted a record of yesterday")
	}

	// The stream: two clients, each execution saved except every fifth.
	const total = 40
	var (
		done       atomic.Int64
		mu         sync.Mutex
		saved      = map[string]float64{} // jobId -> executionTime
		unsaved    []string
		streamErrs []error
		wg         sync.WaitGroup
	)
	next := atomic.Int64{}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				save := i%5 != 0
				res, err := xlogPost(s.URL, map[string]any{"language": "python", "code": fmt.Sprintf("print(%d)", i), "saveMetric": save})
				mu.Lock()
				switch {
				case err != nil:
					streamErrs = append(streamErrs, fmt.Errorf("execution %d: %w", i, err))
				case save:
					saved[res["jobId"].(string)] = res["executionTime"].(float64)
				default:
					unsaved = append(unsaved, res["jobId"].(string))
				}
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	waitFor(t, 2*time.Minute, "10 executions", func() bool { return done.Load() >= 10 })
	f.kill()
	killedAt := done.Load()
	waitFor(t, 2*time.Minute, "10 executions while FerretDB is down", func() bool { return done.Load() >= killedAt+10 })
	// Stay down until an insert has failed (the driver first waits up to its 5 s server
	// selection timeout), so the retry path is what brings the records in.
	waitFor(t, 30*time.Second, "a failed insert", func() bool {
		return metricValue(t, s, "codeexec_execlog_write_failures_total") > 0
	})
	f.start(t)
	wg.Wait()
	if len(streamErrs) > 0 {
		t.Fatalf("executions failed while the database was away: %v", streamErrs)
	}

	// Phase two: records that wait in the buffer when the server is told to stop are flushed.
	f.kill()
	for i := 0; i < 3; i++ {
		res := s.Execute(t, "python", fmt.Sprintf("print('flush %d')", i), map[string]any{"saveMetric": true})
		saved[res.Str("jobId")] = res.Num("executionTime")
	}
	if p := metricValue(t, s, "codeexec_execlog_pending_records"); p < 3 {
		t.Errorf("pending records = %v while FerretDB is down, want >= 3", p)
	}
	f.start(t)
	dropped := metricValue(t, s, "codeexec_execlog_dropped_records_total")
	s.Stop(t)
	if dropped != 0 {
		t.Errorf("dropped records = %v, want 0 (the buffer was far from full)", dropped)
	}

	stored := storedJobIDs(t, coll)
	for id := range saved {
		if stored[id] != 1 {
			t.Errorf("saved execution %s is stored %d times, want exactly once", id, stored[id])
		}
	}
	for _, id := range unsaved {
		if stored[id] != 0 {
			t.Errorf("execution %s without saveMetric was stored", id)
		}
	}
	if len(stored) != len(saved)+1 { // + the recent record put there by the test
		t.Errorf("collection holds %d jobIds, want %d", len(stored), len(saved)+1)
	}
	if t.Failed() {
		return
	}

	// A new server on the same database reads what the first one wrote: list, get and stats.
	s2 := StartServer(t, ServerOptions{Languages: []string{"python"}, Env: []string{"DB=" + f.URI()}})
	var anyID string
	for id := range saved {
		anyID = id
		break
	}
	if e := waitExecution(t, s2, anyID); e["userId"] != "anonymous" || e["language"] != "python" || e["status"] != "ok" {
		t.Errorf("GET %s = %v", anyID, e)
	}
	list := s2.Admin(t, "/api/v1/executions?language=python&limit=100")
	if ex, _ := list.Body["executions"].([]any); len(ex) != len(saved) {
		t.Errorf("list: %d executions, want %d", len(ex), len(saved))
	} else {
		prev := time.Now().Add(time.Hour)
		for _, x := range ex {
			c, _ := time.Parse(time.RFC3339Nano, x.(map[string]any)["created"].(string))
			if c.After(prev) {
				t.Errorf("list is not most recent first")
			}
			prev = c
		}
	}
	st := s2.Admin(t, "/api/v1/stats")
	var times []float64
	sum := 0.0
	for _, v := range saved {
		times = append(times, v)
		sum += v
	}
	sort.Float64s(times)
	p95 := times[(95*len(times)+99)/100-1]
	var py, rb map[string]any
	for _, l := range st.Body["stats"].(map[string]any)["languages"].([]any) {
		switch m := l.(map[string]any); m["language"] {
		case "python":
			py = m
		case "ruby":
			rb = m
		}
	}
	if py == nil || py["count"] != float64(len(saved)) || py["successRate"] != 1.0 ||
		math.Abs(py["avgExecutionTime"].(float64)-sum/float64(len(times))) > 0.0001 || py["p95ExecutionTime"] != p95 {
		t.Errorf("stats python = %v; want count %d, successRate 1, avg %.4f, p95 %v", py, len(saved), sum/float64(len(times)), p95)
	}
	if rb == nil || rb["count"] != 1.0 {
		t.Errorf("stats ruby = %v, want the one recent record", rb)
	}
}

// TestExecLogDropsWhenBufferFull: with FerretDB down and a buffer of 2, records beyond what the
// buffer holds are dropped, each one logged and counted; the others arrive once it is back. The
// read endpoints answer 503 while the database is away.
func TestExecLogDropsWhenBufferFull(t *testing.T) {
	f := startFerret(t)
	coll := f.collection(t)
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, Env: []string{"DB=" + f.URI()},
		Edit: func(cfg map[string]any) { cfg["execlog"].(map[string]any)["bufferSize"] = 2 }})
	first := s.Execute(t, "python", "print(0)", map[string]any{"saveMetric": true})
	waitFor(t, 30*time.Second, "the first record stored", func() bool { return storedJobIDs(t, coll)[first.Str("jobId")] == 1 })
	// and its insert answered: a database killed between storing it and answering would leave
	// the writer retrying it, holding a place the count below does not expect.
	waitFor(t, 30*time.Second, "the writer idle", func() bool { return metricValue(t, s, "codeexec_execlog_pending_records") == 0 })

	f.kill()
	r := s.Admin(t, "/api/v1/executions?limit=1")
	wantError(t, r, 503, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	var ids []string
	for i := 1; i <= 6; i++ {
		ids = append(ids, s.Execute(t, "python", fmt.Sprintf("print(%d)", i), map[string]any{"saveMetric": true}).Str("jobId"))
	}
	dropped := metricValue(t, s, "codeexec_execlog_dropped_records_total")
	// The writer holds the batch it is retrying (1 record, or 2 if the second came before it woke
	// up) and the buffer holds 2 more: 3 (or 2) of the 6 are dropped.
	if dropped < 2 || dropped > 3 {
		t.Errorf("dropped = %v, want 3 (or 2) of 6 with a buffer of 2", dropped)
	}
	f.start(t)
	s.Stop(t) // flushes
	stored := storedJobIDs(t, coll)
	kept := 0
	for _, id := range ids {
		switch stored[id] {
		case 1:
			kept++
		case 0:
			if !strings.Contains(s.Logs(), "jobId="+id) {
				t.Errorf("dropped record %s is not in the log", id)
			}
		default:
			t.Errorf("%s stored %d times", id, stored[id])
		}
	}
	if kept+int(dropped) != len(ids) {
		t.Errorf("%d stored + %v dropped != %d executions", kept, dropped, len(ids))
	}
}

// TestExecLogMongoStore checks the store's own contract against FerretDB with the real driver:
// a batch inserted again (a retry after a lost answer) stores nothing twice and is no error.
func TestExecLogMongoStore(t *testing.T) {
	f := startFerret(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := execlog.OpenMongo(ctx, f.URI())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	now := time.Now().UTC().Truncate(time.Millisecond)
	var recs []execlog.Record
	for i := range 5 {
		recs = append(recs, execlog.Record{JobID: fmt.Sprintf("job-%d", i), Language: "go", Status: "ok", Created: now.Add(time.Duration(i) * time.Hour)})
	}
	if err := st.Insert(ctx, recs[:3]); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, recs); err != nil { // 0-2 again, 3-4 new
		t.Fatalf("insert with duplicates: %v", err)
	}
	got := storedJobIDs(t, f.collection(t))
	if len(got) != 5 {
		t.Errorf("stored %v, want job-0..4 once each", got)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	if _, err := st.Get(ctx, "nope"); !errors.Is(err, execlog.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if l, _ := st.List(ctx, execlog.Query{Limit: 2}); len(l) != 2 || l[0].JobID != "job-4" || !l[0].Created.Equal(recs[4].Created) {
		t.Errorf("List newest first = %v", l)
	}
	if n, err := st.DeleteBefore(ctx, now.Add(150*time.Minute)); err != nil || n != 3 {
		t.Errorf("DeleteBefore = %d, %v; want 3", n, err)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkExecLogExecute: what saveMetric costs an execution (python hello, one client):
// not saved; saved with FerretDB up; saved with FerretDB down (the records wait in the buffer).
// Run: go test -tags integration -run - -bench ExecLogExecute -benchtime 100x ./e2e/
func BenchmarkExecLogExecute(b *testing.B) {
	f := startFerret(b)
	s := StartServer(b, ServerOptions{Languages: []string{"python"}, PoolSize: 2, Env: []string{"DB=" + f.URI()}})
	for _, bc := range []struct {
		name string
		save bool
		down bool
	}{{"unsaved", false, false}, {"saved-db-up", true, false}, {"saved-db-down", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.down {
				f.kill()
				defer f.start(b)
			}
			for i := 0; b.Loop(); i++ {
				if _, err := xlogPost(s.URL, map[string]any{"language": "python", "code": "print(1)", "saveMetric": bc.save}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExecLogInsert: records per second into FerretDB by batch size (why the writer batches).
func BenchmarkExecLogInsert(b *testing.B) {
	f := startFerret(b)
	ctx := context.Background()
	st, err := execlog.OpenMongo(ctx, f.URI())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(ctx)
	n := 0
	for _, size := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch-%d", size), func(b *testing.B) {
			for b.Loop() {
				recs := make([]execlog.Record, size)
				for i := range recs {
					n++
					recs[i] = execlog.Record{JobID: fmt.Sprintf("bench-%d", n), Language: "python", Code: "print(1)", Output: "1\n", Created: time.Now().UTC()}
				}
				if err := st.Insert(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// TestExecLogBadDB: a DB that is not a MongoDB URI stops the server at start with a message
// saying what is expected (before any container is made).
func TestExecLogBadDB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "codeexec"), "-config", filepath.Join(repoRoot, "config.yaml"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "DB=http://user:s3cret@db.example/codeexec", fmt.Sprintf("PORT=%d", freePort(t)))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the server accepted DB=http://...:\n%s", out)
	}
	if !strings.Contains(string(out), "is not a MongoDB URI (mongodb://host:27017/codeexec)") {
		t.Errorf("message does not say what DB must be:\n%s", out)
	}
	if strings.Contains(string(out), "s3cret") {
		t.Errorf("the password is printed:\n%s", out)
	}
}
