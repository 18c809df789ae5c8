//go:build integration

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/config"
)

// The examples beside each image definition: images/<image>/examples/<language>/<kind>.<ext>.
// The kind says what the program must do:
//   - hello: print "Hello, World!" (every language has one);
//   - echo: print the first line of its stdin (exampleStdin);
//   - a status (compile_error, runtime_error, memory_limit_exceeded): end with that status,
//     a compile error with the compiler's message, a runtime error with a non-zero exit code.
//
// A language added to config.yaml is tested here without a change to this file.
const (
	exampleHello = "Hello, World!"
	exampleStdin = "CodeExec echoes this line\n"
)

type example struct {
	lang, kind, path, code string
}

// languageExamples lists every configured language's examples (LANGUAGES=a,b limits them);
// a language without a hello example is an error.
func languageExamples(t *testing.T) (langs []string, examples []example) {
	t.Helper()
	cfg, err := config.Load(filepath.Join(repoRoot, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if only := os.Getenv("LANGUAGES"); only != "" {
		if err := cfg.Only(strings.Split(only, ",")); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range cfg.LanguageNames() {
		dir := filepath.Join(repoRoot, "images", strings.TrimPrefix(cfg.Languages[name].Image, "codeexec/"), "examples", name)
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		hello := false
		for _, f := range files {
			kind := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			hello = hello || kind == "hello"
			examples = append(examples, example{lang: name, kind: kind, path: f, code: string(b)})
		}
		if !hello {
			t.Errorf("%s: no hello example in %s", name, dir)
		}
		langs = append(langs, name)
	}
	return langs, examples
}

// TestLanguageExamples runs every configured language's examples through /api/v1/execute and
// /api/v2/execute on one server, and checks that each language reports the version its image
// was built with.
func TestLanguageExamples(t *testing.T) {
	start := time.Now()
	langs, examples := languageExamples(t)
	s := StartServer(t, ServerOptions{Languages: langs, PoolSize: 1, Edit: func(cfg map[string]any) {
		// Compiles of the JVM languages take seconds each: requests queue rather than fail.
		cfg["server"].(map[string]any)["queueWaitMs"] = 300000
		cfg["pool"].(map[string]any)["claimWaitMs"] = 120000
	}})
	t.Logf("server ready with %d languages in %v", len(langs), time.Since(start).Round(time.Millisecond))

	listed := s.Get(t, "/api/v1/languages")
	t.Run("versions", func(t *testing.T) {
		checkVersions(t, listed.Raw, langs)
	})

	// As many requests at once as the server runs; each example's two dialects run one after
	// the other so that both take a fresh container of the same pool. A memory bomb gets its
	// language's longest time limit: four examples share this machine's CPUs, and what is checked
	// is that memory ends it, not how soon the CPU lets it get there.
	longest := longestTimeLimits(t, s)
	runExamples(t, examples, 4, func(ex example) (string, []string) {
		var v1, v2 map[string]any
		if ex.kind == "memory_limit_exceeded" {
			v1 = map[string]any{"timeLimitMs": longest[ex.lang]}
			v2 = map[string]any{"run_timeout": longest[ex.lang]}
		}
		return ex.kind, append(runV1(s, ex, v1), runV2(s, ex, v2)...)
	})
	t.Logf("%d examples of %d languages, each through v1 and v2, in %v", len(examples), len(langs), time.Since(start).Round(time.Millisecond))
}

// runExamples runs the examples, that many at a time, and then reports each as a subtest
// named language/name with the errors run found.
func runExamples(t *testing.T, examples []example, atOnce int, run func(example) (name string, errs []string)) {
	var wg sync.WaitGroup
	work := make(chan example)
	results := make(chan func(*testing.T), len(examples))
	for i := 0; i < atOnce; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ex := range work {
				name, errs := run(ex)
				results <- func(t *testing.T) {
					t.Run(ex.lang+"/"+name, func(t *testing.T) {
						for _, msg := range errs {
							t.Error(msg)
						}
					})
				}
			}
		}()
	}
	for _, ex := range examples {
		work <- ex
	}
	close(work)
	wg.Wait()
	close(results)
	for check := range results {
		check(t)
	}
}

func checkVersions(t *testing.T, raw []byte, langs []string) {
	var list []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("GET /api/v1/languages: %v: %s", err, raw)
	}
	got := map[string]string{}
	for _, l := range list {
		got[l.Name] = l.Version
	}
	for _, name := range langs {
		v := got[name]
		if v == "" || !strings.ContainsAny(v[:1], "0123456789") {
			t.Errorf("%s: version %q: want the toolchain's version from its image label", name, v)
		}
	}
}

// body is an example's request in the dialect ("v1" or "v2"), with the extra fields.
func body(ex example, dialect string, extra map[string]any) map[string]any {
	b := map[string]any{"language": ex.lang}
	if dialect == "v1" {
		b["code"] = ex.code
	} else {
		b["version"] = "*"
		b["files"] = []map[string]any{{"content": ex.code}}
	}
	if ex.kind == "echo" {
		b["stdin"] = exampleStdin
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// runV1 runs an example through /api/v1/execute, with the extra request fields, and returns what
// is wrong with the answer.
func runV1(s *Server, ex example, extra map[string]any) []string {
	r := post(s, "/api/v1/execute", body(ex, "v1", extra))
	if r.err != "" {
		return []string{"v1: " + r.err}
	}
	res, _ := r.body["result"].(map[string]any)
	str := func(k string) string { v, _ := res[k].(string); return v }
	num := func(k string) float64 { v, _ := res[k].(float64); return v }
	return judge("v1", ex, str("status"), str("stdout"), str("compileOutput"), num("exitCode"), r.raw)
}

// longestTimeLimits are the languages' longest time limits (ms), as the server lists them.
func longestTimeLimits(t *testing.T, s *Server) map[string]any {
	longest := map[string]any{}
	for _, l := range parseArray(t, s.Get(t, "/api/v1/languages").Raw) {
		longest[l["name"].(string)] = l["maxTimeLimitMs"]
	}
	return longest
}

// runV2 runs an example through Piston's /api/v2/execute, with the extra request fields, and
// returns what is wrong.
func runV2(s *Server, ex example, extra map[string]any) []string {
	r := post(s, "/api/v2/execute", body(ex, "v2", extra))
	if r.err != "" {
		return []string{"v2: " + r.err}
	}
	stage := func(name string) map[string]any { m, _ := r.body[name].(map[string]any); return m }
	run, compile := stage("run"), stage("compile")
	status := "ok"
	var stdout, compileOut string
	var code float64
	switch {
	case compile != nil && run == nil:
		status = "compile_error"
		compileOut = fmt.Sprint(compile["stdout"], compile["stderr"])
	case run == nil:
		return []string{fmt.Sprintf("v2: no run stage: %s", r.raw)}
	default:
		stdout, _ = run["stdout"].(string)
		code, _ = run["code"].(float64)
		msg, _ := run["message"].(string)
		switch st, _ := run["status"].(string); {
		case msg == "Memory limit exceeded":
			status = "memory_limit_exceeded"
		case st == "RE" || st == "SG":
			status = "runtime_error"
		case st == "TO":
			status = "time_limit_exceeded"
		case st != "":
			status = st
		}
	}
	return judge("v2", ex, status, stdout, compileOut, code, r.raw)
}

// judge checks one answer against what the example's kind promises.
func judge(dialect string, ex example, status, stdout, compileOut string, exitCode float64, raw []byte) []string {
	var errs []string
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Sprintf("%s %s: ", dialect, filepath.Base(ex.path))+fmt.Sprintf(format, a...)+"\n"+string(raw))
	}
	switch ex.kind {
	case "hello":
		if status != "ok" || strings.TrimSpace(stdout) != exampleHello {
			bad("want ok and %q", exampleHello)
		}
	case "echo":
		if status != "ok" || strings.TrimSpace(stdout) != strings.TrimSpace(exampleStdin) {
			bad("want ok and stdin echoed")
		}
	case "compile_error":
		if status != "compile_error" || strings.TrimSpace(compileOut) == "" {
			bad("want compile_error with the compiler's message")
		}
	case "runtime_error":
		if status != "runtime_error" || exitCode == 0 && dialect == "v1" {
			bad("want runtime_error with a non-zero exit code")
		}
	case "memory_limit_exceeded", "time_limit_exceeded":
		if status != ex.kind {
			bad("want %s", ex.kind)
		}
	default:
		bad("unknown example kind %q (hello, echo, compile_error, runtime_error, memory_limit_exceeded)", ex.kind)
	}
	return errs
}

type answer struct {
	body map[string]any
	raw  []byte
	err  string
}

// post is Server.Post for use off the test's goroutine: it returns failures instead of
// stopping the test.
func post(s *Server, path string, b map[string]any) answer {
	j, err := json.Marshal(b)
	if err != nil {
		return answer{err: err.Error()}
	}
	resp, err := http.Post(s.URL+path, "application/json", bytes.NewReader(j))
	if err != nil {
		return answer{err: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: err.Error()}
	}
	if resp.StatusCode != 200 {
		return answer{raw: raw, err: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, raw)}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return answer{raw: raw, err: fmt.Sprintf("%v: %s", err, raw)}
	}
	return answer{body: m, raw: raw}
}
