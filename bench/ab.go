package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/client"
)

// side is one server under test: ours, or a baseline built from another commit (make bench-ab).
type side struct {
	name     string
	instance string
	srv      *server
	api      *apiClient
}

// startSide starts a server with the bench's config copy (same pool sizes for every side) and
// waits until its pools are full.
func startSide(ctx context.Context, cli *client.Client, o options, name, bin, agent, instance string) (*side, error) {
	logf("starting the server %s (instance %s, %s)", name, instance, bin)
	srv, err := startServer(ctx, serverOptions{binary: bin, agent: agent, config: o.config,
		instance: instance, langs: o.langs, poolSize: map[string]int{o.sweepLang: o.sweepPool}})
	if err != nil {
		// A server that failed to start may have created containers before it gave up.
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		removeOurs(cctx, cli, instance)
		return nil, err
	}
	return &side{name: name, instance: instance, srv: srv, api: newAPIClient(srv.url)}, nil
}

// close stops the server and proves that no container of its instance is left.
func (s *side) close(cli *client.Client) error {
	serr := s.srv.stop()
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	left, lerr := ourContainers(cctx, cli, s.instance)
	switch {
	case lerr != nil:
		serr = errors.Join(serr, fmt.Errorf("listing containers after the run: %w", lerr))
	case len(left) > 0:
		removeOurs(cctx, cli, s.instance)
		serr = errors.Join(serr, fmt.Errorf("%d containers were left behind (now removed): %s", len(left), strings.Join(left, ", ")))
	}
	if serr != nil {
		return errors.Join(fmt.Errorf("server %s", s.name), serr, fmt.Errorf("server log tail:\n%s", s.srv.logs.tail(2000)))
	}
	return nil
}

// version is the language's version as the server reports it.
func (s *side) version(ctx context.Context, lang string) string {
	list, _ := s.srv.languages(ctx)
	for _, v := range list {
		if v.Name == lang {
			return v.Version
		}
	}
	return ""
}

// sides are the servers of one run, ours first.
type sides []*side

func (ss sides) present() sides {
	var out sides
	for _, s := range ss {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// inTurn is the order of round i: ours first in even rounds, the baseline first in odd ones, so
// that neither always runs right after the other's refill or always first after a pause.
func (ss sides) inTurn(i int) sides {
	if len(ss) < 2 || i%2 == 0 {
		return ss
	}
	out := append(sides(nil), ss[1:]...)
	return append(out, ss[0])
}

// waitFull waits until every server's pools are full: the one not measured is then idle.
func (ss sides) waitFull(ctx context.Context, limit time.Duration) error {
	for _, s := range ss {
		if err := s.srv.waitFull(ctx, limit); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// Baseline is the same API and sweep measurements against a server built from another commit,
// interleaved with ours in the same run (make bench-ab), for the "same bench run on the commit
// before" comparisons of issues 12 and 20.
type Baseline struct {
	Name      string         `json:"name"`
	Server    string         `json:"server"`
	Agent     string         `json:"agent"`
	Languages []BaselineLang `json:"languages"`
	// Sweep has the same points as Report.Sweep, each run right before or after ours.
	Sweep []SweepPoint `json:"sweep"`
	// Compare has ours against the baseline per sweep point.
	Compare []SweepCompare `json:"sweepCompare"`
}

// BaselineLang is hello world through the baseline's API, one request per round of ours.
type BaselineLang struct {
	Language  string `json:"language"`
	Version   string `json:"version"`
	API       Dist   `json:"api"`
	InSandbox Dist   `json:"inSandbox"`
	// RatioAPI is our API p50 over the baseline's.
	RatioAPI float64 `json:"ratioApiP50OursToBaseline"`
}

// SweepCompare is one concurrency point, ours over the baseline's.
type SweepCompare struct {
	Clients         int     `json:"clients"`
	ThroughputRatio float64 `json:"throughputRatioOursToBaseline"`
	P50Ratio        float64 `json:"p50RatioOursToBaseline"`
	P99Ratio        float64 `json:"p99RatioOursToBaseline"`
}

func compareSweeps(ours, base []SweepPoint) []SweepCompare {
	var out []SweepCompare
	for _, o := range ours {
		if b := pointAt(base, o.Clients); b != nil {
			out = append(out, SweepCompare{Clients: o.Clients, ThroughputRatio: o.Throughput / b.Throughput,
				P50Ratio: o.Latency.P50 / b.Latency.P50, P99Ratio: o.Latency.P99 / b.Latency.P99})
		}
	}
	return out
}

// pointAt is the sweep point with this many clients, or nil.
func pointAt(ps []SweepPoint, clients int) *SweepPoint {
	for i := range ps {
		if ps[i].Clients == clients {
			return &ps[i]
		}
	}
	return nil
}

// lang is the baseline's numbers for a language, or nil.
func (b *Baseline) lang(name string) *BaselineLang {
	if b == nil {
		return nil
	}
	for i := range b.Languages {
		if b.Languages[i].Language == name {
			return &b.Languages[i]
		}
	}
	return nil
}

// sweepAt is the baseline's sweep point with this many clients, or nil.
func (b *Baseline) sweepAt(clients int) *SweepPoint {
	if b == nil {
		return nil
	}
	return pointAt(b.Sweep, clients)
}

// p99OverP50 is the tail's spread at a sweep point (issue 20's fairness measure).
func p99OverP50(p SweepPoint) float64 {
	if p.Latency.P50 <= 0 {
		return 0
	}
	return p.Latency.P99 / p.Latency.P50
}

// abTargets evaluates issue 12 (no regression of the API p50 against the commit before, per
// language) and issue 20 (p99 ≤ 1.5 × p50 at 4, 8 and 16 clients, throughput no lower than the
// commit before's in the same run).
func abTargets(r *Report, sweepLang string) []TargetCheck {
	var out []TargetCheck
	check := func(issue int, target, measured, limit string, met bool, note string) {
		out = append(out, TargetCheck{Issue: issue, Target: target, Measured: measured, Limit: limit, Met: &met, Note: note})
	}
	unknown := func(issue int, target, why string) {
		out = append(out, TargetCheck{Issue: issue, Target: target, Note: why})
	}
	b := r.Baseline
	noBase := "no baseline in this run (make bench-ab)"
	for _, l := range r.Languages {
		t := l.Language + " API p50 ≤ 1.10 × the commit before's, same run"
		bl := b.lang(l.Language)
		if bl == nil || bl.API.N == 0 {
			unknown(12, t, noBase)
			continue
		}
		lim := 1.10 * bl.API.P50
		check(12, t, fmt.Sprintf("%s ms (ratio %.2f)", f1(l.API.P50), bl.RatioAPI),
			fmt.Sprintf("%s ms (%s: %s ms)", f1(lim), b.Name, f1(bl.API.P50)), l.API.P50 <= lim, "")
	}
	for _, c := range []int{4, 8, 16} {
		p := pointAt(r.Sweep, c)
		t := fmt.Sprintf("%s p99 ≤ 1.5 × p50 at %d clients", sweepLang, c)
		tt := fmt.Sprintf("%s throughput at %d clients ≥ the commit before's, same run", sweepLang, c)
		if p == nil {
			unknown(20, t, fmt.Sprintf("no %d-client point in this run", c))
			unknown(20, tt, fmt.Sprintf("no %d-client point in this run", c))
			continue
		}
		lim := 1.5 * p.Latency.P50
		check(20, t, fmt.Sprintf("%s ms (p99/p50 %.2f)", f1(p.Latency.P99), p99OverP50(*p)), f1(lim)+" ms",
			p.Latency.P99 <= lim && p.OK > 0, "")
		bp := b.sweepAt(c)
		if bp == nil {
			unknown(20, tt, noBase)
			continue
		}
		check(20, tt, fmt.Sprintf("%s/s (ratio %.2f), %d errors", f1(p.Throughput), p.Throughput/bp.Throughput, p.Errors),
			fmt.Sprintf("%s/s (%s)", f1(bp.Throughput), b.Name), p.Throughput >= bp.Throughput && p.Errors == 0, "")
	}
	return out
}

// abMarkdown is the report's section comparing ours with the baseline.
func abMarkdown(r *Report) string {
	b := r.Baseline
	if b == nil {
		return ""
	}
	var sb strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	p("\n## Against %s, in the same run\n\n", b.Name)
	p("A second server built from **%s** (server `%s`, agent `%s`, its own instance and port, the same config copy "+
		"and pool sizes) ran beside ours. Each round of the sequential runs sent the request to both, alternating which "+
		"went first, every pool of both full before each request; each sweep point ran against both, one after the "+
		"other, alternating the order per point. The server not measured was idle meanwhile.\n\n", b.Name, b.Server, b.Agent)
	p("| language | ours API p50 | %s API p50 | ours / %s | ours p90 | %s p90 | ours p99 | %s p99 | ours in sandbox p50 | %s in sandbox p50 | %s version |\n",
		b.Name, b.Name, b.Name, b.Name, b.Name, b.Name)
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, l := range r.Languages {
		if bl := b.lang(l.Language); bl != nil {
			p("| %s | %s | %s | **%.2f** | %s | %s | %s | %s | %s | %s | %s |\n", l.Language, f1(l.API.P50), f1(bl.API.P50),
				bl.RatioAPI, f1(l.API.P90), f1(bl.API.P90), f1(l.API.P99), f1(bl.API.P99), f1(l.InSandbox.P50),
				f1(bl.InSandbox.P50), bl.Version)
		}
	}
	p("\n%s closed loop, %.0f s per point per server.\n\n", r.Settings.SweepLanguage, r.Settings.PointSeconds)
	p("| clients | ours /s | %s /s | throughput ours / %s | ours p50 | ours p99 | ours p99/p50 | %s p50 | %s p99 | %s p99/p50 | ours errors, 429 | %s errors, 429 |\n",
		b.Name, b.Name, b.Name, b.Name, b.Name, b.Name)
	p("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, o := range r.Sweep {
		if bp := b.sweepAt(o.Clients); bp != nil {
			p("| %d | %s | %s | **%.2f** | %s | %s | %.2f | %s | %s | %.2f | %d, %d | %d, %d |\n", o.Clients, f1(o.Throughput),
				f1(bp.Throughput), o.Throughput/bp.Throughput, f1(o.Latency.P50), f1(o.Latency.P99), p99OverP50(o),
				f1(bp.Latency.P50), f1(bp.Latency.P99), p99OverP50(*bp), o.Errors, o.Rejected, bp.Errors, bp.Rejected)
		}
	}
	for _, bp := range b.Sweep {
		if bp.FirstError != "" {
			p("\nFirst error of %s at %d clients: `%s`\n", b.Name, bp.Clients, bp.FirstError)
		}
	}
	return sb.String()
}
