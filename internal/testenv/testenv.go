// Package testenv says which tests run where: the quick suite of go test
// ./..., the long checks CI runs, and where tests keep what is slow to make;
// the inputs that are not regular files every reader's test feeds it; and
// how tests read their JSON fixtures.
// It imports nothing of ptqc, so every package's tests can use it.
package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Long reports whether the long tests run: whole trained models on every
// tier, the 224x224 models, builds of downstream modules. CI runs them
// (CI=true, as .ci/run sets it); PTQC_LONG=1 runs them anywhere.
func Long() bool {
	return os.Getenv("PTQC_LONG") == "1" || os.Getenv("CI") == "true"
}

// SkipUnlessLong skips a long test in the quick suite (and with -short).
func SkipUnlessLong(t testing.TB, what string) {
	t.Helper()
	if testing.Short() || !Long() {
		t.Skipf("%s: a long test (PTQC_LONG=1 runs it; CI does)", what)
	}
}

// SkipShort skips a test that is slow for -short: what says what it does.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what)
	}
}

// Full reports whether the checks over all 10,000 Fashion-MNIST test images
// run (PTQC_FULL=1): minutes more than CI spends; run them before changing
// the numbers the README's accuracy tables show.
func Full() bool { return os.Getenv("PTQC_FULL") == "1" }

// CacheDir is where tests keep what is slow to make and needless to commit:
// $PTQC_CACHE, else ptqc/ under the user's cache directory. Tests never
// write into the source tree.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PTQC_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("no cache directory for test inputs (set PTQC_CACHE): %v", err)
		}
		dir = filepath.Join(base, "ptqc")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ReadJSON decodes the JSON file at path (a fixture or golden) into v,
// failing the test when it cannot.
func ReadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
