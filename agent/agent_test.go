package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/agentproto"
)

func TestSafeJoin(t *testing.T) {
	dir := "/tmp/box"
	ok := map[string]string{
		"a.c":         "/tmp/box/a.c",
		"sub/a.c":     "/tmp/box/sub/a.c",
		"./a.c":       "/tmp/box/a.c",
		"sub/../a.c":  "/tmp/box/a.c",
		"a//b":        "/tmp/box/a/b",
		"..a":         "/tmp/box/..a",
		"sub/..a/b.c": "/tmp/box/sub/..a/b.c",
	}
	for p, want := range ok {
		if got, err := safeJoin(dir, p); err != nil || got != want {
			t.Errorf("safeJoin(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{"", ".", "..", "../x", "a/../../x", "sub/..", "/etc/passwd", "a\x00b"} {
		if got, err := safeJoin(dir, p); err == nil {
			t.Errorf("safeJoin(%q) = %q, want an error", p, got)
		}
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	early, late := filepath.Join(dir, "early"), filepath.Join(dir, "late")
	for _, d := range []string{early, late, filepath.Join(early, "folder")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(early, "tool"), 0o644) // not executable: skipped
	write(filepath.Join(late, "tool"), 0o755)
	write(filepath.Join(late, "folder"), 0o755) // early/folder is a folder: skipped
	env := []string{"HOME=/", "PATH=" + early + ":" + late}

	cases := []struct{ name, want string }{
		{"/bin/sh", "/bin/sh"},
		{"./prog", "/work/box/prog"},
		{"bin/prog", "/work/box/bin/prog"},
		{"tool", filepath.Join(late, "tool")},
		{"folder", filepath.Join(late, "folder")},
	}
	for _, c := range cases {
		if got, err := lookPath(c.name, env, "/work/box"); err != nil || got != c.want {
			t.Errorf("lookPath(%q) = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := lookPath("nope", env, "/work/box"); err == nil || err.Error() != "nope: command not found" {
		t.Errorf("lookPath(nope) error = %v", err)
	}
	// Without PATH, the usual folders.
	if got, err := lookPath("sh", nil, "/work/box"); err != nil || !strings.HasSuffix(got, "/sh") {
		t.Errorf("lookPath(sh) without PATH = %q, %v", got, err)
	}
}

func TestKeyedValue(t *testing.T) {
	f := filepath.Join(t.TempDir(), "cpu.stat")
	if err := os.WriteFile(f, []byte("usage_usec 1500\nuser_usec 7\nthree fields here\noom_kill x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, ok := keyedValue(f, "usage_usec"); !ok || v != 1500 {
		t.Errorf("usage_usec = %d, %v", v, ok)
	}
	if v, ok := keyedValue(f, "user_usec"); !ok || v != 7 {
		t.Errorf("user_usec = %d, %v", v, ok)
	}
	for _, key := range []string{"three", "oom_kill", "missing"} {
		if v, ok := keyedValue(f, key); ok {
			t.Errorf("%s = %d, want none", key, v)
		}
	}
	if _, ok := keyedValue(f+".missing", "usage_usec"); ok {
		t.Error("a missing file has a value")
	}

	defer func(old string) { cpuStatV2 = old }(cpuStatV2)
	cpuStatV2 = f
	if d, ok := cgroupCPU(); !ok || d.Microseconds() != 1500 {
		t.Errorf("cgroupCPU() = %v, %v", d, ok)
	}
}

func TestErrorText(t *testing.T) {
	long := "x" + strings.Repeat("é", agentproto.MaxErrorText) // cut inside a rune
	got := ErrorText(&startError{msg: long})
	if len(got) > agentproto.MaxErrorText || !strings.HasPrefix(long, got) || got == "" {
		t.Errorf("ErrorText of a long error has %d bytes", len(got))
	}
}

func TestBadFilePath(t *testing.T) {
	evs := runJob(t, &agentproto.Job{
		Files: []agentproto.File{{Path: "../escape", Content: []byte("x")}},
		Runs:  []agentproto.Step{run("true")},
	})
	steps, done := parse(t, evs)
	if len(steps) != 0 || !strings.Contains(done.Error, "invalid file name") {
		t.Errorf("steps %d, done %+v", len(steps), done)
	}
}

func TestFailedToStart(t *testing.T) {
	s := oneStep(t, run("no-such-command-here"))
	if s.res.Outcome != agentproto.FailedToStart || s.res.ExitCode != 127 {
		t.Errorf("result %+v", s.res)
	}
	if s.stderr != "no-such-command-here: command not found\n" {
		t.Errorf("stderr %q", s.stderr)
	}
	s = oneStep(t, run())
	if s.res.Outcome != agentproto.FailedToStart || s.stderr != "no command" {
		t.Errorf("result %+v, stderr %q", s.res, s.stderr)
	}
}

func TestCompileFailureStopsTheJob(t *testing.T) {
	compile := run(sh("echo broken >&2; exit 3")...)
	compile.Name = "compile"
	steps, done := parse(t, runJob(t, &agentproto.Job{Compile: &compile, Runs: []agentproto.Step{run("true")}}))
	if done.Error != "" || len(steps) != 1 {
		t.Fatalf("steps %d, done %+v", len(steps), done)
	}
	c := steps[0]
	if c.started != (agentproto.StepStarted{Name: "compile", Index: 0}) || c.res.ExitCode != 3 || c.stderr != "broken\n" {
		t.Errorf("compile step %+v", c)
	}
}

// Each run starts from the files as they were after compiling; StopOnFailure ends the job at
// the first failing run.
func TestRunsStartFromTheCompiledFiles(t *testing.T) {
	compile := run(sh("echo built > out")...)
	compile.Name = "compile"
	job := &agentproto.Job{
		Files:   []agentproto.File{{Path: "f", Content: []byte("orig\n")}},
		Compile: &compile,
		Runs: []agentproto.Step{
			run(sh("cat f out; echo changed > f; rm out; touch new; mkdir locked; touch locked/x; chmod 500 locked")...),
			run(sh("cat f out; ls")...),
			run(sh("exit 2")...),
			run("true"),
		},
		StopOnFailure: true,
	}
	steps, done := parse(t, runJob(t, job))
	if done.Error != "" || len(steps) != 4 {
		t.Fatalf("steps %d, done %+v", len(steps), done)
	}
	for i, want := range []string{"", "orig\nbuilt\n", "orig\nbuilt\nf\nout\n", ""} {
		if steps[i].stdout != want || steps[i].stderr != "" {
			t.Errorf("step %d: stdout %q, stderr %q; want stdout %q", i, steps[i].stdout, steps[i].stderr, want)
		}
	}
	for i, s := range steps[1:] {
		if s.started != (agentproto.StepStarted{Name: "run", Index: i}) {
			t.Errorf("run %d started as %+v", i, s.started)
		}
	}
	if steps[3].res.ExitCode != 2 {
		t.Errorf("the failing run: %+v", steps[3].res)
	}
}
