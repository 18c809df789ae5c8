// Package callback sends the HTTP requests that tell a client its async submission is done, and
// only where the operator allows: an anonymous caller must not turn the server into a proxy into
// its own network (Judge0's CVE-2024-29021 was such an SSRF). A URL is allowed when its host is
// listed by name, or when every address the name resolves to lies in a listed network; the
// address is checked again when the connection is made, so a name that resolves elsewhere later
// (DNS rebinding) is refused then. Redirects are not followed.
package callback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Sender checks callback URLs against an allow-list and sends callbacks.
type Sender struct {
	hosts  []string
	nets   []netip.Prefix
	client *http.Client
}

// New parses the allow-list: host names (exact, case-insensitive) and CIDRs ("10.0.0.0/8",
// "127.0.0.1/32"). An empty list allows nothing.
func New(allow []string) (*Sender, error) {
	s := &Sender{}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if p, err := netip.ParsePrefix(a); err == nil {
			s.nets = append(s.nets, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(a); err == nil {
			s.nets = append(s.nets, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if a == "" || strings.ContainsAny(a, "/: ") {
			return nil, fmt.Errorf("callback allow-list: %q is neither a host name nor a CIDR", a)
		}
		s.hosts = append(s.hosts, strings.ToLower(a))
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, ControlContext: s.controlDial}
	s.client = &http.Client{
		Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConnsPerHost: 2},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return s, nil
}

// Enabled reports whether any callback may be sent at all.
func (s *Sender) Enabled() bool { return len(s.hosts) > 0 || len(s.nets) > 0 }

// Check says why a callback URL is refused (nil: allowed). The sentence is for the client.
func (s *Sender) Check(ctx context.Context, raw string) error {
	if !s.Enabled() {
		return errors.New("callbacks are off on this server (queue.callbackAllow is empty)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("is not an absolute URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not allowed; use http or https", u.Scheme)
	}
	if u.User != nil {
		return errors.New("must not carry a user name or password")
	}
	host := strings.ToLower(u.Hostname())
	if slices.Contains(s.hosts, host) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !s.allowedIP(ip) {
			return fmt.Errorf("host %s is not in the server's callback allow-list", host)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("host %s is not in the server's callback allow-list and does not resolve", host)
	}
	for _, ip := range addrs {
		if !s.allowedIP(ip) {
			return fmt.Errorf("host %s is not in the server's callback allow-list (it resolves to %s)", host, ip.Unmap())
		}
	}
	return nil
}

func (s *Sender) allowedIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// byName marks a request whose host is listed by name: such a host is trusted wherever it
// resolves.
type byName struct{}

// controlDial refuses a connection to an address outside the networks, unless the request's host
// is listed by name.
func (s *Sender) controlDial(ctx context.Context, _, address string, _ syscall.RawConn) error {
	if ctx.Value(byName{}) != nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	if !s.allowedIP(ap.Addr()) {
		return fmt.Errorf("callback: %s is not in the allow-list", ap.Addr())
	}
	return nil
}

// Send makes up to tries requests (the first answer ends it, whatever its status; only failures
// to get one are retried), each bounded by timeout. The URL must have passed Check.
func (s *Sender) Send(ctx context.Context, method, rawURL string, body []byte, tries int, timeout time.Duration) error {
	if err := s.Check(ctx, rawURL); err != nil {
		return err
	}
	if u, _ := url.Parse(rawURL); slices.Contains(s.hosts, strings.ToLower(u.Hostname())) {
		ctx = context.WithValue(ctx, byName{}, true)
	}
	var last error
	for range max(tries, 1) {
		last = s.once(ctx, method, rawURL, body, timeout)
		if last == nil || ctx.Err() != nil {
			return last
		}
	}
	return last
}

func (s *Sender) once(ctx context.Context, method, rawURL string, body []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
