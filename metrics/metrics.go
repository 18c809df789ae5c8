// Package metrics exposes the service's Prometheus metrics (prefix codeexec_) on one registry,
// and turns pool and runner events into them. It is an adapter to Prometheus only: it knows none
// of the service's types, and its callers hand it plain values.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors.
type Metrics struct {
	Registry *prometheus.Registry

	executions     *prometheus.CounterVec
	execDuration   *prometheus.HistogramVec
	execCPU        *prometheus.HistogramVec
	execMemory     *prometheus.HistogramVec
	inFlight       prometheus.Gauge
	queued         prometheus.Gauge
	rejected       *prometheus.CounterVec
	claimWait      *prometheus.HistogramVec
	containerStart *prometheus.HistogramVec
	startFailures  *prometheus.CounterVec
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	leaked         prometheus.Gauge
	leakChecks     *prometheus.CounterVec
	sessionsOpen   *prometheus.GaugeVec
	sessionTime    *prometheus.HistogramVec
	streamed       *prometheus.CounterVec
}

// New registers every metric, and the Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Seconds from ~5 ms (a warm python hello) to tens of seconds (limits).
	secBuckets := []float64{.005, .01, .02, .035, .05, .075, .1, .15, .25, .4, .6, 1, 1.5, 2.5, 4, 6, 10, 15, 30, 60}
	m.executions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "codeexec_executions_total", Help: "Executions finished, by language and status.",
	}, []string{"language", "status"})
	m.execDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "codeexec_execution_duration_seconds", Help: "Time from claiming a container to the verdict, by language.",
		Buckets: secBuckets,
	}, []string{"language"})
	m.execCPU = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "codeexec_execution_cpu_seconds", Help: "CPU time of the run step, by language.",
		Buckets: secBuckets,
	}, []string{"language"})
	m.execMemory = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "codeexec_execution_memory_bytes", Help: "Peak memory of the run step, by language.",
		Buckets: prometheus.ExponentialBuckets(1<<20, 2, 12), // 1 MiB to 2 GiB
	}, []string{"language"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "codeexec_executions_in_flight", Help: "Executions running now.",
	})
	m.queued = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "codeexec_queue_depth", Help: "Executions waiting for a slot.",
	})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "codeexec_rejected_requests_total", Help: "Requests turned away before running, by reason.",
	}, []string{"reason"})
	m.claimWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "codeexec_pool_claim_wait_seconds", Help: "Time to get a warm container, unpause included, by language.",
		Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"language"})
	m.containerStart = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "codeexec_container_start_seconds", Help: "Time to create, start, warm and pause a container, by language.",
		Buckets: []float64{.1, .2, .3, .5, .75, 1, 1.5, 2.5, 5, 10, 30},
	}, []string{"language"})
	m.startFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "codeexec_container_start_failures_total", Help: "Containers that failed to start, by language.",
	}, []string{"language"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "codeexec_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "codeexec_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: secBuckets,
	}, []string{"route"})
	m.leaked = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "codeexec_leaked_containers",
		Help: "Containers labelled with this instance that no pool knows (neither warm, starting, claimed nor being removed).",
	})
	m.leakChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "codeexec_leak_checks_total", Help: "Leak detector runs, by result (ok or error: the engine did not answer).",
	}, []string{"result"})
	m.sessionsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "codeexec_live_sessions_open", Help: "Live sessions open now, by transport (ws, piston, sse).",
	}, []string{"transport"})
	m.sessionTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "codeexec_live_session_duration_seconds", Help: "Duration of live sessions, by transport.",
		Buckets: secBuckets,
	}, []string{"transport"})
	m.streamed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "codeexec_live_streamed_bytes_total", Help: "Program output sent to live clients as it came, by transport.",
	}, []string{"transport"})
	for _, t := range Transports {
		m.sessionsOpen.WithLabelValues(t)
		m.sessionTime.WithLabelValues(t)
		m.streamed.WithLabelValues(t)
	}
	for _, c := range []prometheus.Collector{m.sessionsOpen, m.sessionTime, m.streamed, m.leaked, m.leakChecks, m.executions, m.execDuration, m.execCPU, m.execMemory, m.inFlight,
		m.queued, m.rejected, m.claimWait, m.containerStart, m.startFailures, m.httpRequests, m.httpDuration} {
		f(c)
	}
	// Known label values start at 0, so that dashboards and alerts (rate, absent) see the series
	// before the first event.
	for _, r := range RejectReasons {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.leakChecks.WithLabelValues(r)
	}
	return m
}

// RejectReasons are the reasons runner and api report to Rejected.
var RejectReasons = []string{"queue_full", "queue_timeout", "client_gone", "rate_limit", "sessions_full"}

// Transports are the live transports' names, the values of the transport label.
var Transports = []string{"ws", "piston", "sse"}

// PoolNumbers are one language's pool counts.
type PoolNumbers struct {
	Lang string
	// Ready: warm containers waiting; Target: how many the pool keeps; Out: claimed or being
	// removed; Starting: being started.
	Ready, Target, Out, Starting int
}

// WatchPools starts every per-language series at zero, with each of statuses as a value of the
// executions' status label, and exposes the pools' counts, which numbers returns (one entry per
// language) when Prometheus scrapes.
func (m *Metrics) WatchPools(langs, statuses []string, numbers func() []PoolNumbers) {
	for _, lang := range langs {
		m.claimWait.WithLabelValues(lang)
		m.containerStart.WithLabelValues(lang)
		m.startFailures.WithLabelValues(lang)
		m.execDuration.WithLabelValues(lang)
		m.execCPU.WithLabelValues(lang)
		m.execMemory.WithLabelValues(lang)
		for _, st := range statuses {
			m.executions.WithLabelValues(lang, st)
		}
	}
	m.Registry.MustRegister(&poolCollector{numbers: numbers})
}

// poolCollector reads all pools' counts once per scrape.
type poolCollector struct {
	numbers func() []PoolNumbers
}

var (
	poolReady    = prometheus.NewDesc("codeexec_pool_ready_containers", "Warm containers waiting, by language.", []string{"language"}, nil)
	poolTarget   = prometheus.NewDesc("codeexec_pool_target_containers", "Warm containers the pool keeps, by language.", []string{"language"}, nil)
	poolOut      = prometheus.NewDesc("codeexec_pool_claimed_containers", "Containers claimed or being removed, by language.", []string{"language"}, nil)
	poolStarting = prometheus.NewDesc("codeexec_pool_starting_containers", "Containers being started, by language.", []string{"language"}, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolReady, poolTarget, poolOut, poolStarting} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.numbers() {
		for _, g := range []struct {
			d *prometheus.Desc
			v int
		}{{poolReady, n.Ready}, {poolTarget, n.Target}, {poolOut, n.Out}, {poolStarting, n.Starting}} {
			ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, float64(g.v), n.Lang)
		}
	}
}

// WatchLeaks sets codeexec_leaked_containers every interval until ctx ends, from leaked: how
// many containers the engine holds for this instance that no pool knows of. It runs in the
// background, not at scrape time, so that scrapes never hit the engine.
func (m *Metrics) WatchLeaks(ctx context.Context, leaked func(context.Context) (int, error), every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.checkLeaks(ctx, leaked, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Metrics) checkLeaks(ctx context.Context, leaked func(context.Context) (int, error), log *slog.Logger) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	n, err := leaked(lctx)
	cancel()
	if err != nil {
		m.leakChecks.WithLabelValues("error").Inc()
		if ctx.Err() == nil {
			log.Warn("leak detector: listing containers", "err", err)
		}
		return
	}
	m.leakChecks.WithLabelValues("ok").Inc()
	m.leaked.Set(float64(n))
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// pool.Observer: its methods take plain values already.

func (m *Metrics) ContainerStarted(lang string, took time.Duration) {
	m.containerStart.WithLabelValues(lang).Observe(took.Seconds())
}
func (m *Metrics) ContainerStartFailed(lang string, _ error) {
	m.startFailures.WithLabelValues(lang).Inc()
}
func (m *Metrics) Claimed(lang string, waited time.Duration) {
	m.claimWait.WithLabelValues(lang).Observe(waited.Seconds())
}

// The runner's admission events.

func (m *Metrics) Queued(delta int)       { m.queued.Add(float64(delta)) }
func (m *Metrics) Running(delta int)      { m.inFlight.Add(float64(delta)) }
func (m *Metrics) Rejected(reason string) { m.rejected.WithLabelValues(reason).Inc() }

// Executed records one finished execution: took from claim to verdict; cpu and memoryBytes are
// the run's, observed only when ran (a compile error never ran).
func (m *Metrics) Executed(lang, status string, took, cpu time.Duration, memoryBytes int64, ran bool) {
	m.executions.WithLabelValues(lang, status).Inc()
	m.execDuration.WithLabelValues(lang).Observe(took.Seconds())
	if ran {
		m.execCPU.WithLabelValues(lang).Observe(cpu.Seconds())
		m.execMemory.WithLabelValues(lang).Observe(float64(memoryBytes))
	}
}

// ObserveHTTP records one HTTP request.
func (m *Metrics) ObserveHTTP(route string, code int, took time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(took.Seconds())
}

// Live sessions.

func (m *Metrics) SessionOpened(transport string) { m.sessionsOpen.WithLabelValues(transport).Inc() }
func (m *Metrics) SessionClosed(transport string, took time.Duration) {
	m.sessionsOpen.WithLabelValues(transport).Dec()
	m.sessionTime.WithLabelValues(transport).Observe(took.Seconds())
}
func (m *Metrics) Streamed(transport string, bytes int) {
	m.streamed.WithLabelValues(transport).Add(float64(bytes))
}

// QueueNumbers are what the job queue holds, read at scrape time, and this process's counts.
type QueueNumbers struct {
	// Up is false when the queue did not answer; the other numbers are then absent.
	Up        bool
	Languages []QueueLanguage
	Workers   []QueueWorker
}

// QueueLanguage is one language's queue: jobs no worker took yet and the oldest job's age.
type QueueLanguage struct {
	Lang          string
	Pending       int
	OldestSeconds float64
}

// QueueWorker is one worker as its heartbeat reports it.
type QueueWorker struct {
	Name         string
	Slots, InUse int
}

// QueueEvents are this process's job counts since it started.
type QueueEvents struct {
	Published, Acked, Redelivered, Dead int64
}

// WatchQueue exposes the job queue: numbers reads it at scrape time (bounded by ctx), events
// returns this process's counts.
func (m *Metrics) WatchQueue(numbers func(ctx context.Context) QueueNumbers, events func() QueueEvents) {
	m.Registry.MustRegister(&queueCollector{numbers: numbers, events: events})
}

type queueCollector struct {
	numbers func(ctx context.Context) QueueNumbers
	events  func() QueueEvents
}

var (
	queueUp      = prometheus.NewDesc("codeexec_queue_up", "1 when the job queue (NATS JetStream) answered this scrape's reads.", nil, nil)
	queuePending = prometheus.NewDesc("codeexec_queue_jobs_pending", "Jobs in the queue that no worker took yet, by language.", []string{"language"}, nil)
	queueOldest  = prometheus.NewDesc("codeexec_queue_oldest_job_age_seconds", "Age of the oldest job in the queue (waiting or running), by language; 0 when empty.", []string{"language"}, nil)
	queueJobs    = prometheus.NewDesc("codeexec_queue_jobs_total", "Jobs this process published, acknowledged (final result stored), saw redelivered, or ended after queue.maxDeliver attempts (dead).", []string{"event"}, nil)
	queueWorkers = prometheus.NewDesc("codeexec_queue_workers", "Workers whose heartbeat is recent.", nil, nil)
	workerSlots  = prometheus.NewDesc("codeexec_queue_worker_slots", "Execution slots of each worker.", []string{"worker"}, nil)
	workerInUse  = prometheus.NewDesc("codeexec_queue_worker_slots_in_use", "Execution slots each worker is using.", []string{"worker"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueUp, queuePending, queueOldest, queueJobs, queueWorkers, workerSlots, workerInUse} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ev := c.events()
	for _, e := range []struct {
		name string
		v    int64
	}{{"published", ev.Published}, {"acked", ev.Acked}, {"redelivered", ev.Redelivered}, {"dead", ev.Dead}} {
		ch <- prometheus.MustNewConstMetric(queueJobs, prometheus.CounterValue, float64(e.v), e.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n := c.numbers(ctx)
	up := 0.0
	if n.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, up)
	if !n.Up {
		return
	}
	for _, l := range n.Languages {
		ch <- prometheus.MustNewConstMetric(queuePending, prometheus.GaugeValue, float64(l.Pending), l.Lang)
		ch <- prometheus.MustNewConstMetric(queueOldest, prometheus.GaugeValue, l.OldestSeconds, l.Lang)
	}
	ch <- prometheus.MustNewConstMetric(queueWorkers, prometheus.GaugeValue, float64(len(n.Workers)))
	for _, w := range n.Workers {
		ch <- prometheus.MustNewConstMetric(workerSlots, prometheus.GaugeValue, float64(w.Slots), w.Name)
		ch <- prometheus.MustNewConstMetric(workerInUse, prometheus.GaugeValue, float64(w.InUse), w.Name)
	}
}
