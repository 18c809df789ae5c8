package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeexec/codeexec/agent"
	"github.com/codeexec/codeexec/agentproto"
)

// serveFrames serves what the host wrote (in) and returns the exit status and the agent's events.
func serveFrames(t *testing.T, in []byte) (int, []agentproto.Event) {
	t.Helper()
	var out bytes.Buffer
	tmp := t.TempDir()
	ex := &agent.Executor{Dir: filepath.Join(tmp, "box"), Scratch: []string{tmp}, Out: agentproto.NewWriter(&out)}
	code := serve(ex, bytes.NewReader(in))
	var evs []agentproto.Event
	r := agentproto.NewReader(&out, agentproto.MaxAgentFrame)
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			return code, evs
		}
		if err != nil {
			t.Fatalf("reading the agent's events: %v", err)
		}
		evs = append(evs, ev)
	}
}

func frame(kind agentproto.Kind, payload string) []byte {
	var b bytes.Buffer
	_ = agentproto.NewWriter(&b).Frame(kind, []byte(payload))
	return b.Bytes()
}

func TestNoJob(t *testing.T) {
	if code, evs := serveFrames(t, nil); code != 0 || len(evs) != 0 {
		t.Errorf("exit %d, events %v", code, evs)
	}
}

func TestBadFirstFrame(t *testing.T) {
	oversized := make([]byte, 5)
	oversized[0] = byte(agentproto.KindJob)
	binary.BigEndian.PutUint32(oversized[1:], agentproto.MaxHostFrame+1)
	cases := map[string]struct {
		in   []byte
		want string
	}{
		"malformed job":  {frame(agentproto.KindJob, `{"runs": [`), "reading the job"},
		"not an object":  {frame(agentproto.KindJob, `"job"`), "reading the job"},
		"oversized":      {oversized, "larger than allowed"},
		"truncated":      {frame(agentproto.KindJob, `{"runs":[]}`)[:8], "ended inside a frame"},
		"stdin first":    {frame(agentproto.KindStdin, "input"), "not a job"},
		"unknown kind":   {frame('?', ""), "not a job"},
		"header cut off": {[]byte{byte(agentproto.KindJob), 0}, "ended inside a frame"},
	}
	for name, c := range cases {
		code, evs := serveFrames(t, c.in)
		if code != 1 || len(evs) != 1 || evs[0].Kind != agentproto.KindDone || !strings.Contains(evs[0].Done.Error, c.want) {
			t.Errorf("%s: exit %d, events %+v", name, code, evs)
		}
	}
}

func TestServeJob(t *testing.T) {
	job := `{"runs":[{"name":"run","argv":["/bin/sh","-c","cat"],"wallLimit":30000000000,"outputLimit":100}]}`
	in := append(frame(agentproto.KindJob, job), frame(agentproto.KindSignal, "SIGWHAT")...)
	code, evs := serveFrames(t, in)
	var kinds []agentproto.Kind
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	want := []agentproto.Kind{agentproto.KindStepStarted, agentproto.KindStepFinished, agentproto.KindDone}
	if code != 0 || string(kinds) != string(want) || evs[1].Finished.ExitCode != 0 || evs[2].Done.Error != "" {
		t.Errorf("exit %d, events %+v", code, evs)
	}
}

// A program may signal the agent (it runs as the same user); the agent must not mind.
func TestDiscardSignals(t *testing.T) {
	discardSignals()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT,
		syscall.SIGABRT, syscall.SIGSEGV, syscall.SIGUSR1, syscall.SIGPIPE, syscall.SIGTSTP, syscall.SIGALRM} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
	}
	// A signal that arrives after them shows they were handled, and the process is still here.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	defer signal.Stop(c)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c:
	case <-time.After(30 * time.Second):
		t.Fatal("no signal came back")
	}
}
