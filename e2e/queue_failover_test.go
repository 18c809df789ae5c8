//go:build integration

package e2e

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/codeexec/codeexec/config"
	"github.com/codeexec/codeexec/queue"
	"github.com/codeexec/codeexec/runner"
)

// TestQueueConsumerLeaderLoss: a job delivered to a worker that dies, on a three-node cluster
// whose node leading the job's consumer dies too, is delivered again to another worker once its
// ack wait passes: the new leader keeps the delivered-but-unacknowledged job.
func TestQueueConsumerLeaderLoss(t *testing.T) {
	nodes, url := startNATS(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := config.Queue{ResultTTL: config.Duration(time.Hour), MaxPending: 10, MaxDeliver: 3, AckWaitMs: 2000, SyncWaitMs: 5000}
	open := func(name string) *queue.Queue {
		q, err := queue.Open(ctx, cfg, queue.Options{URL: url, Name: name, Languages: []string{"python"},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(q.Close)
		return q
	}
	q := open("api")
	p := &runner.Plan{JobID: uuid.NewString(), Language: "python"}
	if err := q.Submit(ctx, p, queue.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}

	// The worker that dies: it takes the job from the consumer and never answers.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, "CODEEXEC_JOBS", "workers-python")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	for range batch.Messages() {
		taken++
	}
	info, err := cons.Info(ctx)
	if err != nil || info.Cluster == nil || taken != 1 {
		t.Fatalf("took %d jobs; consumer info %+v, %v", taken, info, err)
	}
	nc.Close()
	leader := info.Cluster.Leader
	for _, nd := range nodes {
		if nd.name == leader {
			nd.kill()
		}
	}
	t.Logf("job taken by a worker that died; consumer leader %s killed", leader)

	// Another worker, on another connection, gets it after the ack wait.
	wctx, stop := context.WithCancel(ctx)
	w := &queue.Worker{Q: open("worker"), Name: "w2", Exec: answerAtOnce{}, Warm: warmAlways{}, Slots: 1}
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()
	begin := time.Now()
	s, err := q.Wait(ctx, p.JobID)
	if err != nil {
		t.Fatalf("the job was not run again: %v", err)
	}
	if s.Status != queue.Done || s.Result == nil || s.Worker != "w2" {
		t.Fatalf("state %+v", s)
	}
	t.Logf("run by the second worker %v after it started", time.Since(begin).Round(time.Millisecond))
}

type warmAlways struct{}

func (warmAlways) Warm(string) bool { return true }

// answerAtOnce answers every plan at once.
type answerAtOnce struct{}

func (answerAtOnce) Execute(_ context.Context, p *runner.Plan, _ runner.Sink) (*runner.Result, error) {
	return &runner.Result{JobID: p.JobID, Language: p.Language, Status: runner.OK}, nil
}
