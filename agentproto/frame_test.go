package agentproto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func frames(t *testing.T, write func(w *Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	write(NewWriter(&buf))
	return buf.Bytes()
}

func TestEventsRoundTrip(t *testing.T) {
	b := frames(t, func(w *Writer) {
		_ = w.JSON(KindHello, Hello{Version: Version})
		_ = w.JSON(KindStepStarted, StepStarted{Name: "run", Index: 2})
		_ = w.Chunks(KindStdout, bytes.Repeat([]byte("x"), MaxChunk+10))
		_ = w.Frame(KindStderr, []byte{0xff, 0})
		_ = w.JSON(KindStepFinished, StepResult{Outcome: TimedOut, TimeLimit: WallLimit, ExitCode: 137})
		_ = w.JSON(KindDone, Done{})
	})
	r := NewReader(bytes.NewReader(b), MaxAgentFrame)
	if h, err := r.ReadHello(); err != nil || h.Version != Version {
		t.Fatalf("hello %+v, %v", h, err)
	}
	var kinds []Kind
	var stdout []byte
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, ev.Kind)
		switch ev.Kind {
		case KindStdout:
			if len(ev.Data) > MaxChunk {
				t.Errorf("a chunk of %d bytes: chunks are at most %d", len(ev.Data), MaxChunk)
			}
			stdout = append(stdout, ev.Data...)
		case KindStderr:
			if !bytes.Equal(ev.Data, []byte{0xff, 0}) {
				t.Errorf("stderr %q: bytes must pass unchanged", ev.Data)
			}
		case KindStepStarted:
			if ev.Started.Index != 2 {
				t.Errorf("started %+v", ev.Started)
			}
		case KindStepFinished:
			if ev.Finished.Outcome != TimedOut || ev.Finished.TimeLimit != WallLimit || ev.Finished.ExitCode != 137 {
				t.Errorf("finished %+v", ev.Finished)
			}
		}
	}
	want := []Kind{KindStepStarted, KindStdout, KindStdout, KindStderr, KindStepFinished, KindDone}
	if string(kinds) != string(want) || len(stdout) != MaxChunk+10 {
		t.Fatalf("kinds %q (%d stdout bytes), want %q", kinds, len(stdout), want)
	}
}

func TestTruncatedStream(t *testing.T) {
	b := frames(t, func(w *Writer) { _ = w.Frame(KindStdout, []byte("hello")) })
	for _, cut := range []int{1, 3, len(b) - 1} {
		_, _, err := NewReader(bytes.NewReader(b[:cut]), MaxAgentFrame).Next()
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("cut at %d: %v, want ErrTruncated", cut, err)
		}
	}
	if _, _, err := NewReader(bytes.NewReader(nil), MaxAgentFrame).Next(); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
}

// A frame over the bound is refused from its header, before anything is allocated for it.
func TestOversizedFrame(t *testing.T) {
	b := frames(t, func(w *Writer) { _ = w.Frame(KindStdout, make([]byte, MaxAgentFrame+1)) })
	_, _, err := NewReader(bytes.NewReader(b[:headerSize]), MaxAgentFrame).Next()
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("%v, want ErrFrameTooLarge", err)
	}
	if err := NewWriter(io.Discard).Frame(KindJob, make([]byte, MaxHostFrame+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("writing over MaxHostFrame: %v, want ErrFrameTooLarge", err)
	}
}

func TestMalformedAndUnknownFrames(t *testing.T) {
	b := frames(t, func(w *Writer) { _ = w.Frame(KindStepFinished, []byte("{not json")) })
	if _, err := NewReader(bytes.NewReader(b), MaxAgentFrame).ReadEvent(); !errors.Is(err, ErrProtocol) {
		t.Errorf("malformed JSON: %v, want ErrProtocol", err)
	}
	b = frames(t, func(w *Writer) { _ = w.Frame(KindJob, []byte("{}")) })
	if _, err := NewReader(bytes.NewReader(b), MaxAgentFrame).ReadEvent(); !errors.Is(err, ErrProtocol) {
		t.Errorf("a host frame from the agent: %v, want ErrProtocol", err)
	}
}

func TestWrongVersion(t *testing.T) {
	b := frames(t, func(w *Writer) { _ = w.JSON(KindHello, Hello{Version: Version + 1}) })
	if _, err := NewReader(bytes.NewReader(b), MaxAgentFrame).ReadHello(); !errors.Is(err, ErrVersion) {
		t.Errorf("another version: %v, want ErrVersion", err)
	}
	// An agent of protocol 1 answered with a JSON line.
	old := strings.NewReader(`{"ready":true}` + "\n")
	_, err := NewReader(old, MaxAgentFrame).ReadHello()
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "make build") {
		t.Errorf("protocol 1 agent: %v, want ErrVersion saying what to do", err)
	}
}
