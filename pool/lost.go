package pool

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Faults of the engine: containers whose line to the agent died, and removals that failed while
// the engine was away.

// lossReporter is a container that can tell that its attach connection ended (the engine went
// away or restarted, or the container died): such a container can never take a job.
type lossReporter interface {
	Lost() bool
}

func lost(c Container) bool {
	l, ok := c.(lossReporter)
	return ok && l.Lost()
}

// Lost reports whether the attach stream to the agent has ended.
func (b *Box) Lost() bool {
	if b.copyDone == nil {
		return false
	}
	select {
	case <-b.copyDone:
		return true
	default:
		return false
	}
}

// removeUntilGone removes a container, retrying with backoff while the engine fails: one that
// could not be removed while the engine was away would otherwise stay until the server restarts.
// It gives up when stop is closed (shutting down: the server then removes what is left by its
// instance label) or after giveUpAfter.
func removeUntilGone(remove func(context.Context) error, backoff, maxBackoff, giveUpAfter time.Duration, stop <-chan struct{}) error {
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

// removeFailedStart removes a container whose start failed; if the engine does not answer now,
// it keeps trying in the background.
func (d *Docker) removeFailedStart(ctx context.Context, b *Box) {
	if err := d.Remove(context.WithoutCancel(ctx), b); err == nil {
		return
	}
	go func() {
		remove := func(ctx context.Context) error { return d.Remove(ctx, b) }
		if err := removeUntilGone(remove, time.Second, 10*time.Second, 10*time.Minute, nil); err != nil {
			slog.Warn("giving up removing a container that failed to start; the next start of this instance removes it",
				"container", shortID(b), "err", err)
		}
	}()
}

// removeFailedCreate removes, by name, a container whose create call failed after the request
// reached the engine: the engine may have created it and the answer been lost (the connection
// broke). When the client could not even connect, nothing was sent and there is nothing to do.
func (d *Docker) removeFailedCreate(ctx context.Context, name string, err error) {
	if strings.Contains(err.Error(), "Cannot connect to the Docker daemon") {
		return
	}
	d.removeFailedStart(ctx, &Box{id: name, docker: d})
}

// failFastAfter is how many starts in a row must fail before a claim stops waiting for one.
const failFastAfter = 3

// engineDown returns the last start error when no warm container is left and the last
// failFastAfter starts all failed: the engine is down, and a request should get its 503 (with
// Retry-After) now rather than after the whole claim wait.
func (p *Pool) engineDown() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.warm() > 0 || p.failures < failFastAfter {
		return nil
	}
	return p.lastErr
}

// dropLost removes warm containers whose line to the agent died, so that /ready and the pool
// count only containers that can take a job, and the refill replaces them at once.
func (p *Pool) dropLost() {
	p.mu.Lock()
	var gone []Container
	for _, ch := range []chan Container{p.ready, p.hot} {
		var keep []Container
		for n := len(ch); n > 0; n-- {
			select {
			case c := <-ch:
				if lost(c) {
					gone = append(gone, c)
				} else {
					keep = append(keep, c)
				}
			default:
			}
		}
		for _, c := range keep {
			ch <- c
		}
	}
	p.mu.Unlock()
	for _, c := range gone {
		p.opt.Logger.Warn("warm container lost its connection; replacing it", "lang", p.opt.Lang, "container", shortID(c))
		p.out.Add(1)
		p.Release(c)
	}
	if len(gone) > 0 {
		p.poke()
	}
}
