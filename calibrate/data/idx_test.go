package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// idxBytes builds an IDX file: magic, dims, data.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseIDX(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	got, err := ParseIDX(idxBytes(IDXImagesMagic, []uint32{2, 3, 2}, data))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&IDX{Magic: IDXImagesMagic, Dims: []int{2, 3, 2}, Data: data}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	got, err = ParseIDX(idxBytes(IDXLabelsMagic, []uint32{3}, []byte{9, 0, 1}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&IDX{Magic: IDXLabelsMagic, Dims: []int{3}, Data: []byte{9, 0, 1}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "idx: file too short for a magic number"},
		{"bad magic", idxBytes(0x01000803, []uint32{1, 1, 1}, []byte{0}), "idx: bad magic number 0x01000803"},
		{"int type", idxBytes(0x00000c01, []uint32{1}, []byte{0, 0, 0, 0}), "data type 0x0c is not supported (only 0x08, unsigned byte)"},
		{"no dims", idxBytes(0x00000800, nil, nil), "idx: magic number 0x00000800: 0 dimensions"},
		{"truncated header", idxBytes(IDXImagesMagic, []uint32{1, 1}, nil), "truncated header: 3 dimensions need 16 bytes, the file has 12"},
		{"truncated data", idxBytes(IDXImagesMagic, []uint32{2, 2, 2}, make([]byte, 7)), "truncated data: dimensions [2 2 2] need 8 bytes, the file has 7"},
		{"trailing data", idxBytes(IDXLabelsMagic, []uint32{2}, make([]byte, 3)), "1 trailing bytes after the data of dimensions [2]"},
		{"absurd", idxBytes(IDXImagesMagic, []uint32{60000, 28000, 28000}, make([]byte, 100)), "truncated data: dimensions [60000 28000 28000] need 47040000000000 bytes"},
		{"huge dim", idxBytes(IDXLabelsMagic, []uint32{0xffffffff}, nil), "idx: dimension 0 is 4294967295"},
		{"overflow", idxBytes(0x00000803+1, []uint32{1 << 30, 1 << 30, 1 << 30, 1 << 30}, nil), "has too many elements"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := ParseIDX(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if x != nil {
				t.Errorf("result %+v with an error", x)
			}
		})
	}
}

func TestReadIDX(t *testing.T) {
	dir := t.TempDir()
	raw := idxBytes(IDXImagesMagic, []uint32{1, 2, 2}, []byte{1, 2, 3, 4})
	want := &IDX{Magic: IDXImagesMagic, Dims: []int{1, 2, 2}, Data: []byte{1, 2, 3, 4}}
	// Compression is recognised by content, whatever the name.
	for name, b := range map[string][]byte{"plain": raw, "plain.gz": raw, "zipped": gzipBytes(t, raw), "zipped.gz": gzipBytes(t, raw)} {
		got, err := ReadIDX(writeFile(t, filepath.Join(dir, name), b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
	zipped := gzipBytes(t, raw)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated gzip", zipped[:len(zipped)-12], "truncated"},
		{"truncated gzip header", zipped[:5], "gzip: unexpected EOF"},
		{"gzip data short", gzipBytes(t, raw[:len(raw)-1]), "truncated data: dimensions [1 2 2] need 4 bytes, the file has 3"},
		{"gzip trailing", gzipBytes(t, append(raw, 0, 0)), "idx: trailing bytes after the 4 data bytes of dimensions [1 2 2]"},
		{"gzip not idx", gzipBytes(t, []byte("hello world")), "gzipped file is not an IDX file of unsigned bytes (magic 0x68656c6c)"},
		{"gzip short header", gzipBytes(t, raw[:9]), "truncated (decompressed 9 bytes)"},
		{"gzip absurd", gzipBytes(t, idxBytes(IDXImagesMagic, []uint32{1 << 20, 1 << 20, 1 << 20}, nil)), "more than 2147483647 bytes"},
		{"gzip claims more", gzipBytes(t, idxBytes(IDXImagesMagic, []uint32{1000, 1000, 1000}, []byte{1})), "truncated data: dimensions [1000 1000 1000] need 1000000000 bytes, the file has 1"},
		{"corrupt checksum", func() []byte {
			b := append([]byte(nil), zipped...)
			b[len(b)-8] ^= 0xff
			return b
		}(), "gzip: gzip: invalid checksum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(dir, "bad-images-idx3-ubyte.gz"), tc.b)
			_, err := ReadIDX(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), path) {
				t.Fatalf("error %v, want one starting with the path and containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseIDX(f *testing.F) {
	f.Add(idxBytes(IDXImagesMagic, []uint32{1, 2, 2}, []byte{1, 2, 3, 4}))
	f.Add(idxBytes(IDXLabelsMagic, []uint32{3}, []byte{1, 2, 3}))
	f.Add(idxBytes(IDXImagesMagic, []uint32{1 << 30, 1 << 30, 2}, []byte{1, 2, 3, 4}))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ParseIDX(b)
		if err != nil {
			return
		}
		n := 1
		for _, d := range x.Dims {
			n *= d
		}
		if n != len(x.Data) || len(x.Dims) != int(b[3]) {
			t.Fatalf("dims %v with %d data bytes", x.Dims, len(x.Data))
		}
	})
}
