//go:build !unix

package testenv

import "testing"

// NotRegular is a temporary directory where there are no FIFOs or /dev/zero.
func NotRegular(t testing.TB) map[string]string {
	return map[string]string{t.TempDir(): "a directory"}
}
