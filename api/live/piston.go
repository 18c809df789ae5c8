package live

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/codeexec/codeexec/agentproto"
	"github.com/codeexec/codeexec/api/httpjson"
	"github.com/codeexec/codeexec/api/piston"
	"github.com/codeexec/codeexec/runner"
)

// pistonProtocol is Piston's GET /api/v2/connect, message for message and close code for close
// code as engineer-man/piston's api/src/api/v2.js defines them: init, data and signal from the
// client; runtime, stage, data, exit and error from the server. Where Piston's own code routes a
// signal to an event nobody listens to, this one delivers it. Two choices where Piston has none:
// a message of an unknown type is an error (Piston ignores it), and the signals are those of
// agentproto.Signals (others close with 4005, Invalid signal).
type pistonProtocol struct{ dialect *piston.Dialect }

// Piston's close codes.
const (
	pistonAlreadyInitialized websocket.StatusCode = 4000
	pistonInitTimeout        websocket.StatusCode = 4001
	pistonNotifiedError      websocket.StatusCode = 4002
	pistonNotInitialized     websocket.StatusCode = 4003
	pistonOnlyStdin          websocket.StatusCode = 4004
	pistonInvalidSignal      websocket.StatusCode = 4005
	pistonJobCompleted       websocket.StatusCode = 4999
)

// pistonInitWait is Piston's: the init message must come within a second of the upgrade.
const pistonInitWait = time.Second

type pistonMessage struct {
	Type   string          `json:"type"`
	Stream string          `json:"stream"`
	Data   json.RawMessage `json:"data"`
	Signal string          `json:"signal"`
}

type pistonRuntime struct {
	Type     string `json:"type"`
	Language string `json:"language"`
	Version  string `json:"version"`
}

type pistonStage struct {
	Type  string `json:"type"`
	Stage string `json:"stage"`
}

type pistonData struct {
	Type   string `json:"type"`
	Stream string `json:"stream"`
	Data   string `json:"data"`
}

type pistonExit struct {
	Type  string `json:"type"`
	Stage string `json:"stage"`
	piston.Exit
}

func (pistonProtocol) transport() string                       { return "piston" }
func (pistonProtocol) initTimeout(time.Duration) time.Duration { return pistonInitWait }
func (pistonProtocol) writeError() httpjson.ErrorWriter        { return piston.WriteError }

func (pp pistonProtocol) request(b []byte) (*runner.Request, *closing) {
	var m pistonMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, pp.notify("malformed JSON: " + httpjson.Problem(err))
	}
	switch m.Type {
	case "init":
	case "data", "signal":
		return nil, &closing{code: pistonNotInitialized, reason: "Not yet initialized"}
	default:
		return nil, pp.unknown(m.Type)
	}
	var pr piston.Request
	if err := json.Unmarshal(b, &pr); err != nil {
		return nil, pp.notify("malformed JSON: " + httpjson.Problem(err))
	}
	req, msg := pp.dialect.ToRunner(&pr)
	if msg != "" {
		return nil, pp.notify(msg)
	}
	// As in Piston, the init's stdin is discarded: the session's input is what the client sends.
	req.Stdin, req.Interactive = nil, true
	return req, nil
}

func (pp pistonProtocol) input(b []byte, _ *inputState) (agentproto.Input, bool, *closing) {
	var m pistonMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return agentproto.Input{}, false, pp.notify("malformed JSON: " + httpjson.Problem(err))
	}
	switch m.Type {
	case "init":
		return agentproto.Input{}, false, &closing{code: pistonAlreadyInitialized, reason: "Already Initialized"}
	case "data":
		if m.Stream != "stdin" {
			return agentproto.Input{}, false, &closing{code: pistonOnlyStdin, reason: "Can only write to stdin"}
		}
		var data string
		if err := json.Unmarshal(m.Data, &data); err != nil {
			return agentproto.Input{}, false, pp.notify("data must be a string")
		}
		return agentproto.Input{Kind: agentproto.KindStdin, Data: []byte(data)}, data != "", nil
	case "signal":
		if !slices.Contains(agentproto.Signals, m.Signal) {
			return agentproto.Input{}, false, &closing{code: pistonInvalidSignal, reason: "Invalid signal"}
		}
		return agentproto.Input{Kind: agentproto.KindSignal, Data: []byte(m.Signal)}, true, nil
	}
	return agentproto.Input{}, false, pp.unknown(m.Type)
}

func (pistonProtocol) runtime(p *runner.Plan) any {
	return pistonRuntime{Type: "runtime", Language: p.Language, Version: p.Version}
}

func (pistonProtocol) event(ev runner.Event, data []byte) any {
	if ev.Type == runner.StageStarted {
		return pistonStage{Type: "stage", Stage: ev.Stage}
	}
	text, _ := httpjson.Text(data)
	return pistonData{Type: "data", Stream: string(ev.Type), Data: text}
}

func (pistonProtocol) exit(ev runner.Event) any {
	return pistonExit{Type: "exit", Stage: ev.Stage, Exit: piston.ExitOf(ev.Step)}
}

func (pistonProtocol) result(*runner.Result) any { return nil }

func (pistonProtocol) completed() *closing {
	return &closing{code: pistonJobCompleted, reason: "Job Completed"}
}

func (pp pistonProtocol) failed(_ int, msg string) *closing { return pp.notify(msg) }

func (pistonProtocol) initTimedOut() *closing {
	return &closing{code: pistonInitTimeout, reason: "Initialization Timeout"}
}

func (pp pistonProtocol) idle(d time.Duration) *closing {
	return pp.notify("idle limit: no input and no output for " + d.String() + "; the run was stopped")
}

// notify is Piston's way to fail: the message as an error message (a close reason holds only
// 123 bytes), then 4002.
func (pistonProtocol) notify(msg string) *closing {
	return &closing{code: pistonNotifiedError, reason: "Notified Error", message: errorMessage{"error", msg}}
}

func (pp pistonProtocol) unknown(typ string) *closing {
	return pp.notify("unknown message type " + strconv.Quote(typ) + ": the client sends init, data or signal")
}
