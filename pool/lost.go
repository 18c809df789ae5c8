package pool

import (
	"context"
	"slices"
	"time"
)

// Faults of the engine: containers whose line to the agent died, and removals that failed while
// the engine was away.

// RemoveUntilGone removes a container, retrying with backoff while the engine fails: one that
// could not be removed while the engine was away would otherwise stay until the server restarts.
// It gives up when stop is closed (shutting down: the server then removes what is left by its
// instance label) or after giveUpAfter.
func RemoveUntilGone(remove func(context.Context) error, backoff, maxBackoff, giveUpAfter time.Duration, stop <-chan struct{}) error {
	deadline := time.Now().Add(giveUpAfter)
	for n := 1; ; n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := remove(ctx)
		cancel()
		if err == nil {
			return nil
		}
		d := backoffDelay(backoff, maxBackoff, n)
		if time.Now().Add(d).After(deadline) {
			return err
		}
		select {
		case <-stop:
			return err
		case <-time.After(d):
		}
	}
}

// failFastAfter is how many starts in a row must fail before a claim stops waiting for one.
const failFastAfter = 3

// engineDownLocked returns the last start error when no warm container is left and the last
// failFastAfter starts all failed: the engine is down, and a request should get its 503 (with
// Retry-After) now rather than after the whole claim wait.
func (p *Pool) engineDownLocked() error {
	if p.warmLocked() > 0 || p.failures < failFastAfter {
		return nil
	}
	return p.lastErr
}

// dropLost removes warm containers whose line to the agent died, so that /ready and the pool
// count only containers that can take a job, and the refill replaces them at once.
func (p *Pool) dropLost() {
	p.mu.Lock()
	var gone []Sandbox
	lost := func(c Sandbox) bool {
		if c.Lost() {
			gone = append(gone, c)
			return true
		}
		return false
	}
	p.hot = slices.DeleteFunc(p.hot, lost)
	p.paused = slices.DeleteFunc(p.paused, lost)
	// Counted out as they leave the warm set, under the same lock: Stats never misses them.
	p.out.Add(int64(len(gone)))
	p.mu.Unlock()
	for _, c := range gone {
		p.opt.Logger.Warn("warm container lost its connection; replacing it", "lang", p.opt.Lang, "container", ShortID(c))
		p.Release(c)
	}
	if len(gone) > 0 {
		p.poke()
	}
}
