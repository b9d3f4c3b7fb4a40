package data

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpNpy = cmpopts.EquateEmpty()

// TestReadNumPyFiles reads files written by NumPy (testdata/data/gen_npy_fixtures.py).
func TestReadNumPyFiles(t *testing.T) {
	dir := "../../testdata/data/npy"
	tests := []struct {
		file string
		want *Npy
	}{
		{"f4_2x3.npy", &Npy{DType: Float32, Shape: []int{2, 3}, F32: []float32{0, 1.5, -2, 3.25, 1e-3, float32(math.Copysign(0, -1))}}},
		{"u1_2x2x3.npy", &Npy{DType: Uint8, Shape: []int{2, 2, 3}, U8: []uint8{0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 220}}},
		{"i8_4.npy", &Npy{DType: Int64, Shape: []int{4}, I64: []int64{9, 0, 3, 1 << 40}}},
		{"i4_3.npy", &Npy{DType: Int32, Shape: []int{3}, I32: []int32{7, 2, 0}}},
		{"f4_scalar.npy", &Npy{DType: Float32, Shape: []int{}, F32: []float32{2.5}}},
		{"f4_0x3.npy", &Npy{DType: Float32, Shape: []int{0, 3}, F32: []float32{}}},
		{"f4_v2.npy", &Npy{DType: Float32, Shape: []int{3}, F32: []float32{1, 2, 3}}},
		{"f4_v3.npy", &Npy{DType: Float32, Shape: []int{3}, F32: []float32{1, 2, 3}}},
	}
	for _, tc := range tests {
		got, err := ReadNpy(filepath.Join(dir, tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if d := cmp.Diff(tc.want, got, cmpNpy); d != "" {
			t.Errorf("%s: (-want +got):\n%s", tc.file, d)
		}
		if tc.file == "f4_2x3.npy" && math.Signbit(float64(got.F32[5])) != true {
			t.Errorf("%s: -0 lost its sign", tc.file)
		}
	}
	for file, want := range map[string]string{
		"be_f4.npy":      `big-endian dtype ">f4" is not supported`,
		"fortran_f4.npy": "fortran_order True (column-major) arrays are not supported",
		"u2.npy":         `unsupported dtype "<u2"`,
	} {
		_, err := ReadNpy(filepath.Join(dir, file))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", file, err, want)
		}
	}
}

func TestNpyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	arrays := []*Npy{
		{DType: Float32, Shape: []int{2, 3, 1, 2}, F32: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, 1e-30, 7, 8, 9, 10, 11, 12}},
		{DType: Uint8, Shape: []int{3}, U8: []uint8{0, 128, 255}},
		{DType: Int32, Shape: []int{2, 2}, I32: []int32{-1, 2, math.MaxInt32, math.MinInt32}},
		{DType: Int64, Shape: []int{1}, I64: []int64{math.MinInt64}},
		{DType: Float32, Shape: []int{}, F32: []float32{4}},
		{DType: Int64, Shape: []int{0}, I64: []int64{}},
		{DType: Uint8, Shape: make([]int, 40), U8: []uint8{}}, // 40 zero dims
	}
	for i, a := range arrays {
		path := filepath.Join(dir, "a.npy")
		if err := WriteNpy(path, a); err != nil {
			t.Fatalf("array %d: %v", i, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		hl := int(binary.LittleEndian.Uint16(b[8:10])) + 10
		if hl%64 != 0 || b[hl-1] != '\n' {
			t.Errorf("array %d: header of %d bytes, want a multiple of 64 ending in a newline", i, hl)
		}
		got, err := ReadNpy(path)
		if err != nil {
			t.Fatalf("array %d: %v", i, err)
		}
		if d := cmp.Diff(a, got, cmpNpy); d != "" {
			t.Errorf("array %d (-want +got):\n%s", i, d)
		}
	}
	path := filepath.Join(dir, "f.npy")
	if err := WriteNpyF32(path, []int{2}, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := WriteNpyU8(filepath.Join(dir, "u.npy"), []int{1, 1}, []uint8{3}); err != nil {
		t.Fatal(err)
	}
	if err := WriteNpyI64(filepath.Join(dir, "i.npy"), []int{2}, []int64{5, 6}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]*Npy{
		"f.npy": {DType: Float32, Shape: []int{2}, F32: []float32{1, 2}},
		"u.npy": {DType: Uint8, Shape: []int{1, 1}, U8: []uint8{3}},
		"i.npy": {DType: Int64, Shape: []int{2}, I64: []int64{5, 6}},
	} {
		got, err := ReadNpy(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", file, d)
		}
	}
}

func TestEncodeNpyLargeHeader(t *testing.T) {
	// NumPy's maximum of 64 dimensions still fits a version 1.0 header.
	shape := make([]int, 0)
	for range maxNpyDims {
		shape = append(shape, 1)
	}
	b, err := EncodeNpy(&Npy{DType: Uint8, Shape: shape, U8: []uint8{9}})
	if err != nil {
		t.Fatal(err)
	}
	if b[6] != 1 {
		t.Errorf("version %d.%d, want 1.0", b[6], b[7])
	}
	got, err := ParseNpy(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&Npy{DType: Uint8, Shape: shape, U8: []uint8{9}}, got); d != "" {
		t.Error(d)
	}
	// Version 2.0 header longer than 65535 bytes (padding spaces), written by hand.
	dict := "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"
	hdr := dict + strings.Repeat(" ", 70000) + "\n"
	v2 := append([]byte(npyMagic), 2, 0)
	v2 = binary.LittleEndian.AppendUint32(v2, uint32(len(hdr)))
	v2 = append(v2, hdr...)
	v2 = binary.LittleEndian.AppendUint32(v2, 5)
	v2 = binary.LittleEndian.AppendUint32(v2, 0xffffffff)
	got, err = ParseNpy(v2)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&Npy{DType: Int32, Shape: []int{2}, I32: []int32{5, -1}}, got); d != "" {
		t.Error(d)
	}
}

func TestEncodeNpyErrors(t *testing.T) {
	for _, tc := range []struct {
		a    *Npy
		want string
	}{
		{nil, "nil array"},
		{&Npy{DType: "float64", Shape: []int{1}}, `unsupported dtype "float64"`},
		{&Npy{DType: Float32, Shape: []int{2, 2}, F32: []float32{1}}, "shape (2, 2) has 4 elements, the float32 data has 1"},
		{&Npy{DType: Int64, Shape: []int{-1}}, "dimension 0 is negative"},
		{&Npy{DType: Int64, Shape: []int{math.MaxInt / 2, 4}}, "has too many elements"},
	} {
		_, err := EncodeNpy(tc.a)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.a, err, tc.want)
		}
	}
	err := WriteNpyF32(filepath.Join(t.TempDir(), "x.npy"), []int{3}, []float32{1})
	if err == nil || !strings.Contains(err.Error(), "x.npy") {
		t.Errorf("WriteNpyF32 error %v does not name the file", err)
	}
}

// npyBytes builds a version 1.0 .npy file from a header dict and data bytes.
func npyBytes(dict string, data []byte) []byte {
	hdr := dict + "\n"
	b := append([]byte(npyMagic), 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	return append(b, data...)
}

func TestParseNpyErrors(t *testing.T) {
	f4 := func(shape string) string {
		return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }"
	}
	good := npyBytes(f4("(2,)"), make([]byte, 8))
	if _, err := ParseNpy(good); err != nil {
		t.Fatalf("good file: %v", err)
	}
	v1 := func(b []byte) []byte { return b }
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "not a .npy file (bad magic)"},
		{"bad magic", []byte("\x93NUMPZ\x01\x00\x00\x00"), "not a .npy file (bad magic)"},
		{"version 4", append([]byte(npyMagic), 4, 0, 0, 0), "unsupported format version 4.0"},
		{"version 1.1", append([]byte(npyMagic), 1, 1, 0, 0), "unsupported format version 1.1"},
		{"short v1", append([]byte(npyMagic), 1, 0, 5), "truncated header"},
		{"short v2", append([]byte(npyMagic), 2, 0, 5, 0), "truncated header"},
		{"header too long", append([]byte(npyMagic), 1, 0, 0xff, 0xff, '{'), "header length 65535 exceeds the file (11 bytes)"},
		{"v2 header too long", append([]byte(npyMagic), 2, 0, 0xff, 0xff, 0xff, 0xff), "header length 4294967295 exceeds the file"},
		{"not a dict", v1(npyBytes("[1, 2]", nil)), "expected '{'"},
		{"unterminated", npyBytes("{'descr: 1}", nil), "unterminated string"},
		{"no colon", npyBytes("{'descr' '<f4'}", nil), "expected ':' after key \"descr\""},
		{"bad value", npyBytes("{'descr': None}", nil), "unsupported value"},
		{"junk after", npyBytes(f4("(2,)")+" x", make([]byte, 8)), "unexpected text after the dict"},
		{"duplicate", npyBytes("{'descr': '<f4', 'descr': '<f4'}", nil), `duplicate key "descr"`},
		{"missing shape", npyBytes("{'descr': '<f4', 'fortran_order': False}", nil), "'shape' missing"},
		{"missing descr", npyBytes("{'shape': (2,), 'fortran_order': False}", nil), "'descr' missing"},
		{"missing order", npyBytes("{'shape': (2,), 'descr': '<f4'}", nil), "'fortran_order' missing"},
		{"extra key", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", nil), "unsupported value"},
		{"extra key str", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 'y'}", nil), `unexpected key "x"`},
		{"structured", npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", nil), "unsupported value"},
		{"big-endian", npyBytes("{'descr': '>i8', 'fortran_order': False, 'shape': ()}", nil), `big-endian dtype ">i8" is not supported`},
		{"float64", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': ()}", nil), `unsupported dtype "<f8"`},
		{"fortran", npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", make([]byte, 8)), "fortran_order True"},
		{"shape not tuple", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': 'x'}", nil), "'shape' missing or not a tuple"},
		{"shape (2)", npyBytes(f4("(2)"), make([]byte, 8)), "one-element tuple without a trailing comma"},
		{"negative dim", npyBytes(f4("(-2,)"), nil), "expected a non-negative integer"},
		{"dim overflow", npyBytes(f4("(99999999999999999999,)"), nil), "integer 99999999999999999999 out of range"},
		{"truncated data", npyBytes(f4("(3,)"), make([]byte, 8)), "truncated data: shape (3,) of float32 needs 12 bytes, the file has 8"},
		{"trailing data", npyBytes(f4("(1,)"), make([]byte, 8)), "4 trailing bytes after the data of shape (1,) of float32"},
		{"absurd shape", npyBytes(f4("(1000000, 1000000, 1000000)"), make([]byte, 8)), "truncated data: shape (1000000, 1000000, 1000000) of float32 needs 4000000000000000000 bytes, the file has 8"},
		{"overflow shape", npyBytes(f4("(4611686018427387904, 4611686018427387904, 0)"), nil), ""}, // zero elements: valid
		{"overflow shape 2", npyBytes(f4("(4611686018427387904, 4611686018427387904)"), make([]byte, 8)), "shape (4611686018427387904, 4611686018427387904) of float32: has too many elements"},
		{"too many dims", npyBytes(f4("("+strings.Repeat("1, ", 65)+")"), make([]byte, 4)), "more than 64 dimensions"},
		{"escape", npyBytes("{'descr': '<f\\4'}", nil), "escapes in strings are not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseNpy(tc.b)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if a != nil {
				t.Errorf("array %+v with an error", a)
			}
		})
	}
	// The path is named in ReadNpy's errors.
	path := filepath.Join(t.TempDir(), "trunc.npy")
	if err := os.WriteFile(path, good[:len(good)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadNpy(path); err == nil || !strings.HasPrefix(err.Error(), path+": npy: truncated data") {
		t.Errorf("ReadNpy error %v, want it to start with the path", err)
	}
	if _, err := ReadNpy(filepath.Join(t.TempDir(), "missing.npy")); err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("missing file: error %v", err)
	}
}

func TestParsePyDictPython2(t *testing.T) {
	// NumPy under Python 2 wrote long integers with an L suffix.
	b := npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2L, 1L), }", []byte{1, 2})
	a, err := ParseNpy(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&Npy{DType: Uint8, Shape: []int{2, 1}, U8: []uint8{1, 2}}, a); d != "" {
		t.Error(d)
	}
}

func FuzzParseNpy(f *testing.F) {
	for _, name := range []string{"f4_2x3.npy", "u1_2x2x3.npy", "i8_4.npy", "i4_3.npy", "f4_v2.npy", "f4_scalar.npy"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/data/npy", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseNpy(b)
		if err != nil {
			return
		}
		// A parsed array encodes and parses back to the same array.
		enc, err := EncodeNpy(a)
		if err != nil {
			t.Fatalf("EncodeNpy of a parsed array: %v", err)
		}
		a2, err := ParseNpy(enc)
		if err != nil {
			t.Fatalf("ParseNpy of an encoded array: %v", err)
		}
		if !bytes.Equal(enc, mustEncode(t, a2)) {
			t.Fatal("round trip changed the array")
		}
	})
}

func mustEncode(t *testing.T, a *Npy) []byte {
	b, err := EncodeNpy(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
