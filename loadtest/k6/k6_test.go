// Package k6 holds the k6 load-test scripts (smoke.js, load.js, spike.js). k6 is not installed
// here (license), so this test checks what can be checked without it: the scripts parse as ES
// modules (node --check), import only k6 modules and the shared lib, and carry thresholds on p95
// latency and error rate. The e2e suite posts bodies.json to a live server.
package k6

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

var scripts = []string{"lib.js", "smoke.js", "load.js", "spike.js"}

func TestScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install nodejs (apt-get install nodejs), as .ci/run does")
	}
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			src, err := os.ReadFile(s)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(node, "--input-type=module", "--check")
			cmd.Stdin = strings.NewReader(string(src))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("node --check %s: %v\n%s", s, err, out)
			}
			imports := regexp.MustCompile(`(?m)^import .* from '([^']+)';`).FindAllStringSubmatch(string(src), -1)
			for _, m := range imports {
				if m[1] != "./lib.js" && m[1] != "k6" && !strings.HasPrefix(m[1], "k6/") {
					t.Errorf("%s imports %s: k6 scripts can import k6 modules and ./lib.js only", s, m[1])
				}
			}
			if s != "lib.js" {
				if !strings.Contains(string(src), "export const options") || !strings.Contains(string(src), "thresholds: thresholds(") {
					t.Errorf("%s has no options with the shared thresholds", s)
				}
				if !strings.Contains(string(src), "export default function") {
					t.Errorf("%s has no default function", s)
				}
			}
		})
	}
	lib, err := os.ReadFile("lib.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"http_req_failed", "p(95)<"} {
		if !strings.Contains(string(lib), want) {
			t.Errorf("lib.js thresholds lack %s", want)
		}
	}
	// A broken script must fail the check, or the check proves nothing.
	cmd := exec.Command(node, "--input-type=module", "--check")
	cmd.Stdin = strings.NewReader("export const options = {;")
	if err := cmd.Run(); err == nil {
		t.Fatal("node --check accepted a syntax error")
	}
}

// Bodies is loadtest/k6/bodies.json, which the scripts send.
type Bodies struct {
	Execute []map[string]any `json:"execute"`
	Batch   map[string]any   `json:"batch"`
}

func TestBodiesParse(t *testing.T) {
	raw, err := os.ReadFile("bodies.json")
	if err != nil {
		t.Fatal(err)
	}
	var b Bodies
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Execute) == 0 || b.Batch["submissions"] == nil {
		t.Fatal("bodies.json needs execute bodies and a batch")
	}
}
