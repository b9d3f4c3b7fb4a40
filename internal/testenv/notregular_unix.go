//go:build unix

package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// NotRegular makes, in a temporary directory, the inputs that are not
// regular files a reader may be given, and returns each with what its error
// says: a directory, a FIFO and /dev/zero.
func NotRegular(t testing.TB) map[string]string {
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
