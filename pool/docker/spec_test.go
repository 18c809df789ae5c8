package docker

import (
	"slices"
	"testing"

	"github.com/codeexec/codeexec/config"
)

// The agent looks up, at warm-up, the programs a language's steps start by name; a path or a
// placeholder is nothing to look up.
func TestPrograms(t *testing.T) {
	for _, c := range []struct {
		l    *config.Language
		want []string
	}{
		{&config.Language{Run: []string{"python3", "{entry}"}}, []string{"python3"}},
		{&config.Language{Compile: []string{"g++", "-o", ".prog", "{sources}"}, Run: []string{"./.prog"}}, []string{"g++"}},
		{&config.Language{Compile: []string{"javac", "{sources}"}, Run: []string{"java", "Main"}}, []string{"javac", "java"}},
		{&config.Language{Compile: []string{"sh", "-c", "x"}, Run: []string{"sh", "-c", "y"}}, []string{"sh"}},
		{&config.Language{Run: []string{"{entry}"}}, nil},
	} {
		if got := programs(c.l); !slices.Equal(got, c.want) {
			t.Errorf("programs(compile %q, run %q) = %q, want %q", c.l.Compile, c.l.Run, got, c.want)
		}
	}
}

// A language's CPUs are capped at the host's: the engine refuses a larger quota.
func TestCPUQuotaAtMostTheHosts(t *testing.T) {
	for _, c := range []struct{ host, lang, want float64 }{
		{0, 2, 2}, // the engine not asked yet
		{1, 2, 1},
		{2, 2, 2},
		{4, 1, 1},
		{1, 0.5, 0.5},
	} {
		d := &Docker{cpus: c.host}
		if got := d.cpuQuota(&config.Language{CPUs: c.lang}); got != c.want {
			t.Errorf("host %v CPUs, language %v: quota %v, want %v", c.host, c.lang, got, c.want)
		}
	}
}
