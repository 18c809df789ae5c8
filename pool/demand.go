package pool

import (
	"context"
	"sort"
	"time"
)

// Limits bound the target of a pool that follows demand.
type Limits struct {
	Min int // warm containers kept however idle the language is
	Max int // most warm containers demand may grow it to
}

// DemandOptions set how targets follow demand.
type DemandOptions struct {
	// Budget bounds the sum of all targets (the warm fleet's size); 0: no bound beyond each Max.
	Budget int
	// Interval is how often the targets are revised.
	Interval time.Duration
	// IdleAfter is how long a language may go without a claim before its pool shrinks back to
	// its minimum.
	IdleAfter time.Duration
}

// FollowDemand revises each pool's target every opt.Interval from its recent demand, within its
// limits and, all pools together, within opt.Budget: a pool whose claims had to wait grows by as
// many as waited; a pool without claims for opt.IdleAfter shrinks to its minimum; when growth
// would pass the budget, it is taken from the pools idle longest first. Pools without limits
// keep their target. It runs until Close.
func (m *Manager) FollowDemand(limits map[string]Limits, opt DemandOptions) {
	d := newDemand(limits, opt, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m.stopDemand = func() { cancel(); <-done }
	go func() {
		defer close(done)
		tick := time.NewTicker(opt.Interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				for lang, n := range d.step(now, m.Stats()) {
					if p, ok := m.pools[lang]; ok {
						p.SetTarget(n)
					}
				}
			}
		}
	}()
}

// demand is FollowDemand's state: what it saw of each pool at the last step. Only its goroutine
// uses it.
type demand struct {
	limits map[string]Limits
	opt    DemandOptions
	seen   map[string]seenPool
}

type seenPool struct {
	claims, waited int64     // the pool's counters at the last step
	lastClaim      time.Time // when a claim was last seen (the start, before any)
}

func newDemand(limits map[string]Limits, opt DemandOptions, now time.Time) *demand {
	d := &demand{limits: limits, opt: opt, seen: map[string]seenPool{}}
	for lang := range limits {
		d.seen[lang] = seenPool{lastClaim: now}
	}
	return d
}

// step returns the new target of each pool with limits whose target should change.
func (d *demand) step(now time.Time, stats []Stats) map[string]int {
	type plan struct {
		lang         string
		cur, want    int
		lim          Limits
		growing      bool
		lastClaim    time.Time
		waitingAhead int
	}
	var plans []*plan
	total := 0
	for _, st := range stats {
		lim, ok := d.limits[st.Lang]
		if !ok {
			total += st.Target
			continue
		}
		seen := d.seen[st.Lang]
		claims, waited := st.Claims-seen.claims, st.Waited-seen.waited
		if claims > 0 {
			seen.lastClaim = now
		}
		seen.claims, seen.waited = st.Claims, st.Waited
		d.seen[st.Lang] = seen

		want := st.Target
		// Claims that queued since the last step, or queue now, each wanted a warm container.
		if short := max(int(waited), st.Waiting); short > 0 {
			want += short
		}
		if now.Sub(seen.lastClaim) >= d.opt.IdleAfter {
			want = lim.Min
		}
		want = min(max(want, lim.Min), lim.Max)
		pl := &plan{lang: st.Lang, cur: st.Target, want: want, lim: lim, growing: want > st.Target,
			lastClaim: seen.lastClaim, waitingAhead: st.Waiting}
		plans = append(plans, pl)
		total += want
	}
	if d.opt.Budget > 0 && total > d.opt.Budget {
		over := total - d.opt.Budget
		// Room for growth comes first from the pools idle longest (down to their minimum), then
		// from the growth itself, the pool with the fewest waiting claims first.
		sort.SliceStable(plans, func(i, j int) bool {
			a, b := plans[i], plans[j]
			if a.growing != b.growing {
				return !a.growing
			}
			if !a.growing {
				return a.lastClaim.Before(b.lastClaim)
			}
			return a.waitingAhead < b.waitingAhead
		})
		for _, pl := range plans {
			floor := pl.lim.Min
			if pl.growing {
				floor = max(pl.cur, pl.lim.Min)
			}
			cut := min(over, pl.want-floor)
			if cut > 0 {
				pl.want -= cut
				over -= cut
			}
		}
	}
	out := map[string]int{}
	for _, pl := range plans {
		if pl.want != pl.cur {
			out[pl.lang] = pl.want
		}
	}
	return out
}
