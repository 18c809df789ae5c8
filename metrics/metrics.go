// Package metrics exposes the service's Prometheus metrics (prefix codeexec_) on one registry,
// and turns pool and runner events into them.
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

	"github.com/codeexec/codeexec/pool"
	"github.com/codeexec/codeexec/runner"
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
	for _, c := range []prometheus.Collector{m.leaked, m.leakChecks, m.executions, m.execDuration, m.execCPU, m.execMemory, m.inFlight,
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
var RejectReasons = []string{"queue_full", "queue_timeout", "client_gone", "rate_limit"}

// WatchPools exposes each pool's depth and target, read at scrape time.
func (m *Metrics) WatchPools(mgr *pool.Manager) {
	for _, p := range mgr.Pools() {
		labels := prometheus.Labels{"language": p.Lang()}
		lang := p.Lang()
		m.claimWait.WithLabelValues(lang)
		m.containerStart.WithLabelValues(lang)
		m.startFailures.WithLabelValues(lang)
		m.execDuration.WithLabelValues(lang)
		m.execCPU.WithLabelValues(lang)
		m.execMemory.WithLabelValues(lang)
		for _, st := range []runner.Status{runner.OK, runner.Accepted, runner.WrongAnswer, runner.CompileError,
			runner.RuntimeError, runner.TimeLimitExceeded, runner.MemoryLimitExceeded, runner.OutputLimitExceeded} {
			m.executions.WithLabelValues(lang, string(st))
		}
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "codeexec_pool_ready_containers", Help: "Warm containers waiting, by language.", ConstLabels: labels,
		}, func() float64 { return float64(p.Ready()) }))
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "codeexec_pool_target_containers", Help: "Warm containers the pool keeps, by language.", ConstLabels: labels,
		}, func() float64 { return float64(p.Target()) }))
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "codeexec_pool_claimed_containers", Help: "Containers claimed or being removed, by language.", ConstLabels: labels,
		}, func() float64 { return float64(p.Out()) }))
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "codeexec_pool_starting_containers", Help: "Containers being started, by language.", ConstLabels: labels,
		}, func() float64 { return float64(p.Starting()) }))
	}
}

// Lister lists the IDs of the containers labelled with this instance (pool.Docker.Owned).
type Lister interface {
	Owned(ctx context.Context) ([]string, error)
}

// WatchLeaks sets codeexec_leaked_containers every interval until ctx ends: what the engine lists
// for this instance minus what the pools know. It runs in the background, not at scrape time, so
// that scrapes never hit the engine.
func (m *Metrics) WatchLeaks(ctx context.Context, engine Lister, mgr *pool.Manager, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.checkLeaks(ctx, engine, mgr, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Metrics) checkLeaks(ctx context.Context, engine Lister, mgr *pool.Manager, log *slog.Logger) {
	// The pool's counts move while the engine answers. Reading them before and after the list
	// and keeping the larger avoids calling a container that was started or removed meanwhile a
	// leak; a real leak stays and shows on every run (the alert waits for several).
	before := known(mgr)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ids, err := engine.Owned(lctx)
	cancel()
	if err != nil {
		m.leakChecks.WithLabelValues("error").Inc()
		if ctx.Err() == nil {
			log.Warn("leak detector: listing containers", "err", err)
		}
		return
	}
	m.leakChecks.WithLabelValues("ok").Inc()
	m.leaked.Set(float64(max(0, len(ids)-max(before, known(mgr)))))
}

// known is every container the pools account for. Starting is read before Ready and Ready before
// Out, so that a container moving along that path is counted twice rather than missed.
func known(mgr *pool.Manager) int {
	n := 0
	for _, p := range mgr.Pools() {
		n += p.Starting()
		n += p.Ready()
		n += p.Out()
	}
	return n
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// pool.Observer

func (m *Metrics) ContainerStarted(lang string, took time.Duration) {
	m.containerStart.WithLabelValues(lang).Observe(took.Seconds())
}
func (m *Metrics) ContainerStartFailed(lang string, _ error) {
	m.startFailures.WithLabelValues(lang).Inc()
}
func (m *Metrics) Claimed(lang string, waited time.Duration) {
	m.claimWait.WithLabelValues(lang).Observe(waited.Seconds())
}

// runner.Observer

func (m *Metrics) Queued(delta int)       { m.queued.Add(float64(delta)) }
func (m *Metrics) Running(delta int)      { m.inFlight.Add(float64(delta)) }
func (m *Metrics) Rejected(reason string) { m.rejected.WithLabelValues(reason).Inc() }
func (m *Metrics) Finished(r *runner.Result, took time.Duration) {
	m.executions.WithLabelValues(r.Language, string(r.Status)).Inc()
	m.execDuration.WithLabelValues(r.Language).Observe(took.Seconds())
	if r.Status != runner.CompileError {
		m.execCPU.WithLabelValues(r.Language).Observe(r.Run.CPUTimeMs / 1000)
		m.execMemory.WithLabelValues(r.Language).Observe(float64(r.Run.MemoryBytes))
	}
}

// ObserveHTTP records one HTTP request.
func (m *Metrics) ObserveHTTP(route string, code int, took time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(took.Seconds())
}
