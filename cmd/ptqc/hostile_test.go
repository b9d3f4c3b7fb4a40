package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/internal/testenv"
)

// hostileRun runs ptqc and fails t unless it returns an error containing
// want, within 60 s and without panicking: what `ptqc` exits 1 with.
func hostileRun(t *testing.T, name, want string, args ...string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		_, _, err := ptqc(args...)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: ptqc %s: error %v, want one containing %q", name, strings.Join(args, " "), err, want)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("%s: ptqc %s: still running after 60 s", name, strings.Join(args, " "))
	}
}

// zipOf writes a torch.save-like archive of stored entries under archive/.
func zipOf(t *testing.T, entries ...[2]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/" + e[0], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func long1(v int64) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	return "\x8a\x08" + string(b[:])
}

func write(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHostileFiles is issue 23's acceptance, end to end: a file of each
// class it found, given to the command that reads it, is a clean, labelled
// error (what main exits 1 with), never a panic, a hang or a result.
func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	model, x, y := tinyModel(t, dir)

	// Class 1: a storage of 2^62+6 floats, whose byte size wraps to the 24 present.
	wrap := "\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00w" +
		"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n" +
		"X\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + long1(1<<62+6) + "tQK\x00K\x06\x85K\x01\x85\x89h\x00)RtRu."
	wrapPth := write(t, filepath.Join(dir, "wrap.pth"), zipOf(t, [2]string{"data.pkl", wrap}, [2]string{"data/0", strings.Repeat("\x00", 24)}, [2]string{"version", "3\n"}))
	hostileRun(t, "class 1", "needs more than 2^63", "eval", "-model", model, "-weights", wrapPth, "-float", "-data", x, "-labels", y)

	// Class 2: a classifier at +-3e38 makes every logit NaN; NaN data.
	_, g, err := frontend.Load(model, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if n.Linear != nil {
			for i := range n.Linear.Weight {
				n.Linear.Weight[i] = float32(3e38 * float64(1-2*(i%2)))
			}
		}
	}
	absurd := filepath.Join(dir, "absurd.safetensors")
	if err := frontend.WriteSafeTensors(absurd, frontend.StateDict(g), nil); err != nil {
		t.Fatal(err)
	}
	hostileRun(t, "class 2 weights", "samples are NaN or infinite", "eval", "-model", model, "-weights", absurd, "-float", "-data", x, "-labels", y)
	nanData := filepath.Join(dir, "nan.npy")
	nan := make([]float32, 60*3*12*12)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	if err := data.WriteNpyF32(nanData, []int{60, 3, 12, 12}, nan); err != nil {
		t.Fatal(err)
	}
	hostileRun(t, "class 2 data", "evaluation data: sample 0 has NaN", "eval", "-model", model, "-float", "-data", nanData, "-labels", y, "-limit", "4")
	hostileRun(t, "class 2 calibration", "calibration data: sample 0 has NaN", "eval", "-model", model, "-qconfig", "fbgemm", "-calib", nanData, "-data", x, "-labels", y)

	// Class 3: absurd weights under the histogram observers.
	for _, qc := range []string{"fbgemm", "qnnpack"} {
		hostileRun(t, "class 3 "+qc, "calibration: layer", "eval", "-model", model, "-weights", absurd, "-qconfig", qc, "-calib", x, "-data", x, "-labels", y)
	}

	// A calibration set of 1e30s and one spanning float32 (the observers
	// once panicked on int64 overflow): a result, or a labelled error.
	for name, vs := range map[string][]float32{"1e30": {1e30, 2e30}, "full range": {-math.MaxFloat32, math.MaxFloat32}} {
		big := filepath.Join(dir, "big.npy")
		xs := make([]float32, 30*3*12*12)
		for i := range xs {
			xs[i] = vs[i%len(vs)]
		}
		if err := data.WriteNpyF32(big, []int{30, 3, 12, 12}, xs); err != nil {
			t.Fatal(err)
		}
		for _, qc := range []string{"fbgemm", "qnnpack"} {
			out, _, err := ptqc("eval", "-model", model, "-qconfig", qc, "-calib", big, "-data", x, "-labels", y)
			t.Logf("class 3 %s %s: %q, %v", name, qc, out, err)
			if err != nil && !strings.Contains(err.Error(), "calibration") {
				t.Errorf("class 3 %s %s: error %v is not calibration's", name, qc, err)
			}
		}
	}

	// Class 4: a run of EMPTY_DICT.
	dicts := write(t, filepath.Join(dir, "dicts.pth"), zipOf(t, [2]string{"data.pkl", "\x80\x02" + strings.Repeat("}", 256<<10) + "."}, [2]string{"version", "3\n"}))
	hostileRun(t, "class 4", "more than a state_dict of its size can", "eval", "-model", model, "-weights", dicts, "-float", "-data", x, "-labels", y)

	// Class 5: a .ptqm whose layers are out of order, or with an unknown activation.
	qm := filepath.Join(dir, "m.ptqm")
	if _, _, err := ptqc("eval", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-calib-limit", "30", "-data", x, "-labels", y, "-limit", "1", "-save-qmodel", qm); err != nil {
		t.Fatal(err)
	}
	m, err := compiler.ReadModel(qm)
	if err != nil {
		t.Fatal(err)
	}
	m.Nodes[1], m.Nodes[2] = m.Nodes[2], m.Nodes[1]
	swapped := filepath.Join(dir, "swapped.ptqm")
	if err := compiler.WriteModel(swapped, m); err != nil {
		t.Fatal(err)
	}
	hostileRun(t, "class 5 order", "before any layer computes it", "eval", "-qmodel", swapped, "-data", x, "-labels", y)
	m.Nodes[1], m.Nodes[2] = m.Nodes[2], m.Nodes[1]
	m.Nodes[1].Conv.Act = 9
	act := filepath.Join(dir, "act.ptqm")
	if err := compiler.WriteModel(act, m); err != nil {
		t.Fatal(err)
	}
	hostileRun(t, "class 5 act", "unknown activation code 9", "eval", "-qmodel", act, "-data", x, "-labels", y)
	b, err := os.ReadFile(qm)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[6:8], "01")
	old := write(t, filepath.Join(dir, "old.ptqm"), b)
	hostileRun(t, "class 5 version", `quantized model format version "01", this ptqc reads version "02": re-run the build or eval with -save-qmodel to write it again`, "eval", "-qmodel", old, "-data", x, "-labels", y)

	// Class 6: unbounded work in a description.
	rows := write(t, filepath.Join(dir, "rows.json"), []byte(`{"arch": "mobilenetv2", "inverted_residual_setting": [`+
		strings.TrimSuffix(strings.Repeat("[1, 16, 1048576, 1], ", 70), ", ")+`], "weights": "w.safetensors"}`))
	hostileRun(t, "class 6 rows", "blocks in all, more than the limit", "eval", "-model", rows, "-float", "-data", x, "-labels", y)
	huge := write(t, filepath.Join(dir, "huge.json"), []byte(`{"arch": "mobilenetv2", "input": [3, 16384, 16384], "preprocess": {}, "weights": "w.safetensors"}`))
	hostileRun(t, "class 6 input", "the input [3 16384 16384] has 8.05e+08 elements", "build", "-model", huge, "-qconfig", "fbgemm", "-calib", x, "-o", filepath.Join(dir, "out"), "-pkg", "m")

	// Class 7: files that are not regular, or huge and sparse.
	sparse := filepath.Join(dir, "sparse.bin")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(20 << 30); err != nil {
		t.Logf("no sparse file: %v", err)
	} else {
		hostileRun(t, "class 7 sparse data", "unrecognised format", "eval", "-model", model, "-float", "-data", sparse, "-labels", y)
		hostileRun(t, "class 7 sparse weights", "not a safetensors file", "eval", "-model", model, "-weights", sparse, "-float", "-data", x, "-labels", y)
		hostileRun(t, "class 7 sparse qmodel", "bad magic", "eval", "-qmodel", sparse, "-data", x, "-labels", y)
		hostileRun(t, "class 7 sparse description", "more than the 1048576", "eval", "-model", sparse, "-float", "-data", x, "-labels", y)
	}
	f.Close()
	for path, want := range testenv.NotRegular(t) {
		hostileRun(t, "class 7 weights", want, "eval", "-model", model, "-weights", path, "-float", "-data", x, "-labels", y)
		if !strings.Contains(want, "directory") { // a directory is an ImageFolder, labelled by its folders
			hostileRun(t, "class 7 data", want, "eval", "-model", model, "-float", "-data", path, "-labels", y)
		}
		hostileRun(t, "class 7 labels", want, "eval", "-model", model, "-float", "-data", x, "-labels", path)
		hostileRun(t, "class 7 qmodel", want, "eval", "-qmodel", path, "-data", x, "-labels", y)
		if !strings.Contains(want, "directory") { // a directory is an ImageFolder
			hostileRun(t, "class 7 calib", want, "build", "-model", model, "-qconfig", "fbgemm", "-calib", path, "-o", filepath.Join(dir, "out"), "-pkg", "m")
		}
		hostileRun(t, "class 7 model", want, "eval", "-model", path, "-float", "-data", x, "-labels", y)
	}
}

// TestReadOnlyOutput: an output directory that cannot be written is found
// before calibration.
func TestReadOnlyOutput(t *testing.T) {
	dir := t.TempDir()
	model, _, _ := tinyModel(t, dir)
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// Root writes into read-only directories, not into sysfs.
		if st, err := os.Stat("/sys/kernel"); err != nil || !st.IsDir() {
			t.Skip("root, and no /sys")
		}
		ro = "/sys/kernel"
	}
	// A calibration set of NaNs: reaching calibration fails differently.
	calib := filepath.Join(dir, "nan.npy")
	nan := make([]float32, 3*12*12)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	if err := data.WriteNpyF32(calib, []int{1, 3, 12, 12}, nan); err != nil {
		t.Fatal(err)
	}
	hostileRun(t, "read-only -o", "is not writable", "build", "-model", model, "-qconfig", "fbgemm", "-calib", calib, "-o", filepath.Join(ro, "ptqc-pkg"), "-pkg", "m")
}
