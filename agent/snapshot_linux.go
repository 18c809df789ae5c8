package agent

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// snapshot keeps the working folder as it was after compiling, for the runs after the first, so
// that each test run starts from the same files and nothing one run writes is seen by the next.
//
// It lives in a memfd, as a tar stream. Not in a folder under /tmp: the program could change
// anything its user may write there (a test run once wrote a file into the snapshot folder and the
// next test found it). A memfd is reachable only through the descriptor of the agent, which
// the program (another user) cannot open. Not in the agent's heap either: a forked program's peak
// RSS starts at the agent's. It is taken and restored as the sandbox user (Sandbox.Do), who owns
// the files.
type snapshot struct {
	f *os.File
}

func takeSnapshot(dir string) (*snapshot, error) {
	fd, err := unix.MemfdCreate("codeexec-snapshot", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	s := &snapshot{f: os.NewFile(uintptr(fd), "codeexec-snapshot")}
	buf := bufio.NewWriterSize(s.f, 64<<10)
	tw := tar.NewWriter(buf)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch mode := info.Mode(); {
		case mode&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case mode.IsDir(), mode.IsRegular():
		default:
			return nil // fifos, sockets: not carried over
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uname, hdr.Gname = rel, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(tw, in)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// restore empties every place the program can write (scratch: /tmp, which holds the working
// folder, and /dev/shm), then puts the snapshot's files back in dir. Every process of the last
// run is dead by now (the agent killed and reaped them), so nothing races with it.
func (s *snapshot) restore(dir string, scratch []string) error {
	for _, top := range scratch {
		entries, err := os.ReadDir(top)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := removeAll(filepath.Join(top, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tr := tar.NewReader(bufio.NewReaderSize(s.f, 64<<10))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, hdr.Name)
		perm := hdr.FileInfo().Mode().Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, perm|0o700)
		case tar.TypeSymlink:
			err = os.Symlink(hdr.Linkname, target)
		case tar.TypeReg:
			var out *os.File
			out, err = os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
			if err == nil {
				_, err = io.Copy(out, tr)
				if cerr := out.Close(); err == nil {
					err = cerr
				}
			}
		}
		if err != nil {
			return err
		}
	}
}

// removeAll removes path and what it holds, also when the program left a folder that cannot be
// emptied as it is (mode 0500 or 0000): it runs as the program's user (Sandbox.Do), who owns
// them and so may open such folders up first.
func removeAll(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	openUp(path)
	return os.RemoveAll(path)
}

// openUp gives the agent full access to the folder at path and every folder under it. Links are
// not followed: Lstat and the entries' types describe the links themselves.
func openUp(path string) {
	if fi, err := os.Lstat(path); err != nil || !fi.IsDir() {
		return
	}
	_ = os.Chmod(path, 0o700)
	entries, _ := os.ReadDir(path)
	for _, e := range entries {
		if e.IsDir() {
			openUp(filepath.Join(path, e.Name()))
		}
	}
}

func (s *snapshot) close() {
	if s != nil && s.f != nil {
		s.f.Close()
	}
}
