//go:build integration

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/deploy/grafana"
)

// needTool finds a binary of the Debian prometheus package; .ci/run installs it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package prometheus (apt-get install prometheus), as .ci/run does", name)
	}
	return p
}

func getText(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d: %s", u, resp.StatusCode, b)
	}
	return b
}

// exposedNames is every sample name in a text exposition (histograms as _bucket, _sum, _count).
func exposedNames(text []byte) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// The deploy files are what operators load: promtool must accept them as they are.
func TestPrometheusDeployFiles(t *testing.T) {
	promtool := needTool(t, "promtool")
	dir := filepath.Join(repoRoot, "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "config", filepath.Join(dir, "prometheus.yml")},
		{"check", "rules", filepath.Join(dir, "codeexec-rules.yml")},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// And each alert the issue asks for is there.
	rules, err := os.ReadFile(filepath.Join(dir, "codeexec-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, alert := range []string{"CodeExecPoolEmpty", "CodeExecContainerStartFailures", "CodeExecHighRejectionRate",
		"CodeExecLeakedContainers", "CodeExecExecutionLatencyHigh",
		"CodeExecQueueGrowing", "CodeExecNoWorkers", "CodeExecQueueUnreachable", "CodeExecJobsDead"} {
		if !strings.Contains(string(rules), "alert: "+alert+"\n") {
			t.Errorf("alert %s missing from codeexec-rules.yml", alert)
		}
	}
}

// promQuery runs an instant query against Prometheus' HTTP API and returns the value of the
// single sample, or ok=false when there is none yet.
func promQuery(t *testing.T, base, q string) (v float64, ok bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false // Prometheus still starting
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, raw)
	}
	switch len(ans.Data.Result) {
	case 0:
		return 0, false
	case 1:
	default:
		t.Fatalf("query %s: %d samples, want 1: %s", q, len(ans.Data.Result), raw)
	}
	s, _ := ans.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("query %s: value %q", q, s)
	}
	return v, true
}

// waitProm polls a query until cond holds on its value (bounded: it fails, never hangs).
func waitProm(t *testing.T, base, q string, cond func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, ok := promQuery(t, base, q)
		if ok && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never answered as expected for %s (last: %v, present: %v)", q, v, ok)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// The live exposition, read by promtool and by a real Prometheus that scrapes the server and
// loads the repository's alert rules; the dashboard's queries name only metrics that exist.
func TestPrometheusScrapesServer(t *testing.T) {
	prom := needTool(t, "prometheus")
	promtool := needTool(t, "promtool")
	s := StartServer(t, ServerOptions{Languages: []string{"python", "javascript"}, PoolSize: 1})

	// One execution first, so that every kind of series has a sample.
	s.Execute(t, "python", "print('warm')", nil)

	// The k6 scripts' bodies (loadtest/k6/bodies.json) are what the API accepts and runs.
	t.Run("k6 bodies", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, "loadtest", "k6", "bodies.json"))
		if err != nil {
			t.Fatal(err)
		}
		var bodies struct {
			Execute []map[string]any
			Batch   map[string]any
		}
		if err := json.Unmarshal(raw, &bodies); err != nil {
			t.Fatal(err)
		}
		for i, b := range bodies.Execute {
			if r := s.Post(t, "/api/v1/execute", b); r.Code != 200 || r.Str("status") != "ok" {
				t.Errorf("execute body %d: HTTP %d: %s", i, r.Code, r.Raw)
			}
		}
		r := s.Post(t, "/api/v1/batch", bodies.Batch)
		var ans struct {
			Results []struct {
				Succeeded bool
				Result    struct{ Verdict string }
			}
		}
		if err := json.Unmarshal(r.Raw, &ans); r.Code != 200 || err != nil || len(ans.Results) == 0 {
			t.Fatalf("batch body: HTTP %d: %v %s", r.Code, err, r.Raw)
		}
		for i, x := range ans.Results {
			if !x.Succeeded || x.Result.Verdict != "accepted" {
				t.Errorf("batch body, submission %d: %s", i, r.Raw)
			}
		}
	})
	exposition := getText(t, s.URL+"/metrics")

	t.Run("promtool check metrics", func(t *testing.T) {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(exposition)
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	})

	t.Run("dashboard metrics exist", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "codeexec.json"))
		if err != nil {
			t.Fatal(err)
		}
		exprs, err := grafana.Exprs(raw)
		if err != nil {
			t.Fatal(err)
		}
		live := exposedNames(exposition)
		re := regexp.MustCompile(`codeexec_[a-z0-9_]+`)
		n := 0
		for _, e := range exprs {
			for _, name := range re.FindAllString(e, -1) {
				n++
				if !live[name] {
					t.Errorf("dashboard query %q uses %s, which the server does not expose", e, name)
				}
			}
		}
		if n == 0 {
			t.Fatal("no codeexec_ metric in the dashboard's queries")
		}
	})

	t.Run("leak detector finds nothing", func(t *testing.T) {
		if !bytes.Contains(exposition, []byte("\ncodeexec_leaked_containers 0\n")) {
			t.Fatalf("codeexec_leaked_containers is not 0:\n%s", grepLines(exposition, "codeexec_leak"))
		}
	})

	// Debian's Prometheus, on 127.0.0.1, scraping this server every second.
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	dir := t.TempDir()
	target := strings.TrimPrefix(s.URL, "http://")
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: codeexec
    static_configs:
      - targets: [%q]
`, filepath.Join(repoRoot, "deploy", "prometheus", "codeexec-rules.yml"), target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})

	// The scrape works and pool depth is read back.
	waitProm(t, base, fmt.Sprintf(`up{instance=%q}`, target), func(v float64) bool { return v == 1 })
	waitProm(t, base, `codeexec_pool_target_containers{language="python"}`, func(v float64) bool { return v == 1 })
	waitProm(t, base, `codeexec_pool_ready_containers{language="python"}`, func(v float64) bool { return v == 1 })

	before := waitProm(t, base, `sum(codeexec_executions_total{language="python"})`, func(v float64) bool { return v >= 1 })
	const runs = 3
	for i := range runs {
		r := s.Execute(t, "python", fmt.Sprintf("print(%d)", i), nil)
		if st := r.Str("status"); st != "ok" && st != "accepted" {
			t.Fatalf("run %d: status %q: %s", i, st, r.Raw)
		}
	}
	waitProm(t, base, `sum(codeexec_executions_total{language="python"})`, func(v float64) bool { return v == before+runs })
	waitProm(t, base, `sum(codeexec_execution_duration_seconds_count{language="python"})`, func(v float64) bool { return v == before+runs })

	// The repository's rules loaded and evaluate without error against real series.
	raw := getText(t, base+"/api/v1/rules")
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		bad := []string{}
		n := 0
		for _, g := range rules.Data.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health != "ok" {
					bad = append(bad, r.Name+": "+r.Health+" "+r.LastError)
				}
			}
		}
		if n > 0 && len(bad) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert rules: %d loaded, not healthy: %v", n, bad)
		}
		time.Sleep(time.Second)
		if err := json.Unmarshal(getText(t, base+"/api/v1/rules"), &rules); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing fires on a healthy server (the pool is full, nothing leaked).
	if v, ok := promQuery(t, base, `count(ALERTS{alertstate="firing"})`); ok {
		t.Errorf("%v alerts firing on a healthy server: %s", v, getText(t, base+"/api/v1/alerts"))
	}
}

func grepLines(text []byte, sub string) string {
	var out []string
	for _, l := range strings.Split(string(text), "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// With server.logFormat json, each execution is one JSON log line with its jobId, language,
// status and times, and neither the code, the stdin nor the output appears anywhere in the log.
func TestStructuredExecutionLog(t *testing.T) {
	s := StartServer(t, ServerOptions{Languages: []string{"python"}, PoolSize: 1, Edit: func(cfg map[string]any) {
		cfg["server"].(map[string]any)["logFormat"] = "json"
	}})
	const (
		codeMark  = "SECRET_IN_CODE_4711"
		stdinMark = "SECRET_IN_STDIN_4712"
		outMark   = "SECRET_IN_OUTPUT_4713"
	)
	code := fmt.Sprintf("# %s\nimport sys\nsys.stdin.read()\nprint('%s')\nprint('%s', file=sys.stderr)", codeMark, outMark, outMark)
	r := s.Execute(t, "python", code, map[string]any{"stdin": stdinMark})
	jobID := r.Str("jobId")
	if jobID == "" {
		t.Fatalf("no jobId in the answer: %s", r.Raw)
	}
	if !strings.Contains(string(r.Raw), outMark) {
		t.Fatalf("the program did not print its mark, so the test proves nothing: %s", r.Raw)
	}
	var line map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for line == nil {
		for _, l := range strings.Split(strings.TrimSpace(s.Logs()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line is not JSON: %q", l)
			}
			if m["msg"] == "execution" && m["jobId"] == jobID {
				line = m
			}
		}
		if line == nil && time.Now().After(deadline) {
			t.Fatalf("no execution line for job %s in the log", jobID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if line["language"] != "python" || line["status"] != r.Str("status") {
		t.Errorf("execution line %v does not match the answer %s", line, r.Raw)
	}
	for _, k := range []string{"wallMs", "cpuMs", "memoryBytes", "totalMs", "time", "level"} {
		if _, ok := line[k].(float64); !ok && k != "time" && k != "level" {
			t.Errorf("execution line has no number %s: %v", k, line)
		} else if _, ok := line[k]; !ok {
			t.Errorf("execution line has no %s: %v", k, line)
		}
	}
	for _, mark := range []string{codeMark, stdinMark, outMark} {
		if strings.Contains(s.Logs(), mark) {
			t.Errorf("the log contains user data %s", mark)
		}
	}
}
