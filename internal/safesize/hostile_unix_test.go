//go:build unix

package safesize

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpenRefusesNonRegular is issue 23's class 7: a FIFO hung the reader
// forever and /dev/zero exhausted memory. Both, and a directory, are refused
// at once.
func TestOpenRefusesNonRegular(t *testing.T) {
	for path, want := range HostileFiles(t) {
		done := make(chan error, 1)
		go func() {
			_, err := ReadFile(path, 0, 8, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("ReadFile(%s): error %v, want one saying %q", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadFile(%s) blocks", path)
		}
	}
}

// HostileFiles makes, in a temporary directory, the files that are not
// regular files a reader may be given, and returns each with what its error
// says: a directory, a FIFO and /dev/zero.
func HostileFiles(t testing.TB) map[string]string {
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
