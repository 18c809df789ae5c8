package pool

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestDemandGrowsByTheClaimsThatWaitedWithinMax(t *testing.T) {
	d := newDemand(map[string]Limits{"py": {Min: 1, Max: 4}}, DemandOptions{IdleAfter: time.Minute}, t0)
	// Two claims queued since the last look: two more warm containers.
	got := d.step(t0.Add(time.Second), []Stats{{Lang: "py", Target: 1, Claims: 3, Waited: 2}})
	if got["py"] != 3 {
		t.Fatalf("after 2 waits: %v, want py 3", got)
	}
	// Three queue now: capped at Max.
	got = d.step(t0.Add(2*time.Second), []Stats{{Lang: "py", Target: 3, Claims: 6, Waited: 5, Waiting: 3}})
	if got["py"] != 4 {
		t.Fatalf("3 more waiting: %v, want py 4 (its max)", got)
	}
	// Claims that found a warm container change nothing.
	got = d.step(t0.Add(3*time.Second), []Stats{{Lang: "py", Target: 4, Claims: 9, Waited: 5}})
	if len(got) != 0 {
		t.Fatalf("claims served at once: %v, want no change", got)
	}
}

func TestDemandShrinksAnIdleLanguageToItsMinimum(t *testing.T) {
	d := newDemand(map[string]Limits{"py": {Min: 1, Max: 4}, "go": {Min: 0, Max: 2}}, DemandOptions{IdleAfter: time.Minute}, t0)
	d.step(t0.Add(10*time.Second), []Stats{{Lang: "py", Target: 4, Claims: 5}, {Lang: "go", Target: 2, Claims: 1}})
	// go is claimed again, py is not: only py is idle a minute after its last claim.
	got := d.step(t0.Add(70*time.Second), []Stats{{Lang: "py", Target: 4, Claims: 5}, {Lang: "go", Target: 2, Claims: 2}})
	if got["py"] != 1 || len(got) != 1 {
		t.Fatalf("py idle for a minute: %v, want only py back to 1", got)
	}
	// A language never claimed since the start is idle too.
	d = newDemand(map[string]Limits{"rb": {Min: 0, Max: 3}}, DemandOptions{IdleAfter: time.Minute}, t0)
	if got := d.step(t0.Add(time.Minute), []Stats{{Lang: "rb", Target: 2}}); got["rb"] != 0 {
		t.Fatalf("rb never claimed: %v, want 0", got)
	}
}

func TestDemandTakesGrowthFromTheIdlestWithinTheBudget(t *testing.T) {
	limits := map[string]Limits{"py": {Min: 1, Max: 5}, "go": {Min: 1, Max: 3}, "rb": {Min: 1, Max: 3}}
	d := newDemand(limits, DemandOptions{Budget: 7, IdleAfter: time.Hour}, t0)
	// rb was claimed last at 10 s, go at 20 s; py's claims queue at 30 s.
	d.step(t0.Add(10*time.Second), []Stats{{Lang: "py", Target: 3}, {Lang: "go", Target: 2}, {Lang: "rb", Target: 2, Claims: 1}})
	d.step(t0.Add(20*time.Second), []Stats{{Lang: "py", Target: 3}, {Lang: "go", Target: 2, Claims: 1}, {Lang: "rb", Target: 2, Claims: 1}})
	got := d.step(t0.Add(30*time.Second), []Stats{
		{Lang: "py", Target: 3, Claims: 5, Waited: 2, Waiting: 2}, {Lang: "go", Target: 2, Claims: 1}, {Lang: "rb", Target: 2, Claims: 1},
	})
	// py wants 5: 7 in the budget, so 1 comes from rb (idle longest, down to its minimum) and 1
	// from go.
	if got["py"] != 5 || got["rb"] != 1 || got["go"] != 1 {
		t.Fatalf("growth within the budget: %v, want py 5, rb 1, go 1", got)
	}
	// With every other pool at its minimum, growth stops at the budget.
	got = d.step(t0.Add(40*time.Second), []Stats{
		{Lang: "py", Target: 5, Claims: 9, Waited: 4, Waiting: 2}, {Lang: "go", Target: 1, Claims: 1}, {Lang: "rb", Target: 1, Claims: 1},
	})
	if len(got) != 0 {
		t.Fatalf("budget spent: %v, want no change", got)
	}
}

func TestSetTargetStartsAndTrims(t *testing.T) {
	e := newFake()
	p := newPoolUnpaused(t, e, 1, 1)
	eventually(t, "1 ready", func() bool { return p.Stats().Ready == 1 })
	p.SetTarget(3)
	eventually(t, "3 ready", func() bool { return p.Stats().Ready == 3 })
	p.SetTarget(1)
	eventually(t, "1 ready and 1 live", func() bool {
		live, _ := e.count()
		return p.Stats().Ready == 1 && live == 1
	})
	// The one kept is the unpaused one: the surplus goes paused ones first.
	if st := p.Stats(); st.Unpaused != 1 || st.Target != 1 {
		t.Fatalf("after trimming: %+v", st)
	}
}

// A burst of claims on one language grows its pool until the burst is served from warm
// containers; when the language goes idle, its pool shrinks back to its minimum.
func TestFollowDemandAbsorbsABurstThenShrinks(t *testing.T) {
	e := newFake()
	m := NewManager(e, map[string]int{"py": 1, "go": 1}, 4, Options{Unpaused: 1, ClaimWait: 5 * time.Second, Logger: quiet,
		Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	m.FollowDemand(map[string]Limits{"py": {Min: 1, Max: 4}, "go": {Min: 1, Max: 4}},
		DemandOptions{Budget: 5, Interval: 5 * time.Millisecond, IdleAfter: 2 * time.Second})
	pyPool, _ := m.Pool("py")
	eventually(t, "py ready", func() bool { return pyPool.Stats().Ready == 1 })

	// Bursts of 4 claims held together: the first ones wait, and the pool grows to serve them.
	// Starts are held at the engine until all 4 claims have arrived, so a burst finds exactly the
	// containers warm at its start: no start can race a claim and make a burst look absorbed
	// before the pool has grown.
	const pyMax = 4
	burst := func() (waited int64) {
		before := pyPool.Stats()
		gate := make(chan struct{})
		e.mu.Lock()
		e.gate = gate
		e.mu.Unlock()
		type claimed struct {
			c   Sandbox
			err error
		}
		got := make(chan claimed, 4)
		for i := 0; i < 4; i++ {
			go func() {
				c, err := m.Claim(context.Background(), "py")
				got <- claimed{c, err}
			}()
		}
		// A claim is counted as it takes a warm container or queues.
		eventually(t, "4 claims arrived", func() bool { return pyPool.Stats().Claims == before.Claims+4 })
		waited = pyPool.Stats().Waited - before.Waited
		e.mu.Lock()
		e.gate = nil
		e.mu.Unlock()
		close(gate)
		var held []Sandbox
		for i := 0; i < 4; i++ {
			r := <-got
			if r.err != nil {
				t.Fatal(r.err)
			}
			held = append(held, r.c)
		}
		for _, c := range held {
			m.Release("py", c)
		}
		return waited
	}
	// grown waits until the demand loop has answered a burst that waited, whose pool's target was
	// from before it: the target is above it (or at py's max), and the pool has filled to it. The
	// pool being full is not enough: the loop revises targets only every Interval, so right after
	// a burst the pool is still full at the old target, and the next burst would meet the same
	// pool again.
	grown := func(from int) {
		eventually(t, "py's target grown after a burst that waited, and its pool filled", func() bool {
			st := pyPool.Stats()
			return (st.Target > from || st.Target == pyMax) && st.Ready == st.Target
		})
	}
	from := pyPool.Stats().Target
	if w := burst(); w == 0 {
		t.Fatal("the first burst found 4 warm containers in a pool of 1")
	}
	// Each burst that waits grows the pool by at least one: from 2 after the first, within three
	// more bursts it is at 4 and the next is served entirely warm.
	absorbed := false
	for i := 0; i < 4 && !absorbed; i++ {
		grown(from)
		from = pyPool.Stats().Target
		absorbed = burst() == 0
	}
	if !absorbed {
		t.Fatalf("after 5 bursts of 4, claims still wait: %+v", pyPool.Stats())
	}
	if st := pyPool.Stats(); st.Target != 4 {
		t.Fatalf("py's pool absorbing bursts of 4: %+v, want target 4", st)
	}
	goPool, _ := m.Pool("go")
	if st := goPool.Stats(); st.Target != 1 {
		t.Fatalf("go's pool while py grew: %+v (budget 5: py 4 + go 1)", st)
	}
	// Idle: back to the minimum, and the surplus containers are removed.
	eventually(t, "py back to 1", func() bool {
		st := pyPool.Stats()
		return st.Target == 1 && st.Ready == 1 && st.Out == 0
	})
	eventually(t, "2 containers live", func() bool { live, _ := e.count(); return live == 2 })
}
