package runner

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
languages:
  java:
    image: j
    source: Main.java
    compile: [javac, -d, ., "{sources}"]
    run: [java, -cp, ., "{entryBase}"]
    maxMemoryMb: 512
  python:
    image: p
    aliases: [py]
    source: main.py
    run: [python3, "{entry}"]
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestExpand(t *testing.T) {
	files := []File{{Name: "src/Util.java"}, {Name: "test.java", Entry: true}, {Name: "notes.txt"}, {Name: "-x.java"}}
	got := expand([]string{"javac", "-d", ".", "{sources}", "{entryBase}", "x{entry}"}, files[1], files)
	want := []string{"javac", "-d", ".", "test.java", "src/Util.java", "./-x.java", "test", "xtest.java"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestPlanValidation(t *testing.T) {
	cfg := testConfig(t)
	py := func(name string, entry bool) File { return File{Name: name, Content: []byte("x"), Entry: entry} }
	cases := []struct {
		name string
		req  Request
		err  string // "" = valid
	}{
		{"ok", Request{Language: "python", Files: []File{py("main.py", true)}}, ""},
		{"alias", Request{Language: "py", Files: []File{py("main.py", true)}}, ""},
		{"single file is its own entry", Request{Language: "python", Files: []File{py("a.py", false)}}, ""},
		{"no language", Request{Files: []File{py("main.py", true)}}, "language is required"},
		{"unknown language", Request{Language: "cobol", Files: []File{py("a", true)}}, "unknown language"},
		{"no files", Request{Language: "python"}, "code is required"},
		{"absolute", Request{Language: "python", Files: []File{py("/x.py", true)}}, "absolute"},
		{"dotdot", Request{Language: "python", Files: []File{py("a/../../x.py", true)}}, "'..'"},
		{"dot", Request{Language: "python", Files: []File{py(".", true)}}, "names no file"},
		{"control char", Request{Language: "python", Files: []File{py("a\nb.py", true)}}, "control character"},
		{"file is folder", Request{Language: "python", Files: []File{py("a", true), py("a/b.py", false)}}, "also used as a folder"},
		{"two entries", Request{Language: "python", Files: []File{py("a.py", true), py("b.py", true)}}, "exactly one"},
		{"no entry", Request{Language: "python", Files: []File{py("a.py", false), py("b.py", false)}}, "no entry point"},
		{"time above max", Request{Language: "python", Files: []File{py("a.py", true)}, TimeLimit: 15001 * time.Millisecond}, "above the maximum"},
		{"memory above max", Request{Language: "python", Files: []File{py("a.py", true)}, MemoryLimitBytes: 257 << 20}, "above the maximum"},
		{"memory below min", Request{Language: "java", Files: []File{py("Main.java", true)}, MemoryLimitBytes: 8 << 20}, "at least"},
		{"bad compare", Request{Language: "python", Files: []File{py("a.py", true)}, Compare: "fuzzy"}, "compare must be"},
		{"many args", Request{Language: "python", Files: []File{py("a.py", true)}, Args: make([]string, 1025)}, "the limits are 1024 arguments"},
		{"long args", Request{Language: "python", Files: []File{py("a.py", true)}, Args: []string{strings.Repeat("a", 64<<10)}}, "65537 bytes"},
		{"java entry that reads as an option", Request{Language: "java", Files: []File{py("-version.java", true)}}, "must not start with '-'"},
		{"python entry that starts with a dash", Request{Language: "python", Files: []File{py("-x.py", true)}}, ""},
		{"code as the single file", Request{Language: "python", Code: []byte("x")}, ""},
		{"code and files", Request{Language: "python", Code: []byte("x"), Files: []File{py("a.py", true)}}, "either code or files"},
		{"unnamed file", Request{Language: "python", Files: []File{{Content: []byte("x")}}}, "file name is empty"},
		{"args at the limits", Request{Language: "python", Files: []File{py("a.py", true)}, Args: []string{strings.Repeat("a", 64<<10-1)}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewPlan(cfg, &c.req)
			if c.err == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, new(*InputError)) {
				t.Fatalf("err = %v, want an InputError containing %q", err, c.err)
			}
		})
	}
}

func TestPlanLimits(t *testing.T) {
	p, err := NewPlan(testConfig(t), &Request{Language: "java", Files: []File{{Name: "test.java", Entry: true}},
		TimeLimit: 500 * time.Millisecond, MemoryLimitBytes: 300 << 20, Args: []string{"a b"},
		Tests: []Test{{Stdin: []byte("1")}, {Stdin: []byte("2")}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.MemoryBytes != 300<<20 || p.PoolMemoryBytes != 256<<20 {
		t.Errorf("memory %d, pool's %d", p.MemoryBytes, p.PoolMemoryBytes)
	}
	if len(p.Job.Runs) != 2 || string(p.Job.Runs[1].Stdin) != "2" || len(p.Tests) != 2 {
		t.Fatalf("runs: %+v, tests %d", p.Job.Runs, len(p.Tests))
	}
	run := p.Job.Runs[0]
	// Wall limit = CPU limit * 1.5 + 200 ms by default: 1 s of sleep under 500 ms is stopped.
	if run.CPULimit != 500*time.Millisecond || run.WallLimit != 950*time.Millisecond {
		t.Errorf("limits cpu=%v wall=%v", run.CPULimit, run.WallLimit)
	}
	if want := []string{"java", "-cp", ".", "test", "a b"}; !reflect.DeepEqual(run.Argv, want) {
		t.Errorf("argv %q", run.Argv)
	}
	if p.Job.Compile == nil || p.Job.Compile.Argv[3] != "test.java" {
		t.Errorf("compile %+v", p.Job.Compile)
	}
	if p.Language != "java" || p.Entry != "test.java" || p.JobID == "" || p.Compare != "trim" {
		t.Errorf("plan %+v", p)
	}
}

// A plan travels between processes as JSON: nothing may be lost on the way.
func TestPlanRoundTripsAsJSON(t *testing.T) {
	exp := "1"
	p, err := NewPlan(testConfig(t), &Request{Language: "py", Code: []byte("print(1)"),
		Stdin: []byte{0xff, 0}, TimeLimit: time.Second, Tests: []Test{{Stdin: []byte("x"), Expected: &exp}, {}}, Save: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*p, back) {
		t.Fatalf("after a JSON round trip:\n%+v\nwant\n%+v", back, *p)
	}
	if p.Job.Files[0].Path != "main.py" {
		t.Errorf("an unnamed single file is named %q, want the language's main.py", p.Job.Files[0].Path)
	}
}

func TestSame(t *testing.T) {
	cases := []struct {
		mode, got, want string
		same            bool
	}{
		{"trim", "1 2\n3\n", "1 2\n3", true},
		{"trim", "1 2  \r\n3\n\n\n", "1 2\n3\n", true},
		{"trim", "1 2\n3\n", "1 2\n4\n", false},
		{"trim", " 1\n", "1\n", false}, // leading space matters
		{"trim", "", "\n", true},
		{"exact", "1\n", "1", false},
		{"exact", "1\n", "1\n", true},
	}
	for _, c := range cases {
		if got := Same(c.mode, []byte(c.got), []byte(c.want)); got != c.same {
			t.Errorf("Same(%s, %q, %q) = %v", c.mode, c.got, c.want, got)
		}
	}
}

// A request whose steps' wall limits add up past server.maxTotalLimitMs is refused, naming the
// cap; plans of several runs, and batch entries, are heavy.
func TestTotalLimitAndClass(t *testing.T) {
	cfg := testConfig(t)
	tests := make([]Test, 100)
	_, err := NewPlan(cfg, &Request{Language: "python", Code: []byte("x"), Tests: tests, TimeLimit: 15 * time.Second})
	var in *InputError
	if !errors.As(err, &in) || !strings.Contains(in.Msg, "server.maxTotalLimitMs") {
		t.Fatalf("100 tests of 15 s: %v", err)
	}
	p, err := NewPlan(cfg, &Request{Language: "python", Code: []byte("x"), Tests: tests[:2]})
	if err != nil || !p.Heavy() {
		t.Fatalf("2 tests: heavy %v, %v", p != nil && p.Heavy(), err)
	}
	p, err = NewPlan(cfg, &Request{Language: "python", Code: []byte("x")})
	if err != nil || p.Heavy() {
		t.Fatalf("one run: heavy %v, %v", p != nil && p.Heavy(), err)
	}
	p, err = NewPlan(cfg, &Request{Language: "python", Code: []byte("x"), Batch: true})
	if err != nil || !p.Heavy() {
		t.Fatalf("batch entry: heavy %v, %v", p != nil && p.Heavy(), err)
	}
	if err := CheckTotalLimit(cfg, 601*time.Second); err == nil {
		t.Fatal("601 s passed the default cap of 600 s")
	}
}
