package frontend

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// stRaw assembles a safetensors file from a literal header and data buffer.
func stRaw(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func stF32Bytes(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func stU16Bytes(vs ...uint16) []byte {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func stI64Bytes(vs ...int64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

func stSampleTensors() []*SafeTensor {
	return []*SafeTensor{
		{Name: "weight", DType: "F32", Shape: []int{2, 3}, Data: stF32Bytes(1, -2, 3.5, 0, 1e-3, -7)},
		{Name: "bias", DType: "F16", Shape: []int{3}, Data: stU16Bytes(0x3C00, 0xC000, 0x7BFF)},
		{Name: "emb", DType: "BF16", Shape: []int{1, 2}, Data: stU16Bytes(0x3F80, 0xC000)},
		{Name: "shape_const", DType: "I64", Shape: []int{2}, Data: stI64Bytes(-1, 1<<40)},
		{Name: "scalar", DType: "F32", Shape: []int{}, Data: stF32Bytes(42)},
		{Name: "empty", DType: "F32", Shape: []int{0, 5}, Data: nil},
		{Name: "weird \"name\"/é", DType: "I64", Shape: []int{1}, Data: stI64Bytes(7)},
	}
}

var stCmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func TestSafeTensorsRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		tensors  []*SafeTensor
		metadata map[string]string
	}{
		{"empty file", nil, nil},
		{"metadata only", nil, map[string]string{"format": "pt", "note": "<&>"}},
		{"sample", stSampleTensors(), map[string]string{"format": "pt"}},
		{"sample no metadata", stSampleTensors(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.safetensors")
			if err := WriteSafeTensors(path, tc.tensors, tc.metadata); err != nil {
				t.Fatalf("WriteSafeTensors: %v", err)
			}
			got, err := ReadSafeTensors(path)
			if err != nil {
				t.Fatalf("ReadSafeTensors: %v", err)
			}
			want := &SafeTensors{Path: path, Metadata: tc.metadata, Tensors: map[string]*SafeTensor{}}
			for _, st := range tc.tensors {
				want.Tensors[st.Name] = st
			}
			if diff := cmp.Diff(want, got, stCmpOpts...); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
			if got.Metadata == nil {
				t.Errorf("Metadata is nil, want non-nil map")
			}

			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if n := binary.LittleEndian.Uint64(raw); n%8 != 0 {
				t.Errorf("header length %d is not a multiple of 8", n)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the output file", len(entries))
			}

			// Determinism: reversed input order gives identical bytes.
			rev := make([]*SafeTensor, len(tc.tensors))
			for i, st := range tc.tensors {
				rev[len(rev)-1-i] = st
			}
			path2 := filepath.Join(dir, "again.safetensors")
			if err := WriteSafeTensors(path2, rev, tc.metadata); err != nil {
				t.Fatal(err)
			}
			raw2, err := os.ReadFile(path2)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(raw, raw2); diff != "" {
				t.Errorf("writer is not deterministic:\n%s", diff)
			}
		})
	}
}

func TestWriteSafeTensorsExactBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	tensors := []*SafeTensor{
		{Name: "b", DType: "I64", Shape: []int{1}, Data: stI64Bytes(5)},
		{Name: "a", DType: "F32", Shape: []int{1}, Data: stF32Bytes(1)},
	}
	if err := WriteSafeTensors(path, tensors, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hdr := `{"__metadata__":{"k":"v"},` +
		`"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},` +
		`"b":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	want := stRaw(hdr, append(stF32Bytes(1), stI64Bytes(5)...))
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("file bytes mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteSafeTensorsErrors(t *testing.T) {
	tests := []struct {
		name    string
		tensors []*SafeTensor
		want    string
	}{
		{"duplicate", []*SafeTensor{
			{Name: "dup", DType: "F32", Shape: []int{1}, Data: stF32Bytes(1)},
			{Name: "dup", DType: "F32", Shape: []int{1}, Data: stF32Bytes(2)},
		}, `"dup"`},
		{"size mismatch", []*SafeTensor{{Name: "w", DType: "F32", Shape: []int{2}, Data: stF32Bytes(1)}}, `"w"`},
		{"bad dtype", []*SafeTensor{{Name: "w", DType: "U8", Shape: []int{1}, Data: []byte{1}}}, `"U8"`},
		{"negative dim", []*SafeTensor{{Name: "w", DType: "F32", Shape: []int{-1}}}, `"w"`},
		{"reserved name", []*SafeTensor{{Name: "__metadata__", DType: "F32", Shape: []int{}, Data: stF32Bytes(1)}}, "reserved"},
		{"nil tensor", []*SafeTensor{nil}, "nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.safetensors")
			err := WriteSafeTensors(path, tc.tensors, nil)
			if err == nil {
				t.Fatal("WriteSafeTensors succeeded, want error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not mention %q and the path", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("failed write left %d files behind", len(entries))
			}
		})
	}

	// Unwritable destination: no file, no temp file.
	dir := t.TempDir()
	bad := filepath.Join(dir, "missing", "out.safetensors")
	if err := WriteSafeTensors(bad, stSampleTensors(), nil); err == nil {
		t.Errorf("writing into a missing directory succeeded")
	}
	// Destination is a directory: rename fails, temp file is cleaned up.
	target := filepath.Join(dir, "isdir")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafeTensors(target, stSampleTensors(), nil); err == nil {
		t.Errorf("writing over a non-empty directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed rename left temp files: %v", entries)
	}
}

func TestReadSafeTensorsMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.safetensors")
	_, err := ReadSafeTensors(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadSafeTensors(missing) = %v, want error naming %s", err, path)
	}
}

func TestSafeTensorFloat32s(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	tests := []struct {
		name string
		t    SafeTensor
		want []float32
	}{
		{"F32", SafeTensor{DType: "F32", Shape: []int{4}, Data: stF32Bytes(1, -2.5, 3e38, float32(math.SmallestNonzeroFloat32))},
			[]float32{1, -2.5, 3e38, float32(math.SmallestNonzeroFloat32)}},
		{"F16 normals", SafeTensor{DType: "F16", Shape: []int{2, 3}, Data: stU16Bytes(0x3C00, 0xC000, 0x7BFF, 0x3555, 0x0400, 0xBC00)},
			// 0x3555 = 2^-2 * (1 + 0x155/1024) = 0.333251953125; 0x0400 = 2^-14.
			[]float32{1, -2, 65504, 0.333251953125, 6.103515625e-05, -1}},
		{"F16 subnormals and zeros", SafeTensor{DType: "F16", Shape: []int{5}, Data: stU16Bytes(0x0001, 0x8001, 0x03FF, 0x0000, 0x8000)},
			// 0x0001 = 2^-24 ≈ 5.96e-8; 0x03FF = 1023 * 2^-24.
			[]float32{5.9604644775390625e-08, -5.9604644775390625e-08, 6.097555160522461e-05, 0, float32(math.Copysign(0, -1))}},
		{"F16 specials", SafeTensor{DType: "F16", Shape: []int{3}, Data: stU16Bytes(0x7C00, 0xFC00, 0x7E00)},
			[]float32{inf, -inf, nan}},
		{"BF16", SafeTensor{DType: "BF16", Shape: []int{5}, Data: stU16Bytes(0x3F80, 0xC000, 0x4049, 0x7F80, 0x7FC0)},
			// 0x4049 -> 0x40490000 = 3.140625.
			[]float32{1, -2, 3.140625, inf, nan}},
		{"I64", SafeTensor{DType: "I64", Shape: []int{4}, Data: stI64Bytes(0, -3, 1<<40, 1<<53+1)},
			[]float32{0, -3, 1 << 40, 1 << 53}},
		{"scalar", SafeTensor{DType: "F32", Shape: []int{}, Data: stF32Bytes(7)}, []float32{7}},
		{"empty", SafeTensor{DType: "BF16", Shape: []int{3, 0}}, []float32{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.t.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Float32s mismatch (-want +got):\n%s", diff)
			}
			// Signed zeros must keep their sign.
			for i := range got {
				if got[i] == 0 && math.Signbit(float64(got[i])) != math.Signbit(float64(tc.want[i])) {
					t.Errorf("element %d: sign of zero differs", i)
				}
			}
		})
	}
}

// TestStHalfExhaustive checks every finite half value against an
// arithmetic reference.
func TestStHalfExhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		exp := (h >> 10) & 0x1f
		mant := h & 0x3ff
		if exp == 0x1f {
			continue
		}
		var want float64
		if exp == 0 {
			want = math.Ldexp(float64(mant), -24)
		} else {
			want = math.Ldexp(float64(mant|0x400), exp-25)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		got := HalfToFloat32(uint16(h))
		if float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Fatalf("half 0x%04x = %g, want %g", h, got, want)
		}
	}
}

func TestSafeTensorInt64s(t *testing.T) {
	st := SafeTensor{Name: "idx", DType: "I64", Shape: []int{3}, Data: stI64Bytes(math.MinInt64, -1, math.MaxInt64)}
	got, err := st.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{math.MinInt64, -1, math.MaxInt64}, got); diff != "" {
		t.Errorf("Int64s mismatch (-want +got):\n%s", diff)
	}
}

func TestSafeTensorConversionErrors(t *testing.T) {
	tests := []struct {
		name  string
		t     SafeTensor
		int64 bool
		want  string
	}{
		{"Int64s of F32", SafeTensor{Name: "w", DType: "F32", Shape: []int{1}, Data: stF32Bytes(1)}, true, "I64"},
		{"short data", SafeTensor{Name: "w", DType: "F32", Shape: []int{2}, Data: stF32Bytes(1)}, false, "needs 8 bytes"},
		{"long data", SafeTensor{Name: "w", DType: "I64", Shape: []int{1}, Data: make([]byte, 9)}, true, "needs 8 bytes"},
		{"unknown dtype", SafeTensor{Name: "w", DType: "F64", Shape: []int{1}, Data: make([]byte, 8)}, false, "F64"},
		{"negative dim", SafeTensor{Name: "w", DType: "F32", Shape: []int{-2}}, false, "negative"},
		{"overflow", SafeTensor{Name: "w", DType: "F32", Shape: []int{1 << 32, 1 << 32, 1 << 32}}, false, "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.int64 {
				_, err = tc.t.Int64s()
			} else {
				_, err = tc.t.Float32s()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"w"`) {
				t.Errorf("got error %v, want one mentioning %q and the tensor name", err, tc.want)
			}
		})
	}
}

func TestSafeTensorNumElements(t *testing.T) {
	tests := []struct {
		shape []int
		want  int
	}{
		{nil, 1},
		{[]int{}, 1},
		{[]int{3}, 3},
		{[]int{2, 3, 4}, 24},
		{[]int{5, 0, 7}, 0},
		{[]int{-1, 2}, -1},
		{[]int{1 << 40, 1 << 40}, -1},
		{[]int{1 << 40, 1 << 40, 0}, 0},
	}
	for _, tc := range tests {
		if got := (&SafeTensor{Shape: tc.shape}).NumElements(); got != tc.want {
			t.Errorf("NumElements(%v) = %d, want %d", tc.shape, got, tc.want)
		}
	}
}

func TestParseSafeTensorsValid(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want *SafeTensors
	}{
		{"empty header", stRaw("{}", nil), &SafeTensors{Path: "f", Metadata: map[string]string{}, Tensors: map[string]*SafeTensor{}}},
		{"space padded, offsets out of key order", stRaw(
			`{"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"shape":[2],"data_offsets":[4,8],"dtype":"BF16"},"__metadata__":{"x":"y"}}   `,
			append(stF32Bytes(1), stU16Bytes(0x3F80, 0x4000)...)),
			&SafeTensors{Path: "f", Metadata: map[string]string{"x": "y"}, Tensors: map[string]*SafeTensor{
				"z": {Name: "z", DType: "F32", Shape: []int{1}, Data: stF32Bytes(1)},
				"a": {Name: "a", DType: "BF16", Shape: []int{2}, Data: stU16Bytes(0x3F80, 0x4000)},
			}}},
		{"zero-size tensors sharing offsets", stRaw(
			`{"e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"w":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e2":{"dtype":"F16","shape":[3,0],"data_offsets":[8,8]}}`,
			stI64Bytes(9)),
			&SafeTensors{Path: "f", Metadata: map[string]string{}, Tensors: map[string]*SafeTensor{
				"e1": {Name: "e1", DType: "F32", Shape: []int{0}},
				"w":  {Name: "w", DType: "I64", Shape: []int{}, Data: stI64Bytes(9)},
				"e2": {Name: "e2", DType: "F16", Shape: []int{3, 0}},
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSafeTensors("f", tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, stCmpOpts...); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			for k, st := range got.Tensors {
				if cap(st.Data) != len(st.Data) {
					t.Errorf("tensor %q: Data capacity %d exceeds length %d", k, cap(st.Data), len(st.Data))
				}
			}
		})
	}
}

func TestParseSafeTensorsErrors(t *testing.T) {
	f32 := func(offs string) string { return `{"dtype":"F32","shape":[2],"data_offsets":` + offs + `}` }
	eight := make([]byte, 8)
	lenOnly := func(n uint64, total int) []byte {
		b := make([]byte, total)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	tests := []struct {
		name string
		file []byte
		want []string // substrings the error must contain (besides the file name)
	}{
		// Header length and framing.
		{"file too short", []byte{1, 0, 0}, []string{"too short"}},
		{"header length < 2", lenOnly(1, 16), []string{"too small"}},
		{"header length > 100MB", lenOnly(100_000_001, 16), []string{"limit"}},
		{"header length > file", lenOnly(9, 16), []string{"exceeds the 8 bytes"}},
		{"header length huge", lenOnly(math.MaxUint64, 16), []string{"limit"}},
		{"invalid UTF-8", stRaw("{\"\xff\":1}", nil), []string{"UTF-8"}},
		{"not an object", stRaw("[]", nil), []string{"start with '{'"}},
		{"leading space", stRaw(" {}", nil), []string{"start with '{'"}},
		{"truncated JSON", stRaw(`{"w":{"dtype":"F32"`, nil), []string{"invalid JSON", `"w"`}},
		{"trailing object", stRaw(`{}{}`, nil), []string{"after the object"}},
		{"trailing garbage", stRaw(`{}  x`, nil), []string{"invalid JSON"}},
		{"duplicate key", stRaw(`{"w":`+f32("[0,8]")+`,"w":`+f32("[8,16]")+`}`, make([]byte, 16)), []string{"duplicate", `"w"`}},
		{"duplicate key via escape", stRaw(`{"w":`+f32("[0,8]")+`,"\u0077":`+f32("[8,16]")+`}`, make([]byte, 16)), []string{"duplicate", `"w"`}},

		// Entry structure.
		{"entry not object", stRaw(`{"w":[1]}`, nil), []string{`"w"`, "object"}},
		{"entry null", stRaw(`{"w":null}`, nil), []string{`"w"`, "object"}},
		{"missing dtype", stRaw(`{"w":{"shape":[2],"data_offsets":[0,8]}}`, eight), []string{`"w"`, `"dtype"`}},
		{"missing shape", stRaw(`{"w":{"dtype":"F32","data_offsets":[0,8]}}`, eight), []string{`"w"`, `"shape"`}},
		{"missing data_offsets", stRaw(`{"w":{"dtype":"F32","shape":[2]}}`, eight), []string{`"w"`, `"data_offsets"`}},
		{"unknown field", stRaw(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}`, eight), []string{`"w"`, `"extra"`}},
		{"duplicate field", stRaw(`{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "duplicate"}},
		{"dtype not string", stRaw(`{"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "dtype"}},
		{"dtype null", stRaw(`{"w":{"dtype":null,"shape":[2],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "dtype"}},
		{"unsupported dtype", stRaw(`{"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}`, eight), []string{`"w"`, `"I32"`}},
		{"lowercase dtype", stRaw(`{"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}`, eight), []string{`"w"`, `"f32"`}},

		// Shape.
		{"shape not array", stRaw(`{"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, eight), []string{`"w"`, "shape"}},
		{"shape null", stRaw(`{"w":{"dtype":"F32","shape":null,"data_offsets":[0,8]}}`, eight), []string{`"w"`, "shape"}},
		{"shape fraction", stRaw(`{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "shape"}},
		{"shape exponent", stRaw(`{"w":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "shape"}},
		{"shape string", stRaw(`{"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "shape"}},
		{"negative dim", stRaw(`{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "negative"}},
		{"dim beyond int64", stRaw(`{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "shape"}},
		{"element count overflows", stRaw(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "more than"}},
		{"element count exceeds file", stRaw(`{"w":{"dtype":"F32","shape":[1000000],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "more than 2 elements"}},

		// Offsets.
		{"offsets not array", stRaw(`{"w":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}}`, eight), []string{`"w"`, "data_offsets"}},
		{"offsets one element", stRaw(`{"w":`+f32("[8]")+`}`, eight), []string{`"w"`, "2 elements"}},
		{"offsets three elements", stRaw(`{"w":`+f32("[0,8,8]")+`}`, eight), []string{`"w"`, "2 elements"}},
		{"negative offset", stRaw(`{"w":`+f32("[-8,0]")+`}`, eight), []string{`"w"`, "negative"}},
		{"begin after end", stRaw(`{"w":`+f32("[8,0]")+`}`, eight), []string{`"w"`, "begin is after end"}},
		{"end past buffer", stRaw(`{"w":`+f32("[8,16]")+`}`, eight), []string{`"w"`, "past the 8-byte data buffer"}},
		{"size mismatch", stRaw(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, eight), []string{`"w"`, "needs 4"}},

		// Layout.
		{"first not at 0", stRaw(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), []string{`"w"`, "must begin at 0"}},
		{"gap", stRaw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), []string{`"b"`, "gap", `"a"`}},
		{"overlap", stRaw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), []string{`"b"`, "overlap", `"a"`}},
		{"same range twice", stRaw(`{"a":`+f32("[0,8]")+`,"b":`+f32("[0,8]")+`}`, eight), []string{`"b"`, "overlap", `"a"`}},
		{"trailing bytes", stRaw(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight), []string{`"w"`, "data buffer has 8 bytes"}},
		{"data without tensors", stRaw(`{}`, eight), []string{"no tensors"}},

		// Metadata.
		{"metadata not object", stRaw(`{"__metadata__":["a"]}`, nil), []string{`"__metadata__"`, "object"}},
		{"metadata number value", stRaw(`{"__metadata__":{"k":1}}`, nil), []string{`"__metadata__"`, `"k"`, "string"}},
		{"metadata null value", stRaw(`{"__metadata__":{"k":null}}`, nil), []string{`"__metadata__"`, `"k"`, "string"}},
		{"metadata duplicate key", stRaw(`{"__metadata__":{"k":"a","k":"b"}}`, nil), []string{`"__metadata__"`, `"k"`, "duplicate"}},
		{"metadata twice", stRaw(`{"__metadata__":{},"__metadata__":{}}`, nil), []string{`"__metadata__"`, "duplicate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const name = "bad.safetensors"
			got, err := ParseSafeTensors(name, tc.file)
			if err == nil {
				t.Fatalf("ParseSafeTensors succeeded: %+v", got)
			}
			for _, w := range append([]string{name}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestReadSafeTensorsErrorNamesPath checks that validation errors from the
// file reader carry the path.
func TestReadSafeTensorsErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.safetensors")
	if err := os.WriteFile(path, stRaw(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadSafeTensors(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("ReadSafeTensors = %v, want error naming %s and \"w\"", err, path)
	}
}

func FuzzParseSafeTensors(f *testing.F) {
	valid, err := stEncode(stSampleTensors(), map[string]string{"format": "pt"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(valid[:20])
	f.Add(stRaw("{}", nil))
	f.Add(stRaw(`{"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(stRaw(`{"__metadata__":{"a":"b"},"e":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]},"i":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}  `, stI64Bytes(-5)))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseSafeTensors("fuzz", b)
		if err != nil {
			return
		}
		// Anything accepted must convert cleanly and survive a re-encode.
		var tensors []*SafeTensor
		for name, tt := range st.Tensors {
			if tt.Name != name {
				t.Fatalf("tensor %q has Name %q", name, tt.Name)
			}
			vs, err := tt.Float32s()
			if err != nil {
				t.Fatalf("Float32s on accepted tensor: %v", err)
			}
			if len(vs) != tt.NumElements() {
				t.Fatalf("Float32s returned %d values, NumElements %d", len(vs), tt.NumElements())
			}
			if tt.DType == "I64" {
				if _, err := tt.Int64s(); err != nil {
					t.Fatalf("Int64s on accepted tensor: %v", err)
				}
			}
			tensors = append(tensors, tt)
		}
		enc, err := stEncode(tensors, st.Metadata)
		if err != nil {
			t.Fatalf("re-encoding accepted file: %v", err)
		}
		st2, err := ParseSafeTensors("fuzz", enc)
		if err != nil {
			t.Fatalf("re-parsing re-encoded file: %v", err)
		}
		if diff := cmp.Diff(st, st2, stCmpOpts...); diff != "" {
			t.Fatalf("re-encode round trip mismatch:\n%s", diff)
		}
	})
}

// TestSafeTensorsLongNames: a 5 MB tensor name is cut in the error.
func TestSafeTensorsLongNames(t *testing.T) {
	key := strings.Repeat("k", 5<<20)
	for _, b := range [][]byte{
		stRaw(`{"`+key+`":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)),
		stRaw(`{"w":{"dtype":"`+key+`","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)),
	} {
		_, err := ParseSafeTensors("long", b)
		if err == nil || len(err.Error()) > 1000 || !strings.Contains(err.Error(), "(5242880 bytes)") {
			t.Errorf("error %.300v (%d bytes), want a short one", err, len(fmt.Sprint(err)))
		}
	}
}
