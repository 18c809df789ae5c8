package live

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/codeexec/codeexec/runner"
)

// converter is a transport's wire messages for what happens in a run.
type converter interface {
	runtime(p *runner.Plan) any
	// event is the message for an event other than a stage's end; data is its output cut to
	// whole characters.
	event(ev runner.Event, data []byte) any
	// exit is the message of a finished stage.
	exit(ev runner.Event) any
	// result is the last message of a run that finished (nil: none).
	result(res *runner.Result) any
}

// messages are conv's messages for ev, and how many output bytes they carry.
func (t *texts) messages(conv converter, ev runner.Event) (msgs []any, n int) {
	switch ev.Type {
	case runner.Stdout, runner.Stderr:
		data := t.cut(ev)
		if len(data) == 0 {
			return nil, 0
		}
		return []any{conv.event(ev, data)}, len(data)
	case runner.StageFinished:
		stdout, stderr := t.flush()
		if len(stdout) > 0 {
			msgs = append(msgs, conv.event(runner.Event{Type: runner.Stdout, Stage: ev.Stage, Test: ev.Test}, stdout))
		}
		if len(stderr) > 0 {
			msgs = append(msgs, conv.event(runner.Event{Type: runner.Stderr, Stage: ev.Stage, Test: ev.Test}, stderr))
		}
		return append(msgs, conv.exit(ev)), len(stdout) + len(stderr)
	}
	return []any{conv.event(ev, nil)}, 0
}

// texts holds back, per stream, the bytes of a character that a chunk of output cut in two, so
// that every message carries whole characters: the agent's chunks end where a read ended.
type texts struct {
	stdout, stderr []byte
}

// cut returns the output of ev that is complete characters, keeping the rest for the next
// chunk of the same stream.
func (t *texts) cut(ev runner.Event) []byte {
	rest := &t.stdout
	if ev.Type == runner.Stderr {
		rest = &t.stderr
	}
	b := append(*rest, ev.Data...)
	n := len(b) - partialRune(b)
	*rest = append([]byte(nil), b[n:]...)
	return b[:n]
}

// flush returns what is held back when a stage ends: bytes that never became a character.
func (t *texts) flush() (stdout, stderr []byte) {
	stdout, stderr = t.stdout, t.stderr
	t.stdout, t.stderr = nil, nil
	return stdout, stderr
}

// partialRune is the length of an incomplete UTF-8 sequence at the end of b (0 if none).
func partialRune(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return 0
			}
			return len(b) - i
		}
	}
	return 0
}

// marshal is msg as JSON, HTML left unescaped: program output goes as it was written.
func marshal(msg any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
