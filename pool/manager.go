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
func (m *Manager) Claim(ctx context.Context, lang string) (Container, error) {
	p, ok := m.pools[lang]
	if !ok {
		return nil, fmt.Errorf("no pool for %q", lang)
	}
	return p.Claim(ctx)
}

// Release removes a claimed container in the background.
func (m *Manager) Release(lang string, c Container) {
	if p, ok := m.pools[lang]; ok {
		p.Release(c)
	}
}

// AllReady reports whether every pool with a target has at least one warm container.
func (m *Manager) AllReady() error {
	var errs []error
	for _, p := range m.Pools() {
		if p.Target() > 0 && p.Ready() == 0 {
			if err := p.LastError(); err != nil {
				errs = append(errs, fmt.Errorf("%s: no warm container: %w", p.Lang(), err))
			} else {
				errs = append(errs, fmt.Errorf("%s: no warm container yet", p.Lang()))
			}
		}
	}
	return errors.Join(errs...)
}

// Close closes every pool (see Pool.Close).
func (m *Manager) Close(ctx context.Context) error {
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
