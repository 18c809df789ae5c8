package execlog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/codeexec/codeexec/config"
)

// WriterOptions tune the writer; zero values take the defaults (the sizes config's, which the
// server's config always sets).
type WriterOptions struct {
	BufferSize   int           // records waiting; past it, Add drops
	BatchSize    int           // most records per insert
	WriteTimeout time.Duration // one insert attempt (default 10 s)
	BackoffMin   time.Duration // first wait after a failed insert (default 100 ms)
	BackoffMax   time.Duration // longest wait between attempts (default 5 s)
}

func (o *WriterOptions) defaults() {
	if o.BufferSize <= 0 {
		o.BufferSize = config.DefaultExecLogBufferSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = config.DefaultExecLogBatchSize
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = 5 * time.Second
	}
}

// Writer moves records from Add, which never blocks, to the store in batches, in the background.
// A failed batch is retried with exponential backoff until it is written, so records wait while
// the database is away; meanwhile new records queue in a bounded buffer and only a full buffer
// drops. A single goroutine writes, so records are written in the order they were added.
type Writer struct {
	store Store
	opt   WriterOptions
	log   *slog.Logger

	mu     sync.RWMutex // guards closed against Add sending on a closed channel
	closed bool
	in     chan Record
	done   chan struct{}

	// giveUp is cancelled when Close's deadline passes: retries stop and what is left is dropped.
	giveUp context.Context
	cancel context.CancelFunc

	inFlight atomic.Int64 // records of the batch being written

	dropped  prometheus.Counter
	written  prometheus.Counter
	failures prometheus.Counter
	pending  prometheus.GaugeFunc
}

// NewWriter starts the writer's goroutine.
func NewWriter(store Store, opt WriterOptions, log *slog.Logger) *Writer {
	opt.defaults()
	w := &Writer{store: store, opt: opt, log: log, in: make(chan Record, opt.BufferSize), done: make(chan struct{})}
	w.giveUp, w.cancel = context.WithCancel(context.Background())
	w.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "codeexec_execlog_dropped_records_total",
		Help: "Execution log records dropped: the buffer was full (database away too long) or the shutdown flush ran out of time.",
	})
	w.written = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "codeexec_execlog_written_records_total", Help: "Execution log records written to the store.",
	})
	w.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "codeexec_execlog_write_failures_total", Help: "Failed insert attempts of the execution log (each is retried).",
	})
	w.pending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "codeexec_execlog_pending_records", Help: "Execution log records waiting to be written.",
	}, func() float64 { return float64(w.Pending()) })
	go w.loop()
	return w
}

// Collectors are the writer's metrics, for the service's registry.
func (w *Writer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.dropped, w.written, w.failures, w.pending}
}

// Pending is how many records wait to be written.
func (w *Writer) Pending() int { return len(w.in) + int(w.inFlight.Load()) }

// Add queues a record without blocking. It returns false when the record was dropped.
func (w *Writer) Add(r Record) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(1, "the execution log is shut down", r.JobID)
		return false
	}
	select {
	case w.in <- r:
		return true
	default:
		w.drop(1, "the buffer is full: the database has not taken records for a while", r.JobID)
		return false
	}
}

func (w *Writer) drop(n int, reason, jobID string) {
	w.dropped.Add(float64(n))
	if jobID != "" {
		w.log.Warn("execution log: record dropped", "jobId", jobID, "reason", reason)
	} else {
		w.log.Warn("execution log: records dropped", "count", n, "reason", reason)
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	batch := make([]Record, 0, w.opt.BatchSize)
	for r := range w.in {
		// Take what is already waiting, up to a batch: under load records batch up by
		// themselves while the previous insert runs, and a lone record is written at once.
		batch = append(batch[:0], r)
	fill:
		for len(batch) < w.opt.BatchSize {
			select {
			case r, ok := <-w.in:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.inFlight.Store(int64(len(batch)))
		w.write(batch)
		w.inFlight.Store(0)
	}
}

// write inserts one batch, retrying until it succeeds or Close's deadline passes. Retrying the
// same batch is safe: the store skips jobIds it already has.
func (w *Writer) write(batch []Record) {
	wait := w.opt.BackoffMin
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(w.giveUp, w.opt.WriteTimeout)
		err := w.store.Insert(ctx, batch)
		cancel()
		if err == nil {
			w.written.Add(float64(len(batch)))
			if attempt > 1 {
				w.log.Info("execution log: the database takes records again", "records", len(batch), "attempts", attempt)
			}
			return
		}
		w.failures.Inc()
		if w.giveUp.Err() != nil {
			w.drop(len(batch), "shutdown: the database did not take them in time", "")
			return
		}
		// The first failure and then one in ten, so a long outage does not flood the log.
		if attempt == 1 || attempt%10 == 0 {
			w.log.Warn("execution log: insert failed, retrying", "records", len(batch), "attempt", attempt,
				"retryIn", wait.String(), "pending", w.Pending(), "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.giveUp.Done():
			t.Stop()
		}
		wait = min(wait*2, w.opt.BackoffMax)
	}
}

// Close stops taking records and writes what is buffered. When ctx ends first, the rest is
// dropped (and counted) and Close returns ctx's error.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		w.cancel()
		return nil
	case <-ctx.Done():
		w.cancel()
		<-w.done
		return ctx.Err()
	}
}
