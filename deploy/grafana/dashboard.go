// Package grafana builds the CodeExec Grafana dashboard (codeexec.json) with the Grafana
// Foundation SDK, and reads it back strictly for the checks: `go test ./deploy/grafana -update`
// rewrites the JSON after a change here.
package grafana

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// ds is the Prometheus data source picked in the dashboard's "datasource" variable.
var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

type query struct{ expr, legend string }

func panel(title, unit, desc string, qs ...query) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Unit(unit).Description(desc).Datasource(ds).
		Min(0).Height(8).Span(12)
	for _, q := range qs {
		// The data source on each query too: it is what tells a strict reader the query's type.
		p.WithTarget(prometheus.NewDataqueryBuilder().Datasource(ds).Expr(q.expr).LegendFormat(q.legend))
	}
	return p
}

func quantiles(metric string) []query {
	var qs []query
	for _, q := range []string{"0.5", "0.95", "0.99"} {
		qs = append(qs, query{
			fmt.Sprintf(`histogram_quantile(%s, sum by (language, le) (rate(%s_bucket[$__rate_interval])))`, q, metric),
			"p" + q[2:] + " {{language}}",
		})
	}
	return qs
}

// Dashboard builds the dashboard.
func Dashboard() (dashboard.Dashboard, error) {
	return dashboard.NewDashboardBuilder("CodeExec").
		Uid("codeexec").
		Tags([]string{"codeexec"}).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus")).
		WithRow(dashboard.NewRowBuilder("Pools")).
		WithPanel(panel("Pool depth", "short", "Warm containers ready, target, starting and claimed, by language.",
			query{`sum by (language) (codeexec_pool_ready_containers)`, "ready {{language}}"},
			query{`sum by (language) (codeexec_pool_target_containers)`, "target {{language}}"},
			query{`sum by (language) (codeexec_pool_starting_containers)`, "starting {{language}}"},
			query{`sum by (language) (codeexec_pool_claimed_containers)`, "claimed {{language}}"})).
		WithPanel(panel("Claim wait", "s", "Time to get a warm container (unpause included); high means the pool is too small.",
			quantiles("codeexec_pool_claim_wait_seconds")...)).
		WithPanel(panel("Container starts and failures", "ops", "Containers started (create+start+pause) and failed starts per second.",
			query{`sum by (language) (rate(codeexec_container_start_seconds_count[$__rate_interval]))`, "started {{language}}"},
			query{`sum by (language) (rate(codeexec_container_start_failures_total[$__rate_interval]))`, "failed {{language}}"})).
		WithPanel(panel("Container start time", "s", "create+start+warm+pause.",
			quantiles("codeexec_container_start_seconds")...)).
		WithRow(dashboard.NewRowBuilder("Executions")).
		WithPanel(panel("Executions by status", "ops", "Finished executions per second by language and status.",
			query{`sum by (language, status) (rate(codeexec_executions_total[$__rate_interval]))`, "{{language}} {{status}}"})).
		WithPanel(panel("Execution latency", "s", "Claim to verdict, quantiles by language.",
			quantiles("codeexec_execution_duration_seconds")...)).
		WithPanel(panel("CPU time (p95)", "s", "CPU time of the run step.",
			query{`histogram_quantile(0.95, sum by (language, le) (rate(codeexec_execution_cpu_seconds_bucket[$__rate_interval])))`, "{{language}}"})).
		WithPanel(panel("Peak memory (p95)", "bytes", "Peak memory of the run step.",
			query{`histogram_quantile(0.95, sum by (language, le) (rate(codeexec_execution_memory_bytes_bucket[$__rate_interval])))`, "{{language}}"})).
		WithRow(dashboard.NewRowBuilder("Load")).
		WithPanel(panel("In flight and queue", "short", "Executions running and waiting for a slot.",
			query{`sum(codeexec_executions_in_flight)`, "in flight"},
			query{`sum(codeexec_queue_depth)`, "queued"})).
		WithPanel(panel("Rejections", "ops", "Requests turned away before running, by reason.",
			query{`sum by (reason) (rate(codeexec_rejected_requests_total[$__rate_interval]))`, "{{reason}}"})).
		WithPanel(panel("HTTP requests", "reqps", "By route and status code.",
			query{`sum by (route, code) (rate(codeexec_http_requests_total[$__rate_interval]))`, "{{route}} {{code}}"})).
		WithPanel(panel("HTTP latency p99", "s", "By route.",
			query{`histogram_quantile(0.99, sum by (route, le) (rate(codeexec_http_request_duration_seconds_bucket[$__rate_interval])))`, "{{route}}"})).
		WithRow(dashboard.NewRowBuilder("Job queue")).
		WithPanel(panel("Queue depth", "short", "Jobs no worker took yet, by language (every process reports the same queue).",
			query{`max by (language) (codeexec_queue_jobs_pending)`, "{{language}}"})).
		WithPanel(panel("Oldest job age", "s", "Age of the oldest job in the queue, by language.",
			query{`max by (language) (codeexec_queue_oldest_job_age_seconds)`, "{{language}}"})).
		WithPanel(panel("Jobs", "ops", "Published, acknowledged, redelivered and dead jobs per second.",
			query{`sum by (event) (rate(codeexec_queue_jobs_total[$__rate_interval]))`, "{{event}}"})).
		WithPanel(panel("Workers and capacity", "short", "Workers seen by heartbeat; slots in use of each.",
			query{`max(codeexec_queue_workers)`, "workers"},
			query{`max by (worker) (codeexec_queue_worker_slots_in_use)`, "in use {{worker}}"},
			query{`max by (worker) (codeexec_queue_worker_slots)`, "slots {{worker}}"})).
		WithPanel(panel("Leaked containers", "short", "Containers of this instance that no pool knows; should stay 0.",
			query{`sum(codeexec_leaked_containers)`, "leaked"})).
		Build()
}

// Exprs loads dashboard JSON strictly (unknown fields are errors, in the dashboard and in every
// panel and query) and returns every Prometheus query expression in it.
func Exprs(raw []byte) ([]string, error) {
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	if err := strict(d.UnmarshalJSONStrict(raw)); err != nil {
		return nil, fmt.Errorf("dashboard JSON: %w", err)
	}
	// v0.0.22's PanelOrRowPanel drops a panel whose strict decoding returned the empty error
	// above, so the panels are decoded here, one by one, with the same strict decoders.
	var top struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("dashboard JSON: %w", err)
	}
	var exprs []string
	var add func(raw json.RawMessage) error
	add = func(raw json.RawMessage) error {
		var kind struct {
			Type   string            `json:"type"`
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(raw, &kind); err != nil {
			return err
		}
		if kind.Type == "row" {
			var r dashboard.RowPanel
			if err := strict(r.UnmarshalJSONStrict(raw)); err != nil {
				return err
			}
			for _, p := range kind.Panels {
				if err := add(p); err != nil {
					return err
				}
			}
			return nil
		}
		var p dashboard.Panel
		if err := strict(p.UnmarshalJSONStrict(raw)); err != nil {
			return err
		}
		// Same v0.0.22 bug one level down: the panel's decoder drops every query. Decoded here.
		var targets struct {
			Targets []json.RawMessage `json:"targets"`
		}
		if err := json.Unmarshal(raw, &targets); err != nil {
			return err
		}
		if len(targets.Targets) == 0 {
			return fmt.Errorf("panel %q has no query", deref(p.Title))
		}
		for i, t := range targets.Targets {
			var q prometheus.Dataquery
			if err := strict(q.UnmarshalJSONStrict(t)); err != nil {
				return fmt.Errorf("panel %q, query %d: %w", deref(p.Title), i, err)
			}
			if q.Datasource == nil || q.Datasource.Type == nil || *q.Datasource.Type != "prometheus" {
				return fmt.Errorf("panel %q, query %d: not a Prometheus query", deref(p.Title), i)
			}
			exprs = append(exprs, q.Expr)
		}
		return nil
	}
	for i, p := range top.Panels {
		if err := add(p); err != nil {
			return nil, fmt.Errorf("dashboard JSON, panel %d: %w", i, err)
		}
	}
	return exprs, nil
}

// strict turns the SDK's empty cog.BuildErrors (v0.0.22 returns it, non-nil, on success) into nil.
func strict(err error) error {
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}

// JSON is the dashboard as committed in codeexec.json.
func JSON() ([]byte, error) {
	d, err := Dashboard()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	return append(b, '\n'), err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
