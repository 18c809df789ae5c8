package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const twoLanguages = `
languages:
  python:
    image: codeexec/python
    judge0Ids: [71]
    aliases: [py]
    source: main.py
    run: [python3, "{entry}"]
  c:
    image: codeexec/c
    judge0Ids: [50]
    source: main.c
    compile: [gcc, "{sources}"]
    run: [./a.out]
`

func TestOnlyKeepsTheNamedLanguages(t *testing.T) {
	c, err := Parse([]byte(twoLanguages))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Only([]string{" py", ""}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.LanguageNames(), ","); got != "python" {
		t.Errorf("after Only(py): %s", got)
	}
	if ids := c.Languages["python"].Judge0IDs; len(ids) != 1 || ids[0] != 71 {
		t.Errorf("judge0Ids: %v", ids)
	}
	c, _ = Parse([]byte(twoLanguages))
	if err := c.Only([]string{"c", "rust"}); err == nil || !strings.Contains(err.Error(), `unknown language "rust"`) {
		t.Errorf("an unknown name: %v", err)
	}
	if err := c.Only([]string{","}); err == nil {
		t.Error("no names: want an error")
	}
}

func TestJudge0IDsAreUnique(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(twoLanguages, "judge0Ids: [50]", "judge0Ids: [71]", 1)))
	if err == nil || !strings.Contains(err.Error(), "judge0Ids: 71 is given to c and python") {
		t.Errorf("duplicate judge0Ids: %v", err)
	}
}

// The repository's config parses, and every language has its image folder's parts.
func TestRepositoryConfig(t *testing.T) {
	c, err := Load("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Languages) < 36 {
		t.Errorf("%d languages configured", len(c.Languages))
	}
	for _, name := range c.LanguageNames() {
		dir := filepath.Join("..", "images", strings.TrimPrefix(c.Languages[name].Image, "codeexec/"))
		for _, f := range []string{"Dockerfile", "version"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if hello, _ := filepath.Glob(filepath.Join(dir, "examples", name, "hello.*")); len(hello) != 1 {
			t.Errorf("%s: want one %s/examples/%s/hello.* (e2e runs it)", name, dir, name)
		}
	}
}

func TestWarmLimits(t *testing.T) {
	lang := func(keys string) string {
		return "languages:\n  x:\n    image: i\n    source: a.x\n    run: [x]\n" + keys
	}
	for _, c := range []struct {
		keys     string
		min, max int
		err      string
	}{
		{"", 2, 2, ""},
		{"    minWarm: 1\n", 1, 1, ""},
		{"    minWarm: 0\n    maxWarm: 3\n", 0, 3, ""},
		{"    minWarm: 1\n    maxWarm: 3\n    poolSize: 0\n", 0, 0, ""},
		{"    minWarm: 3\n    maxWarm: 1\n", 0, 0, "maxWarm is below minWarm"},
		{"    minWarm: -1\n", 0, 0, "must not be negative"},
	} {
		cfg, err := Parse([]byte(lang(c.keys)))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.keys, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.keys, err)
			continue
		}
		if l := cfg.Languages["x"]; l.MinWarm != c.min || l.MaxWarm != c.max {
			t.Errorf("%q: minWarm %d maxWarm %d, want %d %d", c.keys, l.MinWarm, l.MaxWarm, c.min, c.max)
		}
	}
	_, err := Parse([]byte("pool:\n  maxWarm: 1\n" + lang("    minWarm: 2\n")))
	if err == nil || !strings.Contains(err.Error(), "pool.maxWarm 1 is below the languages' minWarm together (2)") {
		t.Errorf("a budget below the minimums: %v", err)
	}
}

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
