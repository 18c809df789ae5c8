// Package queue carries plans from the processes that take requests to the processes that run
// them, on NATS JetStream, and keeps each submission's state and result. A plan is published on
// the work-queue stream under its language's subject (deduplicated by its token, the plan's job
// id); the workers of that language share one durable consumer, so each job goes to one of them;
// its state (queued, running, done with a result) lives in a key-value bucket under the token, and
// only a compare-and-set write moves it to done, so a token has one final result even when a job
// ran twice. Role all runs an embedded NATS server; the api and worker roles connect to a cluster.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/codeexec/codeexec/config"
)

// Names in NATS.
const (
	streamName    = "CODEEXEC_JOBS"
	subjectPrefix = "codeexec.jobs."
	resultsBucket = "codeexec_results"
	workersBucket = "codeexec_workers"
	blobsBucket   = "codeexec_blobs"
	// blobHeader names the object that holds a plan too large for a message.
	blobHeader = "Codeexec-Plan-Blob"
)

// ErrFull is returned when queue.maxPending jobs wait already.
var ErrFull = errors.New("the job queue is full; try again later")

// ErrUnavailable is returned when NATS does not answer; it wraps the cause (for the log).
var ErrUnavailable = errors.New("the job queue (NATS) is unreachable; try again later")

// ErrNotFound is returned for a token the result store does not hold (never issued, or expired).
var ErrNotFound = errors.New("no submission with this token (unknown, or its result expired)")

// Queue is one process's connection to the queue.
type Queue struct {
	cfg      config.Queue
	log      *slog.Logger
	embedded *server.Server // nil when connected to an external cluster
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	results  jetstream.KeyValue
	workers  jetstream.KeyValue
	// blobs holds plans and results larger than a message may be (NATS's max_payload).
	blobs jetstream.ObjectStore
	langs []string
	// callbacks checks callback URLs and sends them.
	callbacks *Callbacks

	watchMu  sync.Mutex // protects watching
	watching bool
	mu       sync.Mutex                    // protects waiters
	waiters  map[string][]chan *Submission // token -> those waiting for its next state

	Counters Counters
}

// Counters are this process's job counts, for the metrics.
type Counters struct {
	Published, Acked, Redelivered, Dead atomic.Int64
}

// Options say how to reach NATS.
type Options struct {
	// URL is the cluster; empty starts an embedded server storing under cfg.Dir.
	URL string
	// Name names this process to NATS (and the embedded server).
	Name string
	// Languages get a subject and a consumer each.
	Languages []string
	Log       *slog.Logger
}

// Open connects (starting the embedded server when no URL is given) and makes sure the stream,
// the consumers and the buckets exist.
func Open(ctx context.Context, cfg config.Queue, opt Options) (*Queue, error) {
	q := &Queue{cfg: cfg, log: opt.Log, langs: opt.Languages, waiters: map[string][]chan *Submission{}}
	var err error
	q.callbacks, err = NewCallbacks(cfg.CallbackAllow)
	if err != nil {
		return nil, err
	}
	connOpts := []nats.Option{
		nats.Name(opt.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// While disconnected a publish fails at once (503) rather than waiting in a buffer the
		// client cannot see.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				q.log.Warn("queue: disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { q.log.Info("queue: reconnected to NATS", "server", c.ConnectedUrlRedacted()) }),
	}
	if opt.URL == "" {
		if err := q.startEmbedded(opt.Name); err != nil {
			return nil, err
		}
		connOpts = append(connOpts, nats.InProcessServer(q.embedded))
	}
	q.nc, err = nats.Connect(opt.URL, connOpts...)
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("%w: connecting to %s: %w", ErrUnavailable, opt.URL, err)
	}
	q.js, err = jetstream.New(q.nc)
	if err == nil {
		err = q.setup(ctx)
	}
	if err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

func (q *Queue) startEmbedded(name string) error {
	if err := os.MkdirAll(q.cfg.Dir, 0o750); err != nil {
		return fmt.Errorf("queue.dir: %w", err)
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "codeexec-" + name, DontListen: true, JetStream: true, StoreDir: q.cfg.Dir, NoSigs: true,
	})
	if err != nil {
		return fmt.Errorf("embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return errors.New("embedded NATS server: not ready after 30 s")
	}
	q.embedded = ns
	return nil
}

// replicas is queue.replicas, or 3 on a cluster of three or more servers.
func (q *Queue) replicas() int {
	if q.cfg.Replicas > 0 {
		return q.cfg.Replicas
	}
	if q.embedded == nil && len(q.nc.Servers()) >= 3 {
		return 3
	}
	return 1
}

// setup creates or updates the stream, one consumer per language and the buckets. A cluster
// that has just started may have no JetStream leader yet: the first calls are retried.
func (q *Queue) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r := q.replicas()
	retry := func(what string, f func(ctx context.Context) error) error {
		for {
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			err := f(cctx)
			ccancel()
			if err == nil {
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%w: creating %s: %w", ErrUnavailable, what, err)
			}
			q.log.Info("queue: waiting for JetStream", "creating", what, "err", err)
			time.Sleep(500 * time.Millisecond)
		}
	}
	err := retry("the stream", func(ctx context.Context) (err error) {
		q.stream, err = q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: streamName, Subjects: []string{subjectPrefix + "*"},
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: r,
			// The queue's bound: a publish past it is refused by the server itself, so several
			// api processes share it exactly.
			MaxMsgs: int64(q.cfg.MaxPending), Discard: jetstream.DiscardNew,
			Duplicates: 2 * time.Minute,
		})
		return err
	})
	if err != nil {
		return err
	}
	for _, lang := range q.langs {
		// One durable per language with disjoint filters: a work-queue stream refuses two
		// consumers that could take the same message (err 10099).
		err := retry("consumer "+lang, func(ctx context.Context) error {
			_, err := q.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
				Durable: consumerName(lang), FilterSubject: subjectPrefix + lang,
				AckPolicy: jetstream.AckExplicitPolicy, AckWait: q.ackWait(),
				// Redelivery is unbounded here: the worker that receives a job past
				// queue.maxDeliver ends it with an internal error, so it never stays stuck.
				MaxDeliver: -1, Replicas: r,
			})
			return err
		})
		if err != nil {
			return err
		}
	}
	err = retry("the result store", func(ctx context.Context) (err error) {
		q.results, err = q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: resultsBucket, TTL: time.Duration(q.cfg.ResultTTL), History: 1,
			Storage: jetstream.FileStorage, Replicas: r,
		})
		return err
	})
	if err != nil {
		return err
	}
	err = retry("the blob store", func(ctx context.Context) (err error) {
		q.blobs, err = q.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: blobsBucket, TTL: time.Duration(q.cfg.ResultTTL), Storage: jetstream.FileStorage, Replicas: r,
		})
		return err
	})
	if err != nil {
		return err
	}
	return retry("the worker registry", func(ctx context.Context) (err error) {
		q.workers, err = q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: workersBucket, TTL: 3 * heartbeatEvery, History: 1, Storage: jetstream.MemoryStorage, Replicas: r,
		})
		return err
	})
}

func consumerName(lang string) string {
	return "workers-" + strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(lang)
}

func (q *Queue) ackWait() time.Duration { return time.Duration(q.cfg.AckWaitMs) * time.Millisecond }

// Ready reports whether JetStream answers.
func (q *Queue) Ready(ctx context.Context) error {
	if !q.nc.IsConnected() {
		return fmt.Errorf("job queue: not connected to NATS (%s)", q.nc.Status())
	}
	if _, err := q.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("job queue: JetStream does not answer: %w", err)
	}
	return nil
}

// Close disconnects, and stops the embedded server.
func (q *Queue) Close() {
	if q.nc != nil {
		_ = q.nc.Drain()
		q.nc.Close()
	}
	if q.embedded != nil {
		q.embedded.Shutdown()
		q.embedded.WaitForShutdown()
	}
}

// inlineLimit is the largest plan or state sent as one message; larger ones go to the blob
// store in chunks.
func (q *Queue) inlineLimit() int { return int(q.nc.MaxPayload()) - 16<<10 }

// unavailable wraps a NATS error as ErrUnavailable.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// transient tells the errors of a cluster that has lost a server and is electing a new leader
// for a stream: nobody answers for a moment.
func transient(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// patiently runs f until it succeeds, fails otherwise than transiently, or ctx (at most
// electionWait) ends: a leader election delays a request instead of failing it.
func patiently(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, electionWait)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		err := f(cctx)
		ccancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// electionWait is how long a request rides out a cluster without a leader.
const electionWait = 8 * time.Second
