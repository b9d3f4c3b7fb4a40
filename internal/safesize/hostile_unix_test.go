//go:build unix

package safesize

import (
	"strings"
	"testing"
	"time"

	"github.com/ptqc/ptqc/internal/testenv"
)

// TestOpenRefusesNonRegular is issue 23's class 7: a FIFO hung the reader
// forever and /dev/zero exhausted memory. Both, and a directory, are refused
// at once.
func TestOpenRefusesNonRegular(t *testing.T) {
	for path, want := range testenv.NotRegular(t) {
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
