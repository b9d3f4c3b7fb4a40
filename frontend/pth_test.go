package frontend

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pthZip writes a torch.save-like archive: entries (relative names, under
// archive/) in the given order, stored uncompressed unless deflate is set.
func pthZip(t testing.TB, entries [][2]string, deflate bool) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Store
		if deflate {
			m = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/" + e[0], Method: m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pthTensorPickle is the protocol-2 pickle of OrderedDict{"w": tensor} with
// the tensor's storage "0" of numel floats viewed at offset with size and
// stride of one dimension.
func pthTensorPickle(numel, offset, size, stride byte) string {
	return "\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00w" +
		"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n" +
		"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK" + string(numel) + "tQK" + string(offset) +
		"K" + string(size) + "\x85K" + string(stride) + "\x85\x89h\x00)RtRu."
}

func TestPthMatchesSafeTensors(t *testing.T) {
	for _, c := range []struct{ pth, st string }{
		{"views.pth", "views.safetensors"},
		{"proto4.pth", "views.safetensors"},
		{"mnv2.pth", "mnv2.safetensors"},
	} {
		got, err := ReadWeights(filepath.Join("testdata/pth", c.pth))
		if err != nil {
			t.Fatalf("%s: %v", c.pth, err)
		}
		want, err := ReadWeights(filepath.Join("testdata/pth", c.st))
		if err != nil {
			t.Fatalf("%s: %v", c.st, err)
		}
		if diff := cmp.Diff(want.Tensors, got.Tensors, stCmpOpts...); diff != "" {
			t.Errorf("%s differs from %s (-want +got):\n%s", c.pth, c.st, diff)
		}
	}
}

func TestPthStrided(t *testing.T) {
	floats := string(stF32Bytes(0, 1, 2, 3, 4, 5))
	for _, c := range []struct {
		name                        string
		numel, offset, size, stride byte
		want                        []float32
	}{
		{"contiguous", 6, 0, 6, 1, []float32{0, 1, 2, 3, 4, 5}},
		{"offset", 6, 4, 2, 1, []float32{4, 5}},
		{"strided", 6, 1, 3, 2, []float32{1, 3, 5}},
		{"broadcast", 6, 2, 1, 0, []float32{2}},
	} {
		b := pthZip(t, [][2]string{{"data.pkl", pthTensorPickle(c.numel, c.offset, c.size, c.stride)}, {"data/0", floats}, {"version", "3\n"}}, false)
		st, err := ParsePth(c.name, b)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got, err := st.Tensors["w"].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestPthSameGraph(t *testing.T) {
	_, fromPth, err := Load("testdata/pth/mnv2.json", "")
	if err != nil {
		t.Fatal(err)
	}
	_, fromST, err := Load("testdata/pth/mnv2.json", "testdata/pth/mnv2.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromST, fromPth); diff != "" {
		t.Errorf(".pth and safetensors graphs differ (-safetensors +pth):\n%s", diff)
	}
}

func TestPthErrors(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata/pth", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	floats := string(stF32Bytes(0, 1, 2, 3, 4, 5))
	good := pthTensorPickle(6, 0, 6, 1)
	views := read("views.pth")
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	if err := tw.WriteHeader(&tar.Header{Name: "sys_info", Mode: 0o644, Size: 1}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	zipOf := func(pkl string, storage string) []byte {
		return pthZip(t, [][2]string{{"data.pkl", pkl}, {"data/0", storage}, {"version", "3\n"}}, false)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"module", read("module.pth"), "global torch.nn.modules.linear.Linear is not allowed in a state_dict (the file holds a pickled module"},
		{"legacy", read("legacy.pth"), "legacy (before PyTorch 1.6) torch.save format"},
		{"legacy tar", tarBuf.Bytes(), "legacy tar torch.save format"},
		{"double", read("double.pth"), `key "w": DoubleStorage is not supported`},
		{"truncated", views[:len(views)/2], "zip archive: zip: not a valid zip file"},
		{"truncated pickle", zipOf(good[:len(good)-5], floats), "truncated: no STOP opcode"},
		{"short storage", zipOf(good, floats[:20]), `key "w": storage archive/data/0 has 20 bytes, but FloatStorage of 6 elements needs 24`},
		{"past storage", zipOf(pthTensorPickle(6, 2, 5, 1), floats), `key "w": size [5], stride [1] at offset 2 reach past the 6 elements of storage 0`},
		{"stride past storage", zipOf(pthTensorPickle(6, 0, 3, 3), floats), `reach past the 6 elements`},
		{"expanded", zipOf(pthTensorPickle(6, 0, 9, 0), floats), `size [9]: has too many elements`},
		{"no version", pthZip(t, [][2]string{{"data.pkl", good}, {"data/0", floats}}, false), "no archive/version entry"},
		{"big endian", pthZip(t, [][2]string{{"data.pkl", good}, {"data/0", floats}, {"version", "3\n"}, {"byteorder", "big"}}, false), `byteorder is "big"`},
		{"compressed", pthZip(t, [][2]string{{"data.pkl", good}, {"data/0", floats}, {"version", "3\n"}}, true), "is compressed (method 8)"},
		{"missing storage", pthZip(t, [][2]string{{"data.pkl", good}, {"version", "3\n"}}, false), "storage entry archive/data/0 is missing"},
		{"os.system", zipOf("\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR.", ""), "global os.system is not allowed"},
		{"opcode", zipOf("\x80\x02(I1\n.", ""), "opcode INT at byte 3: not allowed in a state_dict"},
		{"list", zipOf("\x80\x02].", ""), "holds list of 0, not a state_dict"},
		{"tensor value", zipOf("\x80\x02}(X\x01\x00\x00\x00aK\x01u.", ""), `key "a" holds int, not a tensor`},
		{"build", zipOf("\x80\x02ccollections\nOrderedDict\n)R}b.", ""), "only an OrderedDict's _metadata attribute"},
		{"underflow", zipOf("\x80\x02\x85.", ""), "opcode TUPLE1 at byte 2: stack underflow"},
		{"stack left", zipOf("\x80\x02}}.", ""), "STOP at byte 4 with 2 values"},
		{"not zip", []byte("hello"), "no zip signature"},
		{"opcode name", zipOf("\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR.", ""), "opcode GLOBAL at byte 2: global os.system"},
		{"long key", zipOf("\x80\x02}(X\x00\x00\x50\x00"+strings.Repeat("k", 5<<20)+"K\x01u.", ""), `key "kkkkkkkkkk`},
	} {
		_, err := ParsePth(c.name+".pth", c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %.300v, want it to contain %q", c.name, err, c.want)
		}
		if err != nil && len(err.Error()) > 1000 {
			t.Errorf("%s: a %d-byte error", c.name, len(err.Error()))
		}
	}
}

func TestParseWeightsPicksFormat(t *testing.T) {
	pth, err := os.ReadFile("testdata/pth/views.pth")
	if err != nil {
		t.Fatal(err)
	}
	// A torch.save file under any name is read as one, by its zip signature.
	if _, err := ParseWeights("weights.bin", pth); err != nil {
		t.Errorf("zip content named .bin: %v", err)
	}
	if _, err := ParseWeights("w.pt", []byte("junk")); err == nil || !strings.Contains(err.Error(), "no zip signature") {
		t.Errorf(".pt extension: error %v, want the torch.save reader's", err)
	}
	if _, err := ParseWeights("w.safetensors", []byte("junk")); err == nil || !strings.Contains(err.Error(), "safetensors w.safetensors") {
		t.Errorf("other extension: error %v, want the safetensors reader's", err)
	}
}

// TestPthBudgetHeadroom checks that real torch.save pickles build far less
// than the unpickler's budget allows.
func TestPthBudgetHeadroom(t *testing.T) {
	for _, path := range []string{"testdata/pth/mnv2.pth", "testdata/pth/views.pth", "testdata/pth/proto4.pth", "../testdata/resnet_fmnist/model.pth"} {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			if !strings.HasSuffix(f.Name, "/data.pkl") {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			pkl, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			u := &pthUnpickler{b: pkl, memo: map[int]any{}, storages: map[string]*pthStorage{}, budget: pthBudget(len(pkl))}
			if _, err := u.run(); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			perByte := float64(u.cost) / float64(len(pkl))
			t.Logf("%s: %d-byte pickle, %d objects, %d bytes built (%.1f per byte)", path, len(pkl), u.objects, u.cost, perByte)
			if perByte > pthBytesPerByte/2 {
				t.Errorf("%s builds %.1f bytes per pickle byte, too close to the budget's %d", path, perByte, pthBytesPerByte)
			}
		}
		zr.Close()
	}
}

// pthLong1 is a pickle LONG1 of v, 8 bytes little-endian.
func pthLong1(v int64) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	return "\x8a\x08" + string(b[:])
}

// pthTensorPickleN is pthTensorPickle with 64-bit numbers and a storage class.
func pthTensorPickleN(class string, numel, offset, size, stride int64) string {
	return "\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00w" +
		"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n" + class + "\n" +
		"X\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + pthLong1(numel) + "tQ" + pthLong1(offset) +
		pthLong1(size) + "\x85" + pthLong1(stride) + "\x85\x89h\x00)RtRu."
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestPthHostileSizes is issue 23's class 1: a storage whose element count
// times element size wraps around 2^64 to the entry's real size. Every
// variant is an error, found before anything of the claimed size is made.
func TestPthHostileSizes(t *testing.T) {
	floats := string(stF32Bytes(0, 1, 2, 3, 4, 5))
	longs := string(stI64Bytes(0, 1, 2))
	zipOf := func(pkl, storage string) []byte {
		return pthZip(t, [][2]string{{"data.pkl", pkl}, {"data/0", storage}, {"version", "3\n"}}, false)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		// (2^62 + 6) * 4 = 2^64 + 24: wraps to the 24 bytes present.
		{"wrap f32", zipOf(pthTensorPickleN("FloatStorage", 1<<62+6, 0, 6, 1), floats), "FloatStorage of 4611686018427387910 elements needs more than 2^63"},
		{"wrap i64", zipOf(pthTensorPickleN("LongStorage", 1<<61+3, 0, 3, 1), longs), "needs more than 2^63"},
		{"wrap huge view", zipOf(pthTensorPickleN("FloatStorage", 1<<62+6, 0, 1<<62, 1), floats), "needs more than 2^63"},
		{"huge view", zipOf(pthTensorPickleN("FloatStorage", 6, 0, 1<<62, 1), floats), "has too many elements"},
		{"huge offset", zipOf(pthTensorPickleN("FloatStorage", 6, 1<<62, 1, 1), floats), "reach past the 6 elements"},
		{"huge stride", zipOf(pthTensorPickleN("FloatStorage", 6, 0, 2, 1<<62), floats), "reach past the 6 elements"},
		{"negative numel", zipOf(pthTensorPickleN("FloatStorage", -6, 0, 1, 1), floats), "negative size"},
		{"max numel", zipOf(pthTensorPickleN("FloatStorage", math.MaxInt64, 0, 1, 1), floats), "needs more than 2^63"},
	} {
		var err error
		n := allocated(func() { _, err = ParsePth(c.name+".pth", c.b) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
		if n > 1<<20 {
			t.Errorf("%s: refusing a %d-byte file allocated %d bytes", c.name, len(c.b), n)
		}
	}
}

// TestPthHostileAmplification is issue 23's class 4: pickles that build far
// more than their size (a list copied on every APPENDS through the memo, runs
// of EMPTY_DICT) are refused, within memory a small multiple of their size.
func TestPthHostileAmplification(t *testing.T) {
	var appends strings.Builder
	appends.WriteString("\x80\x02]q\x00")
	for appends.Len() < 116<<10 {
		appends.WriteString("h\x00(K\x01K\x02K\x03e")
	}
	appends.WriteString(".")
	dicts := "\x80\x02" + strings.Repeat("}", 256<<10) + "."
	memo := "\x80\x02N" + strings.Repeat("\x94", 256<<10) + "."
	for _, c := range []struct {
		name, pkl, want string
	}{
		{"appends through the memo", appends.String(), "STOP at byte"},
		{"empty dicts", dicts, "more than a state_dict of its size can"},
		{"memoize", memo, "more than a state_dict of its size can"},
	} {
		b := pthZip(t, [][2]string{{"data.pkl", c.pkl}, {"version", "3\n"}}, false)
		var err error
		n := allocated(func() { _, err = ParsePth(c.name+".pth", b) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
		if limit := uint64(4*pthBudget(len(c.pkl)) + 4*len(b)); n > limit {
			t.Errorf("%s: a %d-byte pickle allocated %d bytes, more than %d", c.name, len(c.pkl), n, limit)
		}
		t.Logf("%s: %d-byte pickle, %d bytes allocated", c.name, len(c.pkl), n)
	}
}

// TestPthListsAreShared checks Python's semantics: the memo and the stack
// share one list, so an APPENDS through either is seen by both.
func TestPthListsAreShared(t *testing.T) {
	// l = []; memo[0] = l; l += [1]; get memo[0]; l += [2] -> the two stack
	// entries are one list of two items.
	u := &pthUnpickler{b: []byte("\x80\x02]q\x00(K\x01eh\x00(K\x02e\x86."), memo: map[int]any{}, storages: map[string]*pthStorage{}, budget: pthBudget(64)}
	v, err := u.run()
	if err != nil {
		t.Fatal(err)
	}
	tu := v.(pthTuple)
	a, b := tu[0].(*pthList), tu[1].(*pthList)
	if a != b || len(a.items) != 2 {
		t.Errorf("got lists %p %v and %p %v, want one shared list of 2", a, a.items, b, b.items)
	}
}
