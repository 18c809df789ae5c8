package config

import (
	"strings"
	"testing"
	"time"
)

const lang = `
languages:
  python: {image: python, source: main.py, run: [python3], judge0Ids: [71, 113]}
  ruby: {image: ruby, source: main.rb, run: [ruby], judge0Ids: [72]}
`

func TestJudge0Settings(t *testing.T) {
	c, err := Parse([]byte(lang))
	if err != nil {
		t.Fatal(err)
	}
	if c.Judge0.Prefix != "/judge0" || c.Queue.MaxPending != 10000 || time.Duration(c.Queue.ResultTTL) != 24*time.Hour {
		t.Errorf("defaults: %+v %+v", c.Judge0, c.Queue)
	}
	if l, ok := c.Judge0Language(113); !ok || l.Name != "python" {
		t.Errorf("113: %v %v", l, ok)
	}
	if _, ok := c.Judge0Language(4); ok {
		t.Error("id 4 found")
	}
	bad := map[string]string{
		lang + "  go: {image: go, source: main.go, run: [x], judge0Ids: [72]}\n": "72 is given to",
		"judge0: {prefix: judge0}\n" + lang:                                      "judge0.prefix",
		"judge0: {prefix: /judge0/}\n" + lang:                                    "judge0.prefix",
		"queue: {resultTTL: soon}\n" + lang:                                      "not a duration",
	}
	for doc, want := range bad {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
	if c, err := Parse([]byte("judge0: {prefix: \"off\"}\n" + lang)); err != nil || c.Judge0.Prefix != "off" {
		t.Errorf("off: %v", err)
	}
}

const minimal = `
languages:
  python:
    image: codeexec/python
    source: main.py
    run: [python3, "{entry}"]
  go:
    image: codeexec/go
    source: main.go
    run: [./.prog]
`

func TestRuntimeDefaultsAndOverride(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pool.Runtime != "runc" || c.Languages["python"].Runtime != "runc" {
		t.Errorf("default runtime: pool %q, python %q, want runc", c.Pool.Runtime, c.Languages["python"].Runtime)
	}
	c, err = Parse([]byte("pool:\n  runtime: runsc\n" + strings.Replace(minimal, "    run: [./.prog]", "    run: [./.prog]\n    runtime: runc", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Languages["python"].Runtime != "runsc" || c.Languages["go"].Runtime != "runc" {
		t.Errorf("python %q (want the pool's runsc), go %q (want its own runc)", c.Languages["python"].Runtime, c.Languages["go"].Runtime)
	}
	rts := c.Runtimes()
	if len(rts) != 2 || rts["runsc"][0] != "python" || rts["runc"][0] != "go" {
		t.Errorf("Runtimes() = %v", rts)
	}
}

func TestRuntimeNameChecked(t *testing.T) {
	_, err := Parse([]byte("pool:\n  runtime: \"run sc\"\n" + minimal))
	if err == nil || !strings.Contains(err.Error(), `runtime "run sc"`) {
		t.Errorf("err = %v, want one naming the runtime", err)
	}
}
