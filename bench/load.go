package main

import (
	"context"
	"sync"
	"time"
)

// SweepPoint is one closed-loop concurrency point: each client sends its next request as soon
// as the previous answer arrived.
type SweepPoint struct {
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"` // until the last request of the point finished
	Requests   int     `json:"requests"`
	OK         int     `json:"ok"`
	Rejected   int     `json:"rejected429"`
	Errors     int     `json:"errors"` // anything else: other statuses, transport errors, wrong output
	Throughput float64 `json:"throughputPerSecond"`
	Latency    Dist    `json:"latency"` // of the OK answers
	P99OverP50 float64 `json:"p99OverP50"`
	FirstError string  `json:"firstError,omitempty"`
	// What the pool did meanwhile, from /metrics: what bounds the throughput when the pool
	// cannot refill as fast as requests claim.
	Started       int     `json:"containersStarted"`
	StartsPerSec  float64 `json:"startsPerSecond"`
	StartMeanMs   float64 `json:"startMeanMs"`
	ClaimWaitMean float64 `json:"claimWaitMeanMs"`
	ClaimWaitP90  float64 `json:"claimWaitP90MsFromBuckets"`
}

func (p *SweepPoint) poolDuring(before, after scrape, lang string) {
	st := after[metricStart][lang].sub(before[metricStart][lang])
	p.Started = int(st.Count)
	p.StartsPerSec = float64(st.Count) / p.Seconds
	if st.Count > 0 {
		p.StartMeanMs = 1000 * st.Sum / float64(st.Count)
	}
	cw := after[metricClaim][lang].sub(before[metricClaim][lang])
	if cw.Count > 0 {
		p.ClaimWaitMean = 1000 * cw.Sum / float64(cw.Count)
		p.ClaimWaitP90 = 1000 * cw.quantile(0.9)
	}
}

// tally collects outcomes from concurrent clients.
type tally struct {
	mu       sync.Mutex
	lat      []float64
	inside   []float64 // compile+run wall time the agent measured, per ok request
	requests int
	rejected int
	errors   int
	firstErr string
}

func (t *tally) add(r apiOutcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	switch {
	case r.ok:
		t.lat = append(t.lat, ms(r.took))
		t.inside = append(t.inside, r.runMs+r.compileMs)
	case r.code == 429:
		t.rejected++
	default:
		t.errors++
		if t.firstErr == "" {
			t.firstErr = r.err
		}
	}
}

func closedLoop(ctx context.Context, api *apiClient, lang, code string, clients int, dur time.Duration) SweepPoint {
	var t tally
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				r := api.execute(ctx, lang, code)
				if ctx.Err() != nil {
					return
				}
				t.add(r)
				if r.code == 429 && r.retryAfter > 0 {
					// A well-behaved client waits as told; it does not hammer a full queue.
					wait := time.Duration(r.retryAfter) * time.Second
					if left := time.Until(deadline); wait > left {
						wait = left
					}
					select {
					case <-time.After(wait):
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	p := SweepPoint{Clients: clients, Seconds: el, Requests: t.requests, OK: len(t.lat), Rejected: t.rejected,
		Errors: t.errors, Throughput: float64(len(t.lat)) / el, Latency: summarize(t.lat), FirstError: t.firstErr}
	p.P99OverP50 = p99OverP50(p)
	return p
}

// PacedResult is an open-loop run: requests start on a fixed schedule whatever the answers do,
// so a slow answer cannot hold the next request back and hide the queueing (coordinated omission).
type PacedResult struct {
	RefClients int     `json:"refClients"` // the rate is half of this sweep point's throughput
	Rate       float64 `json:"ratePerSecond"`
	Seconds    float64 `json:"seconds"`
	Requests   int     `json:"requests"`
	OK         int     `json:"ok"`
	Rejected   int     `json:"rejected429"`
	Errors     int     `json:"errors"`
	Latency    Dist    `json:"latency"`
	// InSandbox is the program's own time inside the container: when its tail grows with the
	// latency's, the program itself was slowed (the CPU shared with the engine's starts and
	// removals), not our path to it.
	InSandbox  Dist   `json:"inSandbox"`
	FirstError string `json:"firstError,omitempty"`
	// The engine's work meanwhile: every execution costs a start (and a removal).
	StartsPerSec float64 `json:"startsPerSecond"`
	StartMeanMs  float64 `json:"startMeanMs"`
}

func paced(ctx context.Context, api *apiClient, lang, code string, rate float64, dur time.Duration) PacedResult {
	n := int(rate * dur.Seconds())
	if n < 1 {
		n = 1
	}
	interval := time.Duration(float64(time.Second) / rate)
	var t tally
	var wg sync.WaitGroup
	inFlight := make(chan struct{}, 256) // bounded, whatever happens to the server
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		inFlight <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			t.add(api.execute(ctx, lang, code))
		}()
	}
	wg.Wait()
	return PacedResult{Rate: rate, Seconds: time.Since(start).Seconds(), Requests: t.requests, OK: len(t.lat),
		Rejected: t.rejected, Errors: t.errors, Latency: summarize(t.lat), InSandbox: summarize(t.inside), FirstError: t.firstErr}
}
