package gentest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/internal/testenv"
)

// Synthetic returns a directory holding the synthetic ImageNet-shaped model
// name (model.json, model.safetensors, calib.npy) that tools/mnv2_224 makes
// with args: testdata/name when go generate has made it there, else a copy in
// the cache keyed by the tool's source and args, made on first use.
func Synthetic(t testing.TB, name string, args ...string) string {
	t.Helper()
	root := RepoRoot(t)
	complete := func(dir string) bool {
		for _, f := range []string{"model.json", "model.safetensors", "calib.npy"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return false
			}
		}
		return true
	}
	if dir := filepath.Join(root, "testdata", name); complete(dir) {
		return dir
	}
	h := sha256.New()
	srcs, err := filepath.Glob(filepath.Join(root, "tools", "mnv2_224", "*.go"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("tools/mnv2_224: no sources (%v)", err)
	}
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	h.Write([]byte(strings.Join(args, "\x00")))
	dir := filepath.Join(testenv.CacheDir(t), "synthetic", name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if complete(dir) {
		return dir
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), name+".tmp-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(dir), name+".tmp-"); err != nil {
			t.Fatal(err)
		}
	}
	defer os.RemoveAll(tmp)
	t.Logf("making the synthetic model %s in %s (tools/mnv2_224, once)", name, dir)
	cmd := exec.Command("go", append(append([]string{"run", "./tools/mnv2_224"}, args...), "-o", tmp)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tools/mnv2_224 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	// Another test process may have made it meanwhile: either copy will do.
	if err := os.Rename(tmp, dir); err != nil && !complete(dir) {
		t.Fatal(err)
	}
	return dir
}
