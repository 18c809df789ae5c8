package main

import (
	"os"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/config"
)

// The README's table of languages is what config.yaml says (the versions come from the images,
// which e2e's TestLanguageExamples compares with the server's answers).
func TestReadmeTableMatchesConfig(t *testing.T) {
	cfg, err := config.Load("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := TableVersions(doc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Replace(doc, Table(cfg, versions))
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(doc) {
		t.Errorf("README.md's table of languages differs from config.yaml: run `go run ./tools/languages`")
	}
	for _, name := range cfg.LanguageNames() {
		if versions[name] == "" {
			t.Errorf("README.md shows no version for %s: build its image and run `go run ./tools/languages`", name)
		}
	}
}

func TestTableRowsAndMarkers(t *testing.T) {
	cfg, err := config.Parse([]byte(`
languages:
  x:
    image: codeexec/x
    judge0Ids: [7]
    aliases: [y]
    source: main.x
    compile: [sh, -c, 'a "$0" | b', "{entry}"]
    run: [./prog]
`))
	if err != nil {
		t.Fatal(err)
	}
	table := Table(cfg, map[string]string{"x": "1.2.3"})
	row := "| `x` | `y` | 1.2.3 | 7 | `main.x` | `sh -c 'a \"$0\" \\| b' {entry}` | `./prog` | 256 / 256 | 1 | 3000 / 15000 | 2 / 2 |"
	if !strings.Contains(table, row+"\n") {
		t.Errorf("table:\n%s\nwant the row\n%s", table, row)
	}
	doc := []byte("before\n" + beginMarker + "\nold\n" + endMarker + "\nafter\n")
	out, err := Replace(doc, table)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := TableVersions(out); v["x"] != "1.2.3" {
		t.Errorf("versions read back: %v", v)
	}
	if !strings.HasPrefix(string(out), "before\n") || !strings.HasSuffix(string(out), endMarker+"\nafter\n") {
		t.Errorf("replace:\n%s", out)
	}
	if _, err := Replace([]byte("no markers"), table); err == nil {
		t.Error("a file without markers: want an error")
	}
}
