package queue

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/codeexec/codeexec/runner"
)

// A synchronous request that streams (its sink wants the events as they happen) asks its worker,
// by a header on the job, to publish each event on the job's events subject; the requester
// subscribes before it publishes the job. Events are core NATS messages, not stored: nobody but
// the waiting request wants them.
const (
	eventsPrefix = "codeexec.events."
	streamHeader = "Codeexec-Stream"
	endHeader    = "Codeexec-End"
)

// eventPublisher is the worker's sink for a streaming job.
type eventPublisher struct {
	nc      *nats.Conn
	subject string
}

func (e eventPublisher) Event(ev runner.Event) error {
	b, err := json.Marshal(ev)
	if err == nil {
		// Lost events do not stop the run: the result carries everything.
		_ = e.nc.Publish(e.subject, b)
	}
	return nil
}

// end says no more events come, and waits until the server has them all.
func (e eventPublisher) end() {
	_ = e.nc.PublishMsg(&nats.Msg{Subject: e.subject, Header: nats.Header{endHeader: []string{"1"}}})
	_ = e.nc.FlushTimeout(2 * time.Second)
}

// relay subscribes to a job's events and hands them to sink in order; wait returns once the
// end marker came (or after a moment: an event lost to a reconnect does not hold the answer).
type relay struct {
	sub   *nats.Subscription
	ended chan struct{}
}

func (q *Queue) relay(token string, sink runner.Sink) (*relay, error) {
	ch := make(chan *nats.Msg, 4096)
	sub, err := q.nc.ChanSubscribe(eventsPrefix+token, ch)
	if err != nil {
		return nil, unavailable("subscribing to events", err)
	}
	// Registered with the server before the job is published.
	if err := q.nc.FlushTimeout(2 * time.Second); err != nil {
		_ = sub.Unsubscribe()
		return nil, unavailable("subscribing to events", err)
	}
	r := &relay{sub: sub, ended: make(chan struct{})}
	go func() {
		defer close(r.ended)
		sinkOK := true
		for m := range ch {
			if m.Header.Get(endHeader) != "" {
				return
			}
			var ev runner.Event
			if sinkOK && json.Unmarshal(m.Data, &ev) == nil {
				// A sink that fails (its client left) gets nothing more; the run goes on.
				sinkOK = sink.Event(ev) == nil
			}
		}
	}()
	return r, nil
}

// close waits for the end marker when the job ran, then unsubscribes.
func (r *relay) close(ran bool) {
	if ran {
		select {
		case <-r.ended:
		case <-time.After(2 * time.Second):
		}
	}
	_ = r.sub.Unsubscribe()
}
