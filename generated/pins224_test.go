//go:build ptqc224

package generated

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ptq"
)

// requireInputs fails when the inputs go generate builds a 224 package from
// are missing (the package itself would be missing too, or stale).
func requireInputs(t testing.TB, dir string) {
	t.Helper()
	for _, f := range []string{"model.safetensors", "calib.npy"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%v: run go generate ./generated first", err)
		}
	}
}

// interpreted224 quantizes the 224 model whose inputs are in dir as go
// generate did (fbgemm, 16 calibration inputs) and runs n images224 through
// the interpreter: the inputs and the logits the package must give. Skipped
// with -short.
func interpreted224(t *testing.T, dir string, n int) (x, want []float32) {
	t.Helper()
	if testing.Short() {
		t.Skip("quantizes a 224x224 model and runs its interpreter")
	}
	requireInputs(t, dir)
	m, err := ptq.Quantize(ptq.Options{Model: dir + "/model.json", QConfig: "fbgemm", Calib: dir + "/calib.npy", CalibLimit: 16})
	if err != nil {
		t.Fatal(err)
	}
	x = images224(n)
	if want, err = compiler.Run(m, x, n, nil); err != nil {
		t.Fatal(err)
	}
	return x, want
}

// TestPins224 checks the 224 packages that go generate made against the
// SHA-256 of every file in pins224.sha256: the packages are not checked in,
// so this is what says a build regenerates them byte for byte. After a
// deliberate change of the generated code, update the pins with
// (cd generated && sha256sum mobilenetv2_224/* resnet50_224/* > pins224.sha256).
func TestPins224(t *testing.T) {
	f, err := os.Open("pins224.sha256")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pinned := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		sum, name, ok := strings.Cut(s.Text(), "  ")
		if !ok {
			t.Fatalf("pins224.sha256: bad line %q", s.Text())
		}
		pinned[name] = true
		b, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%v: run go generate ./generated", err)
			continue
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, pinned %s: the build no longer makes the pinned bytes", name, got, sum)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"mobilenetv2_224", "resnet50_224"} {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if name := dir + "/" + e.Name(); !pinned[name] {
				t.Errorf("%s: generated but not pinned in pins224.sha256", name)
			}
		}
	}
}
