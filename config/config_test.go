package config

import (
	"strings"
	"testing"
)

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
