package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Live is the live transports' latency: a python program prints the time (by the clock the
// container shares with the host) and flushes a line every 10 ms; each line's latency is the time
// from that print to the client holding the message that carries it. The ways are interleaved,
// one session of each per round: the native WebSocket, the event stream of POST /api/v1/execute,
// and, as the floor, the same program on the host writing into a pipe the bench reads.
type Live struct {
	Lines  int `json:"linesPerSession"`
	Rounds int `json:"rounds"`
	// Latency by way ("ws", "sse", "host pipe"), in ms.
	Ways map[string]Dist `json:"ways"`
	// HostMissing says why there is no host floor (no python3 on the host).
	HostMissing string `json:"hostMissing,omitempty"`
}

// liveWays are the ways in their order of a round.
var liveWays = []string{"ws", "sse", "host pipe"}

func liveProgram(lines int) string {
	return fmt.Sprintf("import sys, time\nfor i in range(%d):\n    print(time.time_ns(), flush=True)\n    time.sleep(0.01)\n", lines)
}

// measureLive runs rounds × the ways. lines defaults: the program writes for lines × 10 ms.
func measureLive(ctx context.Context, url string, lines, rounds int) (*Live, error) {
	out := &Live{Lines: lines, Rounds: rounds, Ways: map[string]Dist{}}
	python, err := findBinary("python3", "")
	if err != nil {
		out.HostMissing = "no python3 on the host"
	}
	samples := map[string][]float64{}
	for r := range rounds {
		for _, way := range liveWays {
			var got []float64
			switch {
			case way == "ws":
				got, err = liveWS(ctx, url, lines)
			case way == "sse":
				got, err = liveSSE(ctx, url, lines)
			case python != "":
				got, err = livePipe(ctx, python, lines)
			default:
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("live %s, round %d: %w", way, r+1, err)
			}
			if len(got) != lines {
				return nil, fmt.Errorf("live %s, round %d: %d lines arrived, not %d", way, r+1, len(got), lines)
			}
			samples[way] = append(samples[way], got...)
		}
	}
	for way, s := range samples {
		out.Ways[way] = summarize(s)
	}
	return out, nil
}

// lineLatencies turns a chunk of output that arrived at `at` into the latency of each complete
// line in it; rest keeps a line cut between chunks.
func lineLatencies(rest *string, chunk string, at time.Time, into *[]float64) error {
	*rest += chunk
	for {
		i := strings.IndexByte(*rest, '\n')
		if i < 0 {
			return nil
		}
		ns, err := strconv.ParseInt((*rest)[:i], 10, 64)
		if err != nil {
			return fmt.Errorf("line %q: %w", (*rest)[:i], err)
		}
		*into = append(*into, ms(at.Sub(time.Unix(0, ns))))
		*rest = (*rest)[i+1:]
	}
}

func liveWS(ctx context.Context, url string, lines int) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/v1/ws", nil)
	if err != nil {
		return nil, err
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	req, _ := json.Marshal(map[string]any{"language": "python", "interactive": true,
		"files": []map[string]string{{"filename": "main.py", "code": liveProgram(lines)}}})
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		return nil, err
	}
	var got liveLines
	for {
		_, b, err := c.Read(ctx)
		at := time.Now()
		if err != nil {
			return nil, err
		}
		if done, err := got.message(b, at); done || err != nil {
			return got.lat, err
		}
	}
}

// liveLines collects the latencies of the lines in a session's messages.
type liveLines struct {
	lat  []float64
	rest string
}

// message takes one message (WebSocket message or event data) that arrived at `at`; done at the
// result.
func (l *liveLines) message(b []byte, at time.Time) (done bool, err error) {
	var m struct{ Type, Data, Message string }
	if err := json.Unmarshal(b, &m); err != nil {
		return false, err
	}
	switch m.Type {
	case "stdout":
		return false, lineLatencies(&l.rest, m.Data, at, &l.lat)
	case "error":
		return false, fmt.Errorf("error message: %s", m.Message)
	}
	return m.Type == "result", nil
}

func liveSSE(ctx context.Context, url string, lines int) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"language": "python", "code": liveProgram(lines), "timeLimitMs": 15000})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v1/execute", strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var got liveLines
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		at := time.Now()
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if done, err := got.message([]byte(data), at); done || err != nil {
			return got.lat, err
		}
	}
	return nil, fmt.Errorf("the stream ended without a result: %v", sc.Err())
}

// livePipe is the floor: the program on the host, its stdout a pipe the bench reads.
func livePipe(ctx context.Context, python string, lines int) ([]float64, error) {
	cmd := exec.CommandContext(ctx, python, "-c", liveProgram(lines))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var lat []float64
	rest := ""
	buf := make([]byte, 32<<10)
	for {
		n, err := out.Read(buf)
		at := time.Now()
		if n > 0 {
			if lerr := lineLatencies(&rest, string(buf[:n]), at, &lat); lerr != nil {
				return nil, lerr
			}
		}
		if err != nil {
			break
		}
	}
	return lat, cmd.Wait()
}

// liveMarkdown is the report's section on the live transports.
func liveMarkdown(l *Live) string {
	if l == nil {
		return ""
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## Live output\n\n")
	p("A python program prints the time and flushes a line every 10 ms (%d lines per session, %d rounds, the ways "+
		"interleaved); a line's latency is from that print to the client holding the message that carries it (the "+
		"container shares the host's clock). *host pipe* is the floor: the same program on the host, read through a pipe.\n\n",
		l.Lines, l.Rounds)
	p("| way | lines | p50 ms | p90 ms | p99 ms | max ms | p50 / host pipe p50 |\n|---|--:|--:|--:|--:|--:|--:|\n")
	floor, hasFloor := l.Ways["host pipe"]
	for _, way := range liveWays {
		d, ok := l.Ways[way]
		if !ok {
			continue
		}
		ratio := ""
		if hasFloor && floor.P50 > 0 {
			ratio = fmt.Sprintf("%.1f", d.P50/floor.P50)
		}
		p("| %s | %d | %s | %s | %s | %s | %s |\n", way, d.N, f1(d.P50), f1(d.P90), f1(d.P99), f1(d.Max), ratio)
	}
	if l.HostMissing != "" {
		p("\nNo host floor: %s.\n", l.HostMissing)
	}
	return b.String()
}

// liveTargets checks issue 17's target on the native WebSocket.
func liveTargets(l *Live) []TargetCheck {
	if l == nil {
		return nil
	}
	ws, ok := l.Ways["ws"]
	if !ok {
		return nil
	}
	p50, p99 := ws.P50 <= 5, ws.P99 <= 20
	return []TargetCheck{
		{Issue: 17, Target: "live output: write to WebSocket frame p50 ≤ 5 ms", Measured: f1(ws.P50) + " ms", Limit: "5 ms", Met: &p50},
		{Issue: 17, Target: "live output: write to WebSocket frame p99 ≤ 20 ms", Measured: f1(ws.P99) + " ms", Limit: "20 ms", Met: &p99},
	}
}
