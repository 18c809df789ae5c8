package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const rateBucket = "codeexec_ratelimit"

// RateLimiter is a per-client limit shared by every process on the queue: each client's state
// is one timestamp in a key-value bucket (the generic cell rate algorithm: the time at which its
// bucket would be full again, written with compare-and-set), so several api processes enforce
// one limit together.
type RateLimiter struct {
	kv       jetstream.KeyValue
	interval time.Duration // one request's worth of tokens
	burst    int
}

// RateDecision is one request's outcome and what the RateLimit-* headers say.
type RateDecision struct {
	Allowed    bool
	Remaining  int
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // until the requests asked for are allowed (when refused)
}

// RateLimiter makes the shared limiter: perSecond requests a second, burst at once.
func (q *Queue) RateLimiter(ctx context.Context, perSecond float64, burst int) (*RateLimiter, error) {
	interval := time.Duration(float64(time.Second) / perSecond)
	kv, err := q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: rateBucket, History: 1, Storage: jetstream.MemoryStorage, Replicas: q.replicas(),
		// A client idle this long has a full bucket again: its key can go.
		TTL: time.Duration(burst)*interval + time.Second,
	})
	if err != nil {
		return nil, unavailable("creating the rate limit bucket", err)
	}
	return &RateLimiter{kv: kv, interval: interval, burst: burst}, nil
}

// Take spends n requests of client's allowance at once, or none. An error means NATS did not
// answer.
func (l *RateLimiter) Take(ctx context.Context, client string, n int) (RateDecision, error) {
	key := strings.NewReplacer(":", "-", "/", "_").Replace(client)
	if key == "" {
		key = "unknown"
	}
	window := time.Duration(l.burst) * l.interval
	for range 10 {
		now := time.Now()
		e, err := l.kv.Get(ctx, key)
		var tat time.Time
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return RateDecision{}, err
		default:
			rev = e.Revision()
			if len(e.Value()) == 8 {
				tat = time.Unix(0, int64(binary.BigEndian.Uint64(e.Value())))
			}
		}
		if tat.Before(now) {
			tat = now
		}
		next := tat.Add(time.Duration(n) * l.interval)
		if next.Sub(now) > window {
			// Refused: nothing is written.
			return RateDecision{Reset: tat.Sub(now), RetryAfter: next.Sub(now) - window}, nil
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(next.UnixNano()))
		if rev == 0 {
			_, err = l.kv.Create(ctx, key, v)
		} else {
			_, err = l.kv.Update(ctx, key, v, rev)
		}
		switch {
		case err == nil:
			return RateDecision{Allowed: true, Remaining: int((window - next.Sub(now)) / l.interval), Reset: next.Sub(now)}, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			continue // another request of this client came first
		default:
			return RateDecision{}, err
		}
	}
	return RateDecision{}, errors.New("rate limit: too much contention on one client's key")
}
