package pool

import (
	"context"
	"testing"
)

// Out counts what the leak detector must not call a leak: containers claimed (or being removed)
// that are no longer in the warm set. ready+starting+out equals what the engine holds, once the
// pool is quiet.
func TestOutCountsClaimedUntilRemoved(t *testing.T) {
	e := newFake()
	p := newPool(t, e, 2)
	eventually(t, "2 ready", func() bool { return p.Stats().Ready == 2 })
	c1, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Out; got != 2 {
		t.Fatalf("Out() = %d after two claims, want 2", got)
	}
	known := func() bool {
		live, _ := e.count()
		return p.Stats().Ready+p.Stats().Starting+p.Stats().Out == live && p.Stats().Starting == 0
	}
	eventually(t, "refilled; every live container known", func() bool { return p.Stats().Ready == 2 && known() })
	p.Release(c1)
	p.Release(c2)
	eventually(t, "both removed, Out back to 0", func() bool { return p.Stats().Out == 0 })
	if live, _ := e.count(); live != 2 {
		t.Fatalf("%d live, want the 2 warm ones", live)
	}

	// A container the engine lost is released by Claim itself and counted until removed.
	e.mu.Lock()
	e.lostNext = true
	e.mu.Unlock()
	c3, err := p.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Release(c3)
	eventually(t, "Out back to 0 after a lost container", func() bool { return p.Stats().Out == 0 })
}
