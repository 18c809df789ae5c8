package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Callbacks checks callback URLs against queue.callbackAllow and sends final states to them,
// for every API that takes async submissions (ours, Judge0's). An anonymous caller must not make
// the server reach into its own network (Judge0's CVE-2024-29021 was such an SSRF): only listed
// hosts and addresses are called, redirects are not followed and no proxy is used. Each request
// has five seconds, as Judge0's callbacks have.
type Callbacks struct {
	hosts  map[string]bool
	nets   []netip.Prefix
	client *http.Client
}

// Notice is one callback as the API that took the submission sends it.
type Notice struct {
	Method string // POST (ours), PUT (Judge0's)
	Body   []byte // JSON
	// Backoff is the wait before each retry; its length is the number of retries.
	Backoff []time.Duration
	// AnyAnswer ends the retries at the first HTTP answer whatever its status, as Judge0 retries
	// only a request that got none; otherwise only a 2xx ends them.
	AnyAnswer bool
}

// NewCallbacks parses the allow list: host names, IP addresses and CIDRs.
func NewCallbacks(allow []string) (*Callbacks, error) {
	c := &Callbacks{
		hosts: map[string]bool{},
		client: &http.Client{
			Timeout:       5 * time.Second,
			Transport:     &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if p, err := netip.ParsePrefix(a); err == nil {
			c.nets = append(c.nets, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(a); err == nil {
			c.nets = append(c.nets, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if a == "" || strings.ContainsAny(a, "/:@ ") {
			return nil, fmt.Errorf("config: queue.callbackAllow: %q is not a host name, an IP address or a CIDR", a)
		}
		c.hosts[strings.ToLower(a)] = true
	}
	return c, nil
}

// Check says why a callback URL may not be used, or nil; the sentence follows the field's name.
func (c *Callbacks) Check(raw string) error {
	if len(c.hosts) == 0 && len(c.nets) == 0 {
		return errors.New("callbacks are off on this server (queue.callbackAllow is empty)")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("is not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must be an http or https URL, not %q", u.Scheme)
	case u.Hostname() == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not carry a user name or password")
	case !c.allowed(u.Hostname()):
		return fmt.Errorf("host %s is not in the server's callback allow-list (queue.callbackAllow)", u.Hostname())
	}
	return nil
}

func (c *Callbacks) allowed(host string) bool {
	if c.hosts[strings.ToLower(host)] {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, n := range c.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Send sends n to target, retrying after each wait of n.Backoff until an answer ends it (a 2xx,
// or any with n.AnyAnswer) or the retries run out.
func (c *Callbacks) Send(ctx context.Context, token, target string, n Notice, log *slog.Logger) {
	if err := c.Check(target); err != nil {
		// The list changed since the submission was accepted.
		log.Warn("callback not sent", "token", token, "err", err)
		return
	}
	for attempt := 0; ; attempt++ {
		err := c.send(ctx, target, n)
		if err == nil {
			return
		}
		if attempt >= len(n.Backoff) {
			log.Warn("callback failed; giving up", "token", token, "attempts", attempt+1, "err", err)
			return
		}
		log.Info("callback failed; retrying", "token", token, "attempt", attempt+1, "err", err)
		select {
		case <-time.After(n.Backoff[attempt]):
		case <-ctx.Done():
			return
		}
	}
}

func (c *Callbacks) send(ctx context.Context, target string, n Notice) error {
	req, err := http.NewRequestWithContext(ctx, n.Method, target, bytes.NewReader(n.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if !n.AnyAnswer && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// CheckCallback says why a callback URL may not be used, or nil.
func (q *Queue) CheckCallback(raw string) error { return q.callbacks.Check(raw) }
