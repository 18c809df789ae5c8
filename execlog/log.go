package execlog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/codeexec/codeexec/config"
)

// Log is the execution log as the server uses it: a store to read, a writer to add.
type Log struct {
	Store
	w        *Writer
	cfg      config.ExecLog
	log      *slog.Logger
	stopRet  context.CancelFunc
	retDone  chan struct{}
	Database string // "memory" or the redacted URI, for the start-up log line
}

// Open makes the log from the config section as config.Parse filled it; db (env DB) overrides
// cfg.DB. With no database the records live in memory.
func Open(ctx context.Context, cfg config.ExecLog, db string, log *slog.Logger) (*Log, error) {
	if db != "" {
		cfg.DB = db
	}
	l := &Log{cfg: cfg, log: log, retDone: make(chan struct{})}
	if cfg.DB == "" {
		l.Store, l.Database = NewMemoryStore(cfg.MemoryRecords), "memory"
	} else {
		s, err := OpenMongo(ctx, cfg.DB)
		if err != nil {
			return nil, err
		}
		l.Store, l.Database = s, redact(cfg.DB)
	}
	l.w = NewWriter(l.Store, WriterOptions{BufferSize: cfg.BufferSize, BatchSize: cfg.BatchSize}, log)
	var rctx context.Context
	rctx, l.stopRet = context.WithCancel(context.Background())
	go l.retention(rctx)
	return l, nil
}

// Register adds the writer's metrics to the service's registry.
func (l *Log) Register(reg prometheus.Registerer) error {
	for _, c := range l.w.Collectors() {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering execution log metrics: %w", err)
		}
	}
	return nil
}

// Add queues a record: its text is cut to maxTextBytes and it is stamped with the current time.
func (l *Log) Add(r Record) bool {
	r.cut(l.cfg.MaxTextBytes)
	if r.Created.IsZero() {
		// BSON dates have millisecond precision; truncate so both stores give the same time back.
		r.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	return l.w.Add(r)
}

// Stats computes GET /api/v1/stats over the most recent statsMaxRecords records.
func (l *Log) Stats(ctx context.Context) (*Stats, error) {
	recs, err := l.Sample(ctx, l.cfg.StatsMaxRecords+1)
	if err != nil {
		return nil, err
	}
	complete := len(recs) <= l.cfg.StatsMaxRecords
	if !complete {
		recs = recs[:l.cfg.StatsMaxRecords]
	}
	return ComputeStats(recs, complete), nil
}

// Pending is how many records wait to be written.
func (l *Log) Pending() int { return l.w.Pending() }

// retention deletes records older than retentionDays: now, then every hour (or every tenth of
// the retention when that is shorter). It is a query, not a TTL index, which FerretDB lacks.
func (l *Log) retention(ctx context.Context) {
	defer close(l.retDone)
	if l.cfg.RetentionDays < 0 {
		return
	}
	keep := time.Duration(l.cfg.RetentionDays * float64(24*time.Hour))
	every := min(time.Hour, max(keep/10, time.Second))
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := l.DeleteBefore(dctx, time.Now().Add(-keep))
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.log.Warn("execution log: retention delete failed; next try later", "err", err, "retryIn", every.String())
		case n > 0:
			l.log.Info("execution log: deleted records past retention", "count", n, "retentionDays", l.cfg.RetentionDays)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Close flushes the buffer (until ctx ends), stops retention and closes the store.
func (l *Log) Close(ctx context.Context) error {
	err := l.w.Close(ctx)
	l.stopRet()
	<-l.retDone
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cerr := l.Store.Close(cctx); err == nil {
		err = cerr
	}
	return err
}
