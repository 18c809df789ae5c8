package agentproto

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

const headerSize = 5

// ErrFrameTooLarge is returned by Reader for a frame over its bound.
var ErrFrameTooLarge = errors.New("agentproto: frame larger than allowed")

// ErrTruncated is returned by Reader when the stream ends inside a frame.
var ErrTruncated = errors.New("agentproto: stream ended inside a frame")

// Writer writes frames; it is safe for concurrent use, and each frame is written whole.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriter writes frames to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Frame writes one frame. A payload over MaxHostFrame is refused.
func (w *Writer) Frame(kind Kind, payload []byte) error {
	if len(payload) > MaxHostFrame {
		return fmt.Errorf("%w: %s frame of %d bytes", ErrFrameTooLarge, kind, len(payload))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// One write per frame: the attach stream may be shared, and a frame must not be split by
	// another's bytes.
	w.buf = append(w.buf[:0], byte(kind), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(w.buf[1:headerSize], uint32(len(payload)))
	w.buf = append(w.buf, payload...)
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > 1<<20 {
		w.buf = nil // a large job was sent once; do not keep its buffer
	}
	return err
}

// JSON writes v as the payload of one frame.
func (w *Writer) JSON(kind Kind, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.Frame(kind, b)
}

// Chunks writes b as frames of at most MaxChunk bytes.
func (w *Writer) Chunks(kind Kind, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), MaxChunk)
		if err := w.Frame(kind, b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// Reader reads frames of at most max bytes each.
type Reader struct {
	r   io.Reader
	max int
	hdr [headerSize]byte
}

// NewReader reads frames from r; a frame over max bytes is an error (ErrFrameTooLarge).
func NewReader(r io.Reader, max int) *Reader { return &Reader{r: r, max: max} }

// Next reads one frame. At a clean end of the stream (between frames) it returns io.EOF.
func (r *Reader) Next() (Kind, []byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, ErrTruncated
		}
		return 0, nil, err
	}
	kind := Kind(r.hdr[0])
	n := binary.BigEndian.Uint32(r.hdr[1:])
	if int64(n) > int64(r.max) {
		return kind, nil, fmt.Errorf("%w: %s frame of %d bytes, the bound is %d", ErrFrameTooLarge, kind, n, r.max)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r.r, payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return kind, nil, ErrTruncated
		}
		return kind, nil, err
	}
	return kind, payload, nil
}

// Event is one frame from the agent, decoded.
type Event struct {
	Kind     Kind
	Data     []byte       // KindStdout, KindStderr
	Started  *StepStarted // KindStepStarted
	Finished *StepResult  // KindStepFinished
	Done     *Done        // KindDone
	Hello    *Hello       // KindHello
}

// ErrProtocol is wrapped by every error about a frame that does not belong in the stream.
var ErrProtocol = errors.New("agentproto: protocol error")

// ReadEvent reads and decodes the agent's next frame.
func (r *Reader) ReadEvent() (Event, error) {
	kind, payload, err := r.Next()
	if err != nil {
		return Event{}, err
	}
	ev := Event{Kind: kind}
	var v any
	switch kind {
	case KindStdout, KindStderr:
		ev.Data = payload
		return ev, nil
	case KindStepStarted:
		ev.Started = new(StepStarted)
		v = ev.Started
	case KindStepFinished:
		ev.Finished = new(StepResult)
		v = ev.Finished
	case KindDone:
		ev.Done = new(Done)
		v = ev.Done
	case KindHello:
		ev.Hello = new(Hello)
		v = ev.Hello
	default:
		return ev, fmt.Errorf("%w: unexpected frame kind %q", ErrProtocol, byte(kind))
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return ev, fmt.Errorf("%w: %s frame: %v", ErrProtocol, kind, err)
	}
	return ev, nil
}

// ErrVersion is returned by ReadHello when the agent speaks another protocol version.
var ErrVersion = errors.New("the agent speaks another protocol version: rebuild it with `make build`")

// ReadHello reads the agent's first frame and checks its version.
func (r *Reader) ReadHello() (*Hello, error) {
	kind, payload, err := r.Next()
	if kind != 0 && kind != KindHello {
		// An agent of protocol 1 wrote a JSON line: its first byte is '{'.
		return nil, fmt.Errorf("%w (its first byte is %q, not a hello frame)", ErrVersion, byte(kind))
	}
	if err != nil {
		return nil, err
	}
	var h Hello
	if err := json.Unmarshal(payload, &h); err != nil {
		return nil, fmt.Errorf("%w: hello frame: %v", ErrProtocol, err)
	}
	if h.Version != Version {
		return nil, fmt.Errorf("%w (agent %d, server %d)", ErrVersion, h.Version, Version)
	}
	return &h, nil
}

// Input is a frame the host sends while a job runs: KindStdin, KindStdinEOF or KindSignal.
type Input struct {
	Kind Kind
	Data []byte
}
