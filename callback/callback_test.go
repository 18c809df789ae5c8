package callback

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	s, err := New([]string{"127.0.0.1/32", "hooks.example.com", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allowed := []string{"http://127.0.0.1:8080/cb", "https://hooks.example.com/x", "http://10.1.2.3/", "http://HOOKS.example.com/"}
	for _, u := range allowed {
		if err := s.Check(ctx, u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	refused := map[string]string{
		"http://127.0.0.2/":             "not in the server's callback allow-list",
		"http://169.254.169.254/latest": "not in the server's callback allow-list",
		"ftp://127.0.0.1/":              `scheme "ftp"`,
		"/relative":                     "absolute URL",
		"http://u:p@127.0.0.1/":         "user name",
	}
	for u, want := range refused {
		if err := s.Check(ctx, u); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", u, err, want)
		}
	}
	tenNet, _ := New([]string{"10.0.0.0/8"})
	if err := tenNet.Check(ctx, "http://localhost:1/"); err == nil || !strings.Contains(err.Error(), "resolves to 127.0.0.1") {
		t.Errorf("localhost under 10.0.0.0/8: %v", err)
	}
	off, _ := New(nil)
	if off.Enabled() || off.Check(ctx, "http://127.0.0.1/") == nil {
		t.Error("an empty allow-list allows")
	}
	if _, err := New([]string{"http://x/"}); err == nil {
		t.Error("a URL was taken as a host")
	}
}

func TestSendPutsOnceAndFollowsNoRedirect(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type") + " " + string(b)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusInternalServerError) // an answer, whatever it says, ends the tries
	}))
	defer srv.Close()
	s, _ := New([]string{"127.0.0.1/32"})
	ctx := context.Background()
	if err := s.Send(ctx, http.MethodPut, srv.URL+"/cb", []byte(`{"a":1}`), 3, time.Second); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != `PUT /cb application/json {"a":1}` {
		t.Errorf("received %q", m)
	}
	if err := s.Send(ctx, http.MethodPut, srv.URL+"/redirect", nil, 3, time.Second); err != nil {
		t.Fatal(err)
	}
	<-got
	select {
	case m := <-got:
		t.Errorf("a redirect or a retry was followed: %q", m)
	default:
	}
	// The connection itself is checked too (a name may resolve elsewhere by then).
	if err := s.controlDial(ctx, "tcp", "127.0.0.2:80", nil); err == nil {
		t.Error("dial to 127.0.0.2 allowed")
	}
	if err := s.controlDial(ctx, "tcp", "127.0.0.1:80", nil); err != nil {
		t.Errorf("dial to 127.0.0.1: %v", err)
	}
}
