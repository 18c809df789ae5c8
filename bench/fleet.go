package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/codeexec/codeexec/config"
)

// fleet measures the warm pools as config.yaml sizes them, every language at once (-fleet LANG):
// the memory the whole fleet of warm containers holds while idle, as the engine reports it, and
// how bursts of concurrent requests on one language are absorbed as its pool follows demand.
// It writes fleet.md in the output folder.
func fleet(ctx context.Context, o options, cfg *config.Config, cli *client.Client) (err error) {
	lang, ok := cfg.Languages[o.fleetLang]
	if !ok {
		return fmt.Errorf("-fleet: language %q is not in %s", o.fleetLang, o.config)
	}
	code, ok := hello[lang.Name]
	if !ok {
		return fmt.Errorf("-fleet: no hello program for %s", lang.Name)
	}
	logf("fleet: starting the server with every language's pool as configured (instance %s)", o.instance)
	srv, err := startServer(ctx, serverOptions{binary: o.serverBin, agent: o.agentBin, config: o.config,
		instance: o.instance, langs: cfg.LanguageNames()})
	if err != nil {
		return err
	}
	defer func() {
		if serr := srv.stop(); serr != nil {
			err = fmt.Errorf("%v; stopping the server: %v", err, serr)
		}
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		removeOurs(cctx, cli, o.instance)
	}()
	var md strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&md, format, a...) }
	p("# Warm fleet\n\n%d languages, pools as config.yaml sizes them (`minWarm`..`maxWarm`, `pool.maxWarm` %d).\n\n",
		len(cfg.Languages), cfg.Pool.MaxWarm)

	// Idle: a few seconds after the pools are full, every container's memory as the engine sees it.
	time.Sleep(3 * time.Second)
	ids, err := ourContainers(ctx, cli, o.instance)
	if err != nil {
		return err
	}
	var total, cache uint64
	for _, c := range ids {
		id, _, _ := strings.Cut(c, " ") // "id (name)"
		st, err := oneStats(ctx, cli, id)
		if err != nil {
			return fmt.Errorf("stats of %s: %w", c, err)
		}
		total += st.MemoryStats.Usage
		cache += st.MemoryStats.Stats["inactive_file"] + st.MemoryStats.Stats["active_file"]
	}
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	p("## Idle memory (docker stats of each warm container)\n\n| containers | total MiB | of it page cache MiB | per container MiB |\n|---|---|---|---|\n")
	p("| %d | %.1f | %.1f | %.2f |\n\n", len(ids), mib(total), mib(cache), mib(total)/float64(max(len(ids), 1)))
	logf("fleet: %d warm containers hold %.1f MiB idle (%.1f MiB page cache)", len(ids), mib(total), mib(cache))

	// Bursts: as many requests at once as the language's maxWarm, a few times, with time for the
	// pool to follow between them.
	api := newAPIClient(srv.url)
	n := max(lang.MaxWarm, 2)
	pause := 2*time.Duration(cfg.Pool.DemandIntervalMs)*time.Millisecond + time.Second
	p("## Bursts of %d concurrent %s hello worlds (minWarm %d, maxWarm %d), %v apart\n\n", n, lang.Name, lang.MinWarm, lang.MaxWarm, pause)
	p("| burst | pool target before | p50 ms | slowest ms | pool target after |\n|---|---|---|---|---|\n")
	for b := 1; b <= 6; b++ {
		before := poolTarget(ctx, srv, lang.Name)
		lat := make([]float64, n)
		var wg sync.WaitGroup
		var failed error
		var mu sync.Mutex
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := api.execute(ctx, lang.Name, code)
				mu.Lock()
				defer mu.Unlock()
				if !r.ok && failed == nil {
					failed = fmt.Errorf("burst %d: %s", b, r.err)
				}
				lat[i] = ms(r.took)
			}()
		}
		wg.Wait()
		if failed != nil {
			return failed
		}
		sort.Float64s(lat)
		time.Sleep(pause)
		after := poolTarget(ctx, srv, lang.Name)
		p("| %d | %d | %.1f | %.1f | %d |\n", b, before, lat[len(lat)/2], lat[len(lat)-1], after)
		logf("fleet: burst %d (%d at once): p50 %.1f ms, slowest %.1f ms, pool target %d -> %d", b, n, lat[len(lat)/2], lat[len(lat)-1], before, after)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.out, "fleet.md"), []byte(md.String()), 0o644)
}

func oneStats(ctx context.Context, cli *client.Client, id string) (*container.StatsResponse, error) {
	r, err := cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

func poolTarget(ctx context.Context, srv *server, lang string) int {
	list, _ := srv.languages(ctx)
	for _, l := range list {
		if l.Name == lang {
			return l.PoolTarget
		}
	}
	return -1
}
