package judge0

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/codeexec/codeexec/runner"
)

// unzipFiles unpacks additional_files, which Judge0 unzips into the program's folder. Folders
// are implied by the files' names; links and special files are refused; at most maxFiles files
// and maxBytes bytes in all, counted as they are read (a zip bomb's headers may lie). The names
// are checked by the runner's planning like any submitted file's.
func unzipFiles(archive []byte, maxFiles int, maxBytes int64) ([]runner.File, error) {
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		return nil, fmt.Errorf("is not a zip archive: %v", err)
	}
	var files []runner.File
	var total int64
	for _, f := range zr.File {
		mode := f.Mode()
		switch {
		case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
			continue
		case !mode.IsRegular():
			return nil, fmt.Errorf("%s: only regular files are unpacked, not links or special files", f.Name)
		}
		if len(files) == maxFiles {
			return nil, fmt.Errorf("holds more than %d files", maxFiles)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.Name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxBytes-total+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.Name, err)
		}
		total += int64(len(b))
		if total > maxBytes {
			return nil, fmt.Errorf("unpacks to more than %d bytes (the sandbox's folder)", maxBytes)
		}
		files = append(files, runner.File{Name: f.Name, Content: b})
	}
	return files, nil
}
