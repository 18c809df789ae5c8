package api

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/codeexec/codeexec/queue"
)

// RateLimited is the error of a request refused by the per-client rate limit; fail maps it to
// 429 with Retry-After.
type RateLimited struct {
	RetryAfter time.Duration
}

func (e *RateLimited) Error() string {
	return fmt.Sprintf("too many requests from your address; try again in %d s", retrySeconds(e.RetryAfter))
}

// retrySeconds rounds up: Retry-After is whole seconds, and 0 would invite an immediate retry.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// clientLimiter is a token bucket per client address: each client earns perSecond requests a
// second and may spend up to burst at once. Buckets that have filled up again are forgotten
// (a full bucket is the same as a new one), so memory follows the clients active in the last
// burst/perSecond seconds, not every address ever seen.
type clientLimiter struct {
	perSecond rate.Limit
	burst     int
	now       func() time.Time

	mu        sync.Mutex
	clients   map[netip.Prefix]*rate.Limiter
	lastSweep time.Time
}

func newClientLimiter(perSecond float64, burst int) *clientLimiter {
	return &clientLimiter{perSecond: rate.Limit(perSecond), burst: burst, now: time.Now,
		clients: map[netip.Prefix]*rate.Limiter{}}
}

// clientKey is the client's address; an IPv6 client is keyed by its /64, which one host or
// customer usually owns whole (keying by single IPv6 addresses would be trivially evaded).
func clientKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}

// decision is the outcome of one request: allowed or not, and what the RateLimit-* headers say;
// the same whether this process or the shared limit decides.
type decision = queue.RateDecision

// takeN spends n tokens of key's bucket at once, or none.
func (l *clientLimiter) takeN(key netip.Prefix, n int) decision {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	lim, ok := l.clients[key]
	if !ok {
		lim = rate.NewLimiter(l.perSecond, l.burst)
		l.clients[key] = lim
	}
	d := decision{Allowed: lim.AllowN(now, n)}
	tokens := lim.TokensAt(now)
	d.Remaining = max(0, int(math.Floor(tokens)))
	d.Reset = time.Duration((float64(l.burst) - tokens) / float64(l.perSecond) * float64(time.Second))
	if !d.Allowed {
		d.RetryAfter = time.Duration((float64(n) - tokens) / float64(l.perSecond) * float64(time.Second))
	}
	return d
}

// sweep forgets full buckets, at most once per refill time.
func (l *clientLimiter) sweep(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.perSecond) * float64(time.Second))
	if now.Sub(l.lastSweep) < max(refill, time.Second) {
		return
	}
	l.lastSweep = now
	for k, lim := range l.clients {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.clients, k)
		}
	}
}

// size is how many clients have a bucket (for tests).
func (l *clientLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// SharedLimiter is a per-client limit shared by several api processes; *queue.RateLimiter is one.
type SharedLimiter interface {
	Take(ctx context.Context, client string, n int) (queue.RateDecision, error)
}

// takeRate spends n tokens of a client at once: from the shared limit when there is one, else
// (or while it does not answer) from this process's own.
func (s *Server) takeRate(ctx context.Context, key netip.Prefix, n int) decision {
	if s.shared != nil {
		d, err := s.shared.Take(ctx, key.String(), n)
		if err == nil {
			return d
		}
		s.log.Warn("shared rate limit did not answer; this process's own limit applies", "err", err)
	}
	return s.limiter.takeN(key, n)
}

// rateLimited wraps a handler with the per-client limit when server.rateLimit.perSecond is set;
// every answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset, and a refused
// one is a 429 with Retry-After.
func (s *Server) rateLimited(h http.HandlerFunc) http.HandlerFunc {
	if s.limiter == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		d := s.takeRate(r.Context(), clientKey(r.RemoteAddr), 1)
		hd := w.Header()
		hd.Set("RateLimit-Limit", strconv.Itoa(s.limiter.burst))
		hd.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		hd.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(d.Reset.Seconds()))))
		if !d.Allowed {
			s.metrics.Rejected("rate_limit")
			s.fail(w, r, &RateLimited{RetryAfter: d.RetryAfter})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), chargeKey{}, &charge{key: clientKey(r.RemoteAddr), paid: 1})))
	}
}

// charge is what one request has paid of the rate limit: a token on arrival, and one per run
// once its runs are known (chargeRuns), up to the burst so that a big request stays possible.
type charge struct {
	key  netip.Prefix
	mu   sync.Mutex
	runs int // runs planned so far
	paid int // tokens taken
}

type chargeKey struct{}

// chargeRuns charges the request under ctx for runs more runs (judge tests, batch entries'
// runs); nil when the rate limit is off or the tokens were had, RateLimited when not.
func (s *Server) chargeRuns(ctx context.Context, runs int) error {
	c, ok := ctx.Value(chargeKey{}).(*charge)
	if !ok || s.limiter == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs += runs
	owed := min(c.runs, s.limiter.burst) - c.paid
	if owed <= 0 {
		return nil
	}
	d := s.takeRate(ctx, c.key, owed)
	if !d.Allowed {
		c.runs -= runs
		s.metrics.Rejected("rate_limit")
		return &RateLimited{RetryAfter: d.RetryAfter}
	}
	c.paid += owed
	return nil
}
