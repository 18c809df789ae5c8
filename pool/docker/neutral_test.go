package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNeutralCopy(t *testing.T) {
	src := filepath.Join(t.TempDir(), "codeexec-agent")
	if err := os.WriteFile(src, []byte("agent v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	shelf := t.TempDir()
	p, err := neutralCopy(src, shelf)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "agent v1" {
		t.Fatalf("copy %s holds %q (%v)", p, b, err)
	}
	rel, _ := filepath.Rel(shelf, p)
	if strings.Contains(rel, "tmp") || !strings.HasPrefix(rel, "codeexec-") || filepath.Base(p) != "agent" {
		t.Fatalf("copy at %s: its path under the shelf must name only the build", rel)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o755 {
		t.Fatalf("copy mode %v", fi.Mode())
	}
	// The same build lands on the same path; another build on another.
	if again, err := neutralCopy(src, shelf); err != nil || again != p {
		t.Fatalf("second copy %s (%v), want %s", again, err, p)
	}
	if err := os.WriteFile(src, []byte("agent v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if other, err := neutralCopy(src, shelf); err != nil || other == p {
		t.Fatalf("another build copied to %s (%v)", other, err)
	}
	// A folder of that name that others may write is refused.
	if err := os.Chmod(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("agent v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := neutralCopy(src, shelf); err == nil {
		t.Fatal("a world-writable folder was accepted")
	}
}
