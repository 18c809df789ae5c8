package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// tree describes every entry under dir: type, permissions, and content or link target.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %q", b)
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	scratch := t.TempDir()
	box := filepath.Join(scratch, "box")
	must(t, os.MkdirAll(filepath.Join(box, "sub", "deep"), 0o755))
	must(t, os.MkdirAll(filepath.Join(box, "empty"), 0o755))
	must(t, os.WriteFile(filepath.Join(box, "a.txt"), []byte("A"), 0o644))
	must(t, os.WriteFile(filepath.Join(box, "prog"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(box, "sub", "deep", "b.txt"), []byte("B"), 0o644))
	must(t, os.Symlink("a.txt", filepath.Join(box, "link")))
	want := tree(t, box)

	snap, err := takeSnapshot(box)
	must(t, err)
	defer snap.close()

	// What a run may do: change, remove and add files, add files next to the box, lock folders.
	must(t, os.WriteFile(filepath.Join(box, "a.txt"), []byte("changed"), 0o644))
	must(t, os.Remove(filepath.Join(box, "sub", "deep", "b.txt")))
	must(t, os.WriteFile(filepath.Join(box, "new.txt"), []byte("new"), 0o644))
	must(t, os.WriteFile(filepath.Join(scratch, "outside"), []byte("x"), 0o644))
	must(t, os.Remove(filepath.Join(box, "link")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(box, "link")))
	for _, locked := range []struct {
		path string
		mode os.FileMode
	}{{"locked", 0o500}, {"sealed", 0o000}, {"sub", 0o500}} {
		p := filepath.Join(box, locked.path)
		must(t, os.MkdirAll(filepath.Join(p, "inner"), 0o755))
		must(t, os.WriteFile(filepath.Join(p, "inner", "f"), []byte("f"), 0o644))
		must(t, os.Chmod(p, locked.mode))
	}
	must(t, os.Chmod(box, 0o500))

	must(t, snap.restore(box, []string{scratch}))
	if got := tree(t, box); !reflect.DeepEqual(got, want) {
		t.Errorf("restored\n%v\nwant\n%v", got, want)
	}
	if _, err := os.Lstat(filepath.Join(scratch, "outside")); !os.IsNotExist(err) {
		t.Errorf("a file next to the box survived: %v", err)
	}

	// A second restore from the same snapshot gives the same files.
	must(t, os.WriteFile(filepath.Join(box, "again"), []byte("x"), 0o644))
	must(t, snap.restore(box, []string{scratch}))
	if got := tree(t, box); !reflect.DeepEqual(got, want) {
		t.Errorf("second restore\n%v\nwant\n%v", got, want)
	}
}

// openUp makes locked folders removable for a user bound by permissions (root is not, so this
// checks the modes openUp leaves).
func TestOpenUp(t *testing.T) {
	dir := t.TempDir()
	top, elsewhere := filepath.Join(dir, "top"), filepath.Join(dir, "elsewhere")
	must(t, os.MkdirAll(filepath.Join(top, "sealed", "inner"), 0o755))
	must(t, os.Mkdir(elsewhere, 0o755))
	must(t, os.Chmod(elsewhere, 0o755))
	must(t, os.Symlink(elsewhere, filepath.Join(top, "link")))
	must(t, os.Chmod(filepath.Join(top, "sealed", "inner"), 0o000))
	must(t, os.Chmod(filepath.Join(top, "sealed"), 0o000))
	must(t, os.Chmod(top, 0o500))
	openUp(top)
	for _, p := range []string{top, filepath.Join(top, "sealed"), filepath.Join(top, "sealed", "inner")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v", p, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(elsewhere); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("openUp followed a link: %v, %v", fi.Mode(), err)
	}
	must(t, removeAll(top))
}
