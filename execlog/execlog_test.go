package execlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// flakyStore wraps a MemoryStore: the first failFirst inserts fail, and when lostAnswers is
// set they fail *after* storing (the database wrote, the answer was lost on the way back).
type flakyStore struct {
	*MemoryStore
	mu          sync.Mutex
	failFirst   int
	lostAnswers bool
	attempts    int
	gate        chan struct{} // when set, each insert waits for it
	entered     chan struct{} // when set, signalled as each insert starts
}

func (f *flakyStore) Insert(ctx context.Context, recs []Record) error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	f.attempts++
	fail := f.attempts <= f.failFirst
	f.mu.Unlock()
	if fail && !f.lostAnswers {
		return errors.New("connection refused")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.MemoryStore.Insert(ctx, recs); err != nil {
		return err
	}
	if fail {
		return errors.New("connection reset after the write")
	}
	return nil
}

func records(n int) []Record {
	out := make([]Record, n)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = Record{JobID: fmt.Sprintf("job-%03d", i), Language: "python", Created: base.Add(time.Duration(i) * time.Second)}
	}
	return out
}

func fastRetry() WriterOptions {
	return WriterOptions{BufferSize: 1000, BatchSize: 7, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond}
}

func TestWriterRetriesUntilEveryRecordIsStoredOnce(t *testing.T) {
	for _, tc := range []struct {
		name        string
		failFirst   int
		lostAnswers bool
	}{
		{"healthy", 0, false},
		{"refused", 5, false},
		{"answer lost after the write", 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &flakyStore{MemoryStore: NewMemoryStore(1000), failFirst: tc.failFirst, lostAnswers: tc.lostAnswers}
			w := NewWriter(store, fastRetry(), quiet)
			recs := records(50)
			for _, r := range recs {
				if !w.Add(r) {
					t.Fatalf("Add(%s) dropped with a buffer of 1000", r.JobID)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := w.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got, _ := store.List(context.Background(), Query{})
			if len(got) != len(recs) {
				t.Fatalf("stored %d records, want %d", len(got), len(recs))
			}
			seen := map[string]int{}
			for _, r := range got {
				seen[r.JobID]++
			}
			for _, r := range recs {
				if seen[r.JobID] != 1 {
					t.Errorf("%s stored %d times", r.JobID, seen[r.JobID])
				}
			}
			if d := testutil.ToFloat64(w.dropped); d != 0 {
				t.Errorf("dropped = %v, want 0", d)
			}
			if f := testutil.ToFloat64(w.failures); int(f) != tc.failFirst {
				t.Errorf("failures = %v, want %d", f, tc.failFirst)
			}
			if n := testutil.ToFloat64(w.written); int(n) != len(recs) {
				t.Errorf("written = %v, want %d", n, len(recs))
			}
		})
	}
}

func TestWriterDropsOnlyWhenTheBufferIsFull(t *testing.T) {
	store := &flakyStore{MemoryStore: NewMemoryStore(1000), gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	w := NewWriter(store, WriterOptions{BufferSize: 3, BatchSize: 10}, quiet)
	recs := records(6)
	if !w.Add(recs[0]) {
		t.Fatal("first record dropped")
	}
	<-store.entered // the writer holds recs[0] in a stuck insert; the buffer is empty
	for _, r := range recs[1:4] {
		if !w.Add(r) {
			t.Fatalf("%s dropped with room in the buffer", r.JobID)
		}
	}
	for _, r := range recs[4:] {
		if w.Add(r) {
			t.Fatalf("%s accepted into a full buffer", r.JobID)
		}
	}
	if d := testutil.ToFloat64(w.dropped); d != 2 {
		t.Fatalf("dropped = %v, want 2", d)
	}
	if p := w.Pending(); p != 4 {
		t.Errorf("Pending = %d, want 4", p)
	}
	close(store.gate)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := store.List(context.Background(), Query{})
	if len(got) != 4 {
		t.Fatalf("stored %d, want the 4 accepted", len(got))
	}
	if w.Add(recs[5]) {
		t.Error("Add after Close accepted a record")
	}
}

func TestWriterCloseDeadlineCountsWhatIsLost(t *testing.T) {
	store := &flakyStore{MemoryStore: NewMemoryStore(10), failFirst: 1 << 30}
	w := NewWriter(store, fastRetry(), quiet)
	for _, r := range records(3) {
		w.Add(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the deadline", err)
	}
	if d := testutil.ToFloat64(w.dropped); d != 3 {
		t.Errorf("dropped = %v, want 3", d)
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore(5)
	recs := records(8)
	recs[6].Language, recs[6].Status = "go", "compile_error"
	_ = m.Insert(ctx, recs[:4])
	_ = m.Insert(ctx, recs[2:8]) // 2 and 3 again: skipped
	all, _ := m.List(ctx, Query{})
	if len(all) != 5 || all[0].JobID != "job-007" || all[4].JobID != "job-003" {
		t.Fatalf("want the 5 most recent, newest first; got %v", ids(all))
	}
	if _, err := m.Get(ctx, "job-000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("evicted record: err = %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		q    Query
		want string
	}{
		{Query{Language: "go"}, "[job-006]"},
		{Query{Status: "compile_error"}, "[job-006]"},
		{Query{Language: "python", Limit: 2}, "[job-007 job-005]"},
		{Query{Language: "ruby"}, "[]"},
	} {
		got, _ := m.List(ctx, tc.q)
		if s := fmt.Sprint(ids(got)); s != tc.want {
			t.Errorf("List(%+v) = %s, want %s", tc.q, s, tc.want)
		}
	}
	n, _ := m.DeleteBefore(ctx, recs[5].Created)
	if n != 2 {
		t.Errorf("DeleteBefore deleted %d, want 2 (job-003, job-004)", n)
	}
	if rest, _ := m.Sample(ctx, 10); fmt.Sprint(ids(rest)) != "[job-007 job-006 job-005]" {
		t.Errorf("after DeleteBefore: %v", ids(rest))
	}
	// A deleted jobId may be stored again (it is not remembered as a duplicate).
	_ = m.Insert(ctx, recs[4:5])
	if _, err := m.Get(ctx, "job-004"); err != nil {
		t.Errorf("re-inserted record: %v", err)
	}
}

func ids(rs []Record) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.JobID)
	}
	return out
}

func TestComputeStats(t *testing.T) {
	var recs []Record
	// python: 20 runs of 0.001..0.020 s, 15 succeeded, plus a compile error that has no time.
	for i := 1; i <= 20; i++ {
		r := Record{Language: "python", ExecutionTime: float64(i) / 1000, Status: "runtime_error", RunTimeStatus: "Error"}
		if i <= 15 {
			r.Status, r.RunTimeStatus = "ok", "succeeded"
		}
		recs = append(recs, r)
	}
	recs = append(recs, Record{Language: "python", Status: "compile_error", RunTimeStatus: "Error"})
	recs = append(recs, Record{Language: "go", Status: "compile_error", RunTimeStatus: "Error"})
	st := ComputeStats(recs, true)
	want := []LanguageStats{
		{Language: "go", Count: 1, SuccessRate: 0},
		{Language: "python", Count: 21, Succeeded: 15, SuccessRate: 0.7143, Timed: 20, AvgExecutionTime: 0.0105, P95ExecutionTime: 0.019},
	}
	if st.Records != 22 || !st.Complete || fmt.Sprint(st.Languages) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", st.Languages, want)
	}
	if empty := ComputeStats(nil, true); len(empty.Languages) != 0 || empty.Since != nil {
		t.Errorf("no records: %+v", empty)
	}
}

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		vals []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{1, 2}, 2},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 10},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}, 20},
	} {
		if got := percentile(tc.vals, 95); got != tc.want {
			t.Errorf("p95 of %d values = %v, want %v", len(tc.vals), got, tc.want)
		}
	}
}

func TestCutKeepsUTF8(t *testing.T) {
	r := Record{Code: "héllo", Output: "ok", Files: []File{{Filename: "a", Code: "ééé"}}}
	r.cut(2) // "h" + half of "é": the half goes
	if r.Code != "h" || r.Output != "ok" || r.Files[0].Code != "é" || !r.Truncated {
		t.Errorf("cut(2) = %+v", r)
	}
	if !utf8.ValidString(r.Code) {
		t.Error("invalid UTF-8 after cut")
	}
	small := Record{Code: "abc"}
	small.cut(10)
	if small.Truncated {
		t.Error("short text marked truncated")
	}
}

// BenchmarkWriterAdd is what saveMetric adds to an execution's request path: queueing while a
// writer drains into a store, and dropping (logged) when the database is away and the buffer full.
func BenchmarkWriterAdd(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "queued", true: "dropped"}[full]
		b.Run(name, func(b *testing.B) {
			store := &flakyStore{MemoryStore: NewMemoryStore(1)}
			if full {
				store.gate = make(chan struct{})
			}
			w := NewWriter(store, WriterOptions{BufferSize: 10000, BatchSize: 100}, quiet)
			r := records(1)[0]
			for b.Loop() {
				w.Add(r)
			}
			b.StopTimer()
			if full {
				close(store.gate)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = w.Close(ctx)
		})
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mongodb://localhost:27017/codeexec", "mongodb://localhost:27017/codeexec"},
		{"mongodb://user:s3cret@db1:27017,db2:27017/codeexec?replicaSet=rs0", "mongodb://***@db1:27017,db2:27017/codeexec?replicaSet=rs0"},
		{"mongodb+srv://u:p@cluster0.example.net/codeexec", "mongodb+srv://***@cluster0.example.net/codeexec"},
		{"mongodb://host/db?x=a@b", "mongodb://host/db?x=a@b"},
		{"not a uri", "not a uri"},
	} {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
