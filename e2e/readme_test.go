//go:build integration

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeExample is a ```sh block of README.md that calls the server, and the ```json block that
// follows it, if any (the documented answer).
type readmeExample struct {
	line   int
	script string
	answer string
}

func readmeExamples(t *testing.T) []readmeExample {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeExample
	lines := strings.Split(string(raw), "\n")
	block := func(i int) (string, int) { // the fenced block starting at line i; returns the line after it
		var b strings.Builder
		j := i + 1
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
			b.WriteString(lines[j] + "\n")
		}
		return b.String(), j + 1
	}
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```sh" {
			continue
		}
		script, next := block(i)
		if !strings.Contains(script, "curl") || !strings.Contains(script, "localhost:3000") {
			i = next - 1
			continue
		}
		ex := readmeExample{line: i + 1, script: script}
		if next < len(lines) && lines[next] == "```json" {
			ex.answer, next = block(next)
		}
		out = append(out, ex)
		i = next - 1
	}
	return out
}

// Values that change from run to run are not compared.
var volatileKeys = map[string]bool{
	"jobId": true, "wallTimeMs": true, "cpuTimeMs": true, "memoryBytes": true, "executionTime": true,
	"memoryUsage": true, "cpuUsage": true, "cpu_time": true, "wall_time": true, "memory": true,
}

// documentedPairs are the "key": scalar members written out in a documented answer (those with
// an elision … are left out).
func documentedPairs(answer string) [][2]string {
	re := regexp.MustCompile(`"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?[0-9.]+|true|false|null)`)
	var out [][2]string
	for _, m := range re.FindAllStringSubmatch(answer, -1) {
		if volatileKeys[m[1]] || strings.Contains(m[2], "…") {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
			continue
		}
		canon, _ := json.Marshal(v)
		out = append(out, [2]string{m[1], string(canon)})
	}
	return out
}

// scalarPairs collects every "key": scalar member anywhere in a decoded JSON value.
func scalarPairs(v any, into map[[2]string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				scalarPairs(e, into)
			default:
				canon, _ := json.Marshal(e)
				into[[2]string{k, string(canon)}] = true
			}
		}
	case []any:
		for _, e := range x {
			scalarPairs(e, into)
		}
	}
}

// Every curl example of the README, run as written (but for the port) against a server with the
// repository's config: each answers, and each documented answer's fixed values are what the
// server says. The per-language examples all print hello.
func TestReadmeExamples(t *testing.T) {
	examples := readmeExamples(t)
	if len(examples) < 6 {
		t.Fatalf("found %d curl examples in README.md; the parser is broken", len(examples))
	}
	s := StartServer(t, ServerOptions{})
	addr := strings.TrimPrefix(s.URL, "http://")
	for _, ex := range examples {
		t.Run(fmt.Sprintf("line %d", ex.line), func(t *testing.T) {
			script := strings.ReplaceAll(ex.script, "localhost:3000", addr)
			cmd := exec.Command("bash", "-e", "-c", script)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %s\n%s", err, stderr.String(), script)
			}
			answers, calls := readmeAnswers(t, out)
			if want := strings.Count(script, "curl "); calls != want {
				t.Fatalf("%d answers from %d curl calls: %s", calls, want, out)
			}
			got := map[[2]string]bool{}
			for _, a := range answers {
				if ok, has := a["succeeded"]; has && ok != true {
					t.Errorf("failed: %v", a)
				}
				if run, piston := a["run"].(map[string]any); piston && run["code"] != float64(0) {
					t.Errorf("Piston run failed: %v", a)
				}
				scalarPairs(a, got)
			}
			for _, p := range documentedPairs(ex.answer) {
				if !got[p] {
					t.Errorf("README documents \"%s\": %s; the server answered %s", p[0], p[1], out)
				}
			}
			if strings.Contains(script, `"hello\"`) && strings.Count(script, "curl ") == 6 {
				for _, a := range answers {
					r, _ := a["result"].(map[string]any)
					if r["stdout"] != "hello\n" || r["status"] != "ok" {
						t.Errorf("%s: %v", r["language"], a)
					}
				}
			}
		})
	}
}

// readmeAnswers decodes what an example printed: JSON answers, or an event stream (Accept:
// text/event-stream), whose events' data are the answers and whose result events end one call.
func readmeAnswers(t *testing.T, out []byte) (answers []map[string]any, calls int) {
	t.Helper()
	if !bytes.HasPrefix(out, []byte("event: ")) {
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var v map[string]any
			if err := dec.Decode(&v); err == io.EOF {
				return answers, len(answers)
			} else if err != nil {
				t.Fatalf("answer is not JSON: %v: %s", err, out)
			}
			answers = append(answers, v)
		}
	}
	stdout := ""
	for _, line := range strings.Split(string(out), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("event data is not JSON: %v: %s", err, line)
		}
		answers = append(answers, v)
		switch v["type"] {
		case "stdout":
			stdout += v["data"].(string)
		case "result":
			calls++
			if r, _ := v["result"].(map[string]any); r["stdout"] != stdout || stdout == "" {
				t.Errorf("the streamed stdout %q is not the result's %v", stdout, r["stdout"])
			}
			stdout = ""
		}
	}
	return answers, calls
}
