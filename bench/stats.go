package main

import (
	"math"
	"sort"
	"time"
)

// Dist summarises a sample of latencies, in milliseconds.
type Dist struct {
	N    int     `json:"n"`
	Min  float64 `json:"minMs"`
	P50  float64 `json:"p50Ms"`
	P90  float64 `json:"p90Ms"`
	P99  float64 `json:"p99Ms"`
	Max  float64 `json:"maxMs"`
	Mean float64 `json:"meanMs"`
}

// summarize computes the distribution of a sample. The quantiles interpolate between the two
// nearest ranks (as numpy's default and Prometheus' summaries do), so with 30 runs p99 sits
// between the two largest values: it is close to the maximum, and the report says so.
func summarize(ms []float64) Dist {
	if len(ms) == 0 {
		return Dist{}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return Dist{
		N: len(s), Min: s[0], Max: s[len(s)-1], Mean: sum / float64(len(s)),
		P50: quantile(s, 0.50), P90: quantile(s, 0.90), P99: quantile(s, 0.99),
	}
}

// quantile of an ascending sample, linear between closest ranks.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	frac := pos - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// histogram is a Prometheus histogram read from /metrics: cumulative bucket counts by upper bound.
type histogram struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64
}

// sub returns h minus an earlier snapshot of the same histogram: what was observed in between.
func (h histogram) sub(before histogram) histogram {
	out := histogram{Count: h.Count - before.Count, Sum: h.Sum - before.Sum, Buckets: map[float64]uint64{}}
	for le, c := range h.Buckets {
		out.Buckets[le] = c - before.Buckets[le]
	}
	return out
}

// quantile estimates a quantile the way PromQL's histogram_quantile does: linear inside the
// bucket that holds the rank. It returns NaN for an empty histogram.
func (h histogram) quantile(q float64) float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	bounds := make([]float64, 0, len(h.Buckets))
	for le := range h.Buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	rank := q * float64(h.Count)
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		c := float64(h.Buckets[le])
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevBound // above the last finite bound: the best we can say
			}
			if c == prevCount {
				return le
			}
			return prevBound + (le-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = le, c
	}
	return prevBound
}
