package live

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/runner"
)

// native is the native protocol of GET /api/v1/ws (README "Live runs"). The first message is
// the request, as the body of POST /api/v2/execute; then the client sends stdin, eof and signal
// messages, the server runtime, stage, stdout, stderr, exit and, last, result (the answer of
// POST /api/v2/execute) or error. Close codes: 1000 after the result, 4000 + the HTTP status the
// same failure gets on POST (4400 a bad message, 4429 too busy, 4503 no sandbox), 4408 no
// request within the idle limit (interactive.idleMs) or the idle limit.
type native struct {
	core     Core
	writeErr httpjson.ErrorWriter // the native API's error answer
}

// Status codes of the native protocol's closes beside 4000 + an HTTP status.
const (
	closeCompleted = websocket.StatusNormalClosure
	closeTimeout   = 4000 + http.StatusRequestTimeout
)

type nativeRuntime struct {
	Type     string `json:"type"`
	JobID    string `json:"jobId"`
	Language string `json:"language"`
	Version  string `json:"version"`
}

type nativeEvent struct {
	Type  string `json:"type"`
	Stage string `json:"stage"`
	Test  int    `json:"test,omitempty"`
	Data  string `json:"data,omitempty"`
	// DataBase64 is the exact bytes when they are not UTF-8 (Data then has U+FFFD for them).
	DataBase64 string `json:"dataBase64,omitempty"`
}

type nativeExit struct {
	Type        string        `json:"type"`
	Stage       string        `json:"stage"`
	Test        int           `json:"test,omitempty"`
	Status      runner.Status `json:"status"`
	Verdict     runner.Status `json:"verdict,omitempty"`
	ExitCode    int           `json:"exitCode"`
	Signal      string        `json:"signal,omitempty"`
	Truncated   bool          `json:"truncated"`
	WallTimeMs  float64       `json:"wallTimeMs"`
	CPUTimeMs   float64       `json:"cpuTimeMs"`
	MemoryBytes int64         `json:"memoryBytes"`
}

type errorMessage struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (native) transport() string                            { return "ws" }
func (native) initTimeout(idle time.Duration) time.Duration { return idle }
func (n native) writeError() httpjson.ErrorWriter           { return n.writeErr }

func (n native) request(b []byte) (*runner.Request, *closing) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) == nil && probe["type"] != nil {
		return nil, n.failed(http.StatusBadRequest, "the first message is the request (the body of POST /api/v2/execute), with no type")
	}
	req, err := n.core.Request(b)
	if err != nil {
		return nil, n.failed(http.StatusBadRequest, err.Error())
	}
	return req, nil
}

func (n native) input(b []byte, st *inputState) (agentproto.Input, bool, *closing) {
	bad := func(format string, a ...any) (agentproto.Input, bool, *closing) {
		return agentproto.Input{}, false, n.failed(http.StatusBadRequest, fmt.Sprintf(format, a...))
	}
	var m struct {
		Type   string  `json:"type"`
		Data   *string `json:"data"`
		Signal string  `json:"signal"`
	}
	if err := httpjson.DecodeStrict(b, &m); err != nil {
		return bad("%v", err)
	}
	switch m.Type {
	case "stdin", "eof":
		switch {
		case !st.interactive:
			return bad(`the run does not read input: its request did not say "interactive": true`)
		case st.eof:
			return bad("stdin is closed: an eof message was sent")
		case m.Type == "eof":
			st.eof = true
			return agentproto.Input{Kind: agentproto.KindStdinEOF}, true, nil
		case m.Data == nil:
			return bad(`a stdin message needs "data", a string`)
		}
		return agentproto.Input{Kind: agentproto.KindStdin, Data: []byte(*m.Data)}, *m.Data != "", nil
	case "signal":
		if !slices.Contains(agentproto.Signals, m.Signal) {
			return bad("signal %q is not one of %s", m.Signal, strings.Join(agentproto.Signals, ", "))
		}
		return agentproto.Input{Kind: agentproto.KindSignal, Data: []byte(m.Signal)}, true, nil
	case "":
		return bad(`a message needs a "type": stdin, eof or signal`)
	}
	return bad("unknown message type %q: the client sends stdin, eof or signal", m.Type)
}

func (native) runtime(p *runner.Plan) any {
	return nativeRuntime{Type: "runtime", JobID: p.JobID, Language: p.Language, Version: p.Version}
}

func (native) event(ev runner.Event, data []byte) any {
	out := nativeEvent{Type: string(ev.Type), Stage: ev.Stage, Test: ev.Test}
	out.Data, out.DataBase64 = httpjson.Text(data)
	return out
}

func (native) exit(ev runner.Event) any {
	st := ev.Step
	return nativeExit{
		Type: "exit", Stage: ev.Stage, Test: ev.Test, Status: st.Status, Verdict: ev.Verdict,
		ExitCode: st.ExitCode, Signal: st.Signal, Truncated: st.Truncated,
		WallTimeMs: runner.Millis(st.Wall), CPUTimeMs: runner.Millis(st.CPU), MemoryBytes: st.MemoryBytes,
	}
}

func (n native) result(res *runner.Result) any { return n.core.Answer(res) }

func (native) completed() *closing { return &closing{code: closeCompleted, reason: "completed"} }

func (native) failed(code int, msg string) *closing {
	return &closing{code: websocket.StatusCode(4000 + code), reason: msg, message: errorMessage{"error", msg}}
}

func (n native) initTimedOut() *closing {
	msg := "no request within the idle limit of the upgrade"
	return &closing{code: closeTimeout, reason: msg, message: errorMessage{"error", msg}}
}

func (native) idle(d time.Duration) *closing {
	msg := fmt.Sprintf("idle limit: no input and no output for %v; the run was stopped", d)
	return &closing{code: closeTimeout, reason: msg, message: errorMessage{"error", msg}}
}
