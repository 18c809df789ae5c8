//go:build integration

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nodeSession is what e2e/node/piston_connect.mjs reports of one session.
type nodeSession struct {
	Messages []map[string]any `json:"messages"`
	Stdout   string           `json:"stdout"`
	Stderr   string           `json:"stderr"`
	Code     int              `json:"code"`
	Reason   string           `json:"reason"`
}

func (n nodeSession) types() string {
	var ts []string
	for _, m := range n.Messages {
		ts = append(ts, m["type"].(string))
	}
	return strings.Join(ts, " ")
}

// testPistonNode: the ws package from npm speaks Piston's /api/v2/connect to the server: the
// dialogues, SIGINT, and every close code of Piston's protocol.
func testPistonNode(t *testing.T, s *Server) {
	dir := filepath.Join(repoRoot, "e2e", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws")); err != nil {
		// `make test` has run npm ci already; a bare go test does it here.
		ci := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in e2e/node: %v\n%s", err, out)
		}
	}
	var ds []map[string]string
	for _, d := range dialogues {
		ds = append(ds, map[string]string{"lang": d.lang, "code": d.code})
	}
	node := exec.Command("node", "piston_connect.mjs")
	node.Dir = dir
	node.Env = append(os.Environ(), "SERVER="+s.URL, "DIALOGUES="+mustJSON(ds))
	node.Stderr = os.Stderr
	raw, err := node.Output()
	if err != nil {
		t.Fatalf("node piston_connect.mjs: %v\n%s", err, raw)
	}
	var out struct {
		Dialogues map[string]nodeSession `json:"dialogues"`
		Signal    nodeSession            `json:"signal"`
		Codes     map[string]nodeSession `json:"codes"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	for _, d := range dialogues {
		got := out.Dialogues[d.lang]
		want := "runtime stage data data exit"
		if d.lang == "java" || d.lang == "cpp" {
			want = "runtime stage exit stage data data exit"
		}
		if len(got.Messages) == 0 {
			t.Errorf("%s dialogue over Piston's protocol: no messages: %s", d.lang, mustJSON(got))
			continue
		}
		exit := got.Messages[len(got.Messages)-1]
		if got.Stdout != "Your name? Hello, Ada!\n" || got.Code != 4999 || got.Reason != "Job Completed" ||
			got.types() != want || exit["stage"] != "run" || exit["code"] != 0.0 || exit["signal"] != nil {
			t.Errorf("%s dialogue over Piston's protocol (want messages %q): %s", d.lang, want, mustJSON(got))
		}
		if rt := got.Messages[0]; rt["language"] != d.lang || rt["version"] == "" {
			t.Errorf("%s runtime message: %v", d.lang, rt)
		}
	}
	if sig := out.Signal; sig.Code != 4999 || !strings.Contains(sig.Stderr, "KeyboardInterrupt") {
		t.Errorf("SIGINT over Piston's protocol: %s", mustJSON(sig))
	}
	for name, want := range map[string]struct {
		code        int
		reason, msg string
	}{
		"alreadyInitialized": {4000, "Already Initialized", ""},
		"initTimeout":        {4001, "Initialization Timeout", ""},
		"badJSON":            {4002, "Notified Error", "malformed JSON"},
		"badInit":            {4002, "Notified Error", "runtime is unknown"},
		"unknownType":        {4002, "Notified Error", "unknown message type"},
		"dataFirst":          {4003, "Not yet initialized", ""},
		"signalFirst":        {4003, "Not yet initialized", ""},
		"notStdin":           {4004, "Can only write to stdin", ""},
		"invalidSignal":      {4005, "Invalid signal", ""},
		"completed":          {4999, "Job Completed", ""},
	} {
		got := out.Codes[name]
		if got.Code != want.code || got.Reason != want.reason {
			t.Errorf("%s: closed with %d %q, want %d %q: %s", name, got.Code, got.Reason, want.code, want.reason, mustJSON(got))
		}
		if want.msg != "" && len(got.Messages) == 0 {
			t.Errorf("%s: want an error message about %q first: none", name, want.msg)
		} else if want.msg != "" {
			last := got.Messages[len(got.Messages)-1]
			if m, _ := last["message"].(string); last["type"] != "error" || !strings.Contains(m, want.msg) {
				t.Errorf("%s: want an error message about %q first: %s", name, want.msg, mustJSON(got))
			}
		}
	}
}
