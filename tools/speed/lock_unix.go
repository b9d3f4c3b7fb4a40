//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockMachine takes the machine-wide lock of tools/speed runs, or fails at
// once naming the run that holds it: two runs at once time each other's load
// (and their peers'), so neither's numbers mean anything.
func lockMachine() (release func(), err error) {
	path := filepath.Join(os.TempDir(), "ptqc-speed.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another tools/speed run"
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder += " (pid " + pid + ")"
			}
			return nil, fmt.Errorf("%s holds %s: two runs at once would time each other", holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
