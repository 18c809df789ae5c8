package grafana

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite codeexec.json from Dashboard()")

// MetricNames is every codeexec_ metric name the queries use, as written (histogram series
// keep their _bucket/_count/_sum suffix).
func metricNames(exprs []string) map[string]bool {
	re := regexp.MustCompile(`codeexec_[a-z0-9_]+`)
	names := map[string]bool{}
	for _, e := range exprs {
		for _, n := range re.FindAllString(e, -1) {
			names[n] = true
		}
	}
	return names
}

func TestDashboardJSONIsGenerated(t *testing.T) {
	want, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("codeexec.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("codeexec.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("codeexec.json differs from Dashboard(): run `go test ./deploy/grafana -update` and commit it")
	}
}

func TestDashboardLoadsStrictly(t *testing.T) {
	raw, err := os.ReadFile("codeexec.json")
	if err != nil {
		t.Fatal(err)
	}
	exprs, err := Exprs(raw)
	if err != nil {
		t.Fatal(err)
	}
	names := metricNames(exprs)
	// What the issue asks the dashboard to show.
	for _, want := range []string{
		"codeexec_pool_ready_containers", "codeexec_pool_claim_wait_seconds_bucket",
		"codeexec_execution_duration_seconds_bucket", "codeexec_executions_total",
		"codeexec_rejected_requests_total", "codeexec_container_start_seconds_count",
		"codeexec_container_start_failures_total", "codeexec_executions_in_flight", "codeexec_queue_depth",
		"codeexec_queue_jobs_pending", "codeexec_queue_oldest_job_age_seconds", "codeexec_queue_jobs_total",
		"codeexec_queue_workers", "codeexec_queue_worker_slots_in_use",
	} {
		if !names[want] {
			t.Errorf("no panel queries %s", want)
		}
	}
	// A field the schema does not know is an error, not silently dropped, at every level.
	for _, tc := range []struct{ name, from, to string }{
		{"dashboard", `"title": "CodeExec"`, `"title": "CodeExec", "titel": "x"`},
		{"panel", `"title": "Pool depth"`, `"title": "Pool depth", "titel": "x"`},
		{"query", `"legendFormat": "ready {{language}}"`, `"legendFromat": "ready {{language}}"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(raw), tc.from, tc.to, 1)
			if bad == string(raw) {
				t.Fatalf("%s not found in codeexec.json", tc.from)
			}
			if _, err := Exprs([]byte(bad)); err == nil {
				t.Fatal("an unknown field was accepted")
			}
		})
	}
}
