package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
)

// The chart is plain SVG written here: three panels, no dependency, readable in any browser and
// on GitHub. Colours: floor grey, API blue, docker run orange.
const (
	chartW     = 960
	colFloor   = "#8c8c8c"
	colAPI     = "#1f77b4"
	colCold    = "#ff7f0e"
	colP99     = "#d62728"
	colCeiling = "#2ca02c"
	colPoolCyc = "#9467bd"
)

type svg struct{ b bytes.Buffer }

func (s *svg) f(format string, a ...any) { fmt.Fprintf(&s.b, format, a...) }

func (s *svg) text(x, y float64, anchor, size, fill, t string) {
	s.f(`<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%s" fill="%s">%s</text>`+"\n", x, y, anchor, size, fill, html.EscapeString(t))
}

func (s *svg) line(x1, y1, x2, y2 float64, stroke string, width float64, dash string) {
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", x1, y1, x2, y2, stroke, width, d)
}

func (s *svg) rect(x, y, w, h float64, fill string) {
	s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, math.Max(w, 0), math.Max(h, 0), fill)
}

func (s *svg) legend(x, y float64, items [][2]string) {
	for _, it := range items {
		s.rect(x, y-9, 12, 10, it[1])
		s.text(x+16, y, "start", "12", "#333", it[0])
		x += 16 + 7.5*float64(len(it[0])) + 18
	}
}

func chart(r *Report) []byte {
	rowH := 3*14 + 14.0
	top := 84.0
	p1H := float64(len(r.Languages))*rowH + 40
	p2Top := top + p1H + 60
	p2H := 260.0
	height := p2Top + p2H + 60
	s := &svg{}
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif">`+"\n",
		chartW, height, chartW, height)
	s.rect(0, 0, chartW, height, "#fff")
	title := fmt.Sprintf("CodeExec hello world — %s, %d CPUs, Docker %s, runc %s", r.Started.Format("2006-01-02"),
		r.Machine.CPUs, r.Machine.Docker, r.Machine.Runc)
	if r.Smoke {
		title += " (smoke run)"
	}
	s.text(chartW/2, 24, "middle", "16", "#000", title)
	latencyByLanguage(s, r, top, rowH)
	concurrency(s, r, 20, p2Top, chartW/2-30, p2H)
	throughput(s, r, chartW/2+10, p2Top, chartW/2-30, p2H)
	s.f("</svg>\n")
	return s.b.Bytes()
}

// latencyByLanguage: per language, three bars (floor, API p50, docker run p50) on a log scale,
// since the values span from ~10 ms to over a second.
func latencyByLanguage(s *svg, r *Report, top, rowH float64) {
	s.text(20, top-30, "start", "14", "#000", "Latency by language, p50 (ms, log scale)")
	s.legend(20, top-10, [][2]string{{"host floor", colFloor}, {"API (warm pool)", colAPI}, {"docker run --rm", colCold}})
	left, right := 110.0, float64(chartW-40)
	maxV := 1.0
	for _, l := range r.Languages {
		maxV = math.Max(maxV, math.Max(l.Cold.P50, l.API.P50))
	}
	minV := maxV
	for _, l := range r.Languages {
		for _, v := range []float64{l.API.P50, l.Cold.P50} {
			if v > 0 {
				minV = math.Min(minV, v)
			}
		}
		if l.Floor != nil && l.Floor.P50 > 0 {
			minV = math.Min(minV, l.Floor.P50)
		}
	}
	lo := math.Pow(10, math.Floor(math.Log10(math.Max(minV, 1))))
	hi := math.Max(lo*10, math.Pow(10, math.Ceil(math.Log10(maxV))))
	x := func(v float64) float64 {
		v = math.Max(v, lo)
		return left + (right-left)*math.Log10(v/lo)/math.Log10(hi/lo)
	}
	bottom := top + float64(len(r.Languages))*rowH
	for d := lo; d <= hi; d *= 10 {
		s.line(x(d), top, x(d), bottom, "#ddd", 1, "")
		s.text(x(d), bottom+16, "middle", "11", "#555", fmt.Sprintf("%g", d))
		for k := 2.0; k < 10 && d*k < hi; k++ {
			s.line(x(d*k), top, x(d*k), bottom, "#f0f0f0", 1, "")
		}
	}
	for i, l := range r.Languages {
		y := top + float64(i)*rowH + 4
		s.text(left-8, y+24, "end", "13", "#000", l.Language)
		bars := []struct {
			v     float64
			col   string
			label string
		}{{math.NaN(), colFloor, "no host runtime"}, {l.API.P50, colAPI, ""}, {l.Cold.P50, colCold, ""}}
		if l.Floor != nil {
			bars[0].v, bars[0].label = l.Floor.P50, ""
		}
		for j, b := range bars {
			by := y + float64(j)*14
			if math.IsNaN(b.v) {
				s.text(left+4, by+10, "start", "10", "#777", b.label)
				continue
			}
			s.rect(left, by, x(b.v)-left, 12, b.col)
			s.text(x(b.v)+4, by+10, "start", "10", "#333", f1(b.v))
		}
	}
}

// concurrency: p50 and p99 against the number of clients.
func concurrency(s *svg, r *Report, left0, top, w, h float64) {
	s.text(left0, top-30, "start", "14", "#000", fmt.Sprintf("%s latency vs concurrency (ms)", r.Settings.SweepLanguage))
	s.legend(left0, top-10, [][2]string{{"p50", colAPI}, {"p99", colP99}})
	maxV := 1.0
	for _, p := range r.Sweep {
		maxV = math.Max(maxV, p.Latency.P99)
	}
	points := func(get func(SweepPoint) float64) []float64 {
		out := make([]float64, len(r.Sweep))
		for i, p := range r.Sweep {
			out[i] = get(p)
		}
		return out
	}
	axes(s, r, left0+50, top, w-50, h, maxV, "clients")
	plotLine(s, left0+50, top, w-50, h, maxV, points(func(p SweepPoint) float64 { return p.Latency.P50 }), colAPI, "", true)
	plotLine(s, left0+50, top, w-50, h, maxV, points(func(p SweepPoint) float64 { return p.Latency.P99 }), colP99, "", false)
}

// throughput: requests/s against clients, with the engine's churn ceiling and 80 % of it.
func throughput(s *svg, r *Report, left0, top, w, h float64) {
	s.text(left0, top-30, "start", "14", "#000", fmt.Sprintf("%s throughput vs concurrency (per second)", r.Settings.SweepLanguage))
	s.legend(left0, top-10, [][2]string{{"ok answers", colAPI}, {"pool starts", colFloor}, {"engine churn", colCeiling}, {"pool cycle", colPoolCyc}})
	maxV := math.Max(r.ChurnCeiling, r.PoolCeiling)
	vals := make([]float64, len(r.Sweep))
	starts := make([]float64, len(r.Sweep))
	for i, p := range r.Sweep {
		vals[i], starts[i] = p.Throughput, p.StartsPerSec
		maxV = math.Max(maxV, math.Max(p.Throughput, p.StartsPerSec))
	}
	maxV = math.Max(maxV, 1)
	axes(s, r, left0+50, top, w-50, h, maxV, "clients")
	if r.ChurnCeiling > 0 {
		y := top + h - h*r.ChurnCeiling/(maxV*1.1)
		s.line(left0+50, y, left0+w, y, colCeiling, 1.5, "6,4")
		s.text(left0+54, y-4, "start", "10", colCeiling, "ceiling "+f1(r.ChurnCeiling)+"/s")
		y80 := top + h - h*0.8*r.ChurnCeiling/(maxV*1.1)
		s.line(left0+50, y80, left0+w, y80, colCeiling, 1, "2,3")
		s.text(left0+54, y80-4, "start", "10", colCeiling, "80 % of it")
	}
	if r.PoolCeiling > 0 {
		y := top + h - h*r.PoolCeiling/(maxV*1.1)
		s.line(left0+50, y, left0+w, y, colPoolCyc, 1.5, "6,4")
		s.text(left0+w, y-4, "end", "10", colPoolCyc, "pool cycle "+f1(r.PoolCeiling)+"/s")
	}
	plotLine(s, left0+50, top, w-50, h, maxV, starts, colFloor, "4,3", true)
	plotLine(s, left0+50, top, w-50, h, maxV, vals, colAPI, "", false)
}

// axes draws a frame with y ticks from 0 to maxV·1.1 and one x tick per sweep point.
func axes(s *svg, r *Report, left, top, w, h, maxV float64, xlabel string) {
	ymax := maxV * 1.1
	step := niceStep(ymax / 5)
	for v := 0.0; v <= ymax; v += step {
		y := top + h - h*v/ymax
		s.line(left, y, left+w, y, "#eee", 1, "")
		s.text(left-6, y+4, "end", "11", "#555", fmt.Sprintf("%g", v))
	}
	s.line(left, top+h, left+w, top+h, "#333", 1, "")
	s.line(left, top, left, top+h, "#333", 1, "")
	for i, p := range r.Sweep {
		x := xAt(left, w, i, len(r.Sweep))
		s.text(x, top+h+16, "middle", "11", "#555", fmt.Sprint(p.Clients))
	}
	s.text(left+w/2, top+h+34, "middle", "12", "#333", xlabel)
}

func xAt(left, w float64, i, n int) float64 {
	if n <= 1 {
		return left + w/2
	}
	return left + 20 + (w-40)*float64(i)/float64(n-1)
}

// plotLine draws a series; labelBelow puts the value labels under the points, for a series
// that runs just below another.
func plotLine(s *svg, left, top, w, h, maxV float64, vals []float64, col, dash string, labelBelow bool) {
	ymax := maxV * 1.1
	var pts bytes.Buffer
	for i, v := range vals {
		if math.IsNaN(v) {
			continue
		}
		x, y := xAt(left, w, i, len(vals)), top+h-h*v/ymax
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
		s.f(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x, y, col)
		ly := y - 7
		if labelBelow {
			ly = y + 15
		}
		s.text(x, ly, "middle", "10", col, f1(v))
	}
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	s.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", bytes.TrimSpace(pts.Bytes()), col, d)
}

// niceStep rounds a raw tick step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}
