package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/codeexec/codeexec/config"
)

// A taken port fails start-up before the execution log or the engine is touched, so nothing is
// left behind.
func TestOpenBindsThePortFirst(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg, err := config.Parse([]byte("languages:\n  python:\n    image: python\n    source: main.py\n    run: [python3]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Port = taken.Addr().(*net.TCPAddr).Port
	// A database URI that could not even be parsed: reaching the log would fail differently.
	cfg.ExecLog.DB = "not a uri"
	s := &server{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err = s.open(context.Background())
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "listen" {
		t.Fatalf("open: %v, want the listen error", err)
	}
	if s.xlog != nil || s.engine != nil || s.pools != nil {
		t.Fatalf("open went past the port: %+v", s)
	}
	s.shutdown()
}
