//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// notRegular makes the inputs that are not regular files (a directory, a
// FIFO, /dev/zero) and returns each with what its error says.
func notRegular(t *testing.T) map[string]string {
	dir := t.TempDir()
	files := map[string]string{dir: "a directory"}
	if _, err := os.Stat("/dev/zero"); err == nil {
		files["/dev/zero"] = "a device"
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err == nil {
		files[fifo] = "a named pipe"
	}
	return files
}
