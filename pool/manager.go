package pool

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// Manager holds one Pool per language over a shared engine.
type Manager struct {
	pools map[string]*Pool
	// stopDemand ends FollowDemand's loop and waits for it (nil: it was not started). Set
	// before the Manager is shared.
	stopDemand func()
}

// NewManager starts a pool per language with the given targets and the options common to all
// (Lang and Target are set per language). Starts and removals across all pools share
// startParallel slots, because the engine's container turnover is the bottleneck.
func NewManager(engine Engine, targets map[string]int, startParallel int, common Options) *Manager {
	slots := make(chan struct{}, max(startParallel, 1))
	m := &Manager{pools: map[string]*Pool{}}
	for lang, n := range targets {
		opt := common
		opt.Lang, opt.Target, opt.StartSlots = lang, n, slots
		m.pools[lang] = New(engine, opt)
	}
	return m
}

// Pool returns the pool of a language.
func (m *Manager) Pool(lang string) (*Pool, bool) {
	p, ok := m.pools[lang]
	return p, ok
}

// Pools returns every pool, sorted by language.
func (m *Manager) Pools() []*Pool {
	out := make([]*Pool, 0, len(m.pools))
	for _, p := range m.pools {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lang() < out[j].Lang() })
	return out
}

// Claim takes a warm container of the language.
func (m *Manager) Claim(ctx context.Context, lang string) (Sandbox, error) {
	p, ok := m.pools[lang]
	if !ok {
		return nil, fmt.Errorf("no pool for %q", lang)
	}
	return p.Claim(ctx)
}

// Release removes a claimed container in the background.
func (m *Manager) Release(lang string, c Sandbox) {
	if p, ok := m.pools[lang]; ok {
		p.Release(c)
	}
}

// Stats returns each pool's snapshot, sorted by language.
func (m *Manager) Stats() []Stats {
	pools := m.Pools()
	out := make([]Stats, len(pools))
	for i, p := range pools {
		out[i] = p.Stats()
	}
	return out
}

// AllReady reports whether every pool with a target has at least one warm container.
func (m *Manager) AllReady() error {
	var errs []error
	for _, st := range m.Stats() {
		if st.Target > 0 && st.Ready == 0 {
			if st.LastError != nil {
				errs = append(errs, fmt.Errorf("%s: no warm container: %w", st.Lang, st.LastError))
			} else {
				errs = append(errs, fmt.Errorf("%s: no warm container yet", st.Lang))
			}
		}
	}
	return errors.Join(errs...)
}

// Lister lists the IDs of every container the engine holds for this server.
type Lister interface {
	Owned(ctx context.Context) ([]string, error)
}

// Leaked counts the containers the engine holds for this server that no pool knows of (neither
// warm, starting, claimed nor being removed). The pools' counts move while the engine answers:
// taking the larger of the counts before and after the listing keeps a container started or
// removed meanwhile from being called a leak; a real leak stays and shows on every check.
func (m *Manager) Leaked(ctx context.Context, engine Lister) (int, error) {
	before := m.known()
	ids, err := engine.Owned(ctx)
	if err != nil {
		return 0, err
	}
	return max(0, len(ids)-max(before, m.known())), nil
}

// known is every container the pools account for.
func (m *Manager) known() int {
	n := 0
	for _, st := range m.Stats() {
		n += st.Starting + st.Ready + st.Out
	}
	return n
}

// Close closes every pool (see Pool.Close).
func (m *Manager) Close(ctx context.Context) error {
	if m.stopDemand != nil {
		m.stopDemand()
	}
	errs := make(chan error, len(m.pools))
	for _, p := range m.pools {
		go func() { errs <- p.Close(ctx) }()
	}
	var all []error
	for range m.pools {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}
