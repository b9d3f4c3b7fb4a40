package frontend

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
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
		{"underflow", zipOf("\x80\x02\x85.", ""), "opcode 0x85 at byte 2: stack underflow"},
		{"stack left", zipOf("\x80\x02}}.", ""), "STOP at byte 4 with 2 values"},
		{"not zip", []byte("hello"), "no zip signature"},
	} {
		_, err := ParsePth(c.name+".pth", c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
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
