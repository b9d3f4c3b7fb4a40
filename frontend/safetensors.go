package frontend

// Strict reader and small deterministic writer for the Hugging Face
// safetensors format.
//
// Layout: an 8-byte little-endian uint64 N, then N bytes of UTF-8 JSON
// header, then the data buffer. The header is an object mapping tensor
// names to {"dtype", "shape", "data_offsets"} entries, plus an optional
// "__metadata__" object of string to string. Offsets are relative to the
// start of the data buffer.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/ptqc/ptqc/internal/safesize"
)

// stMaxHeaderLen is the largest accepted JSON header (same limit as the
// reference Rust implementation).
const stMaxHeaderLen = 100_000_000

// stMetadataKey is the reserved header key holding free-form metadata.
const stMetadataKey = "__metadata__"

// stDTypeSizes lists the supported dtypes and their element sizes in bytes.
var stDTypeSizes = map[string]int{
	"F32":  4,
	"F16":  2,
	"BF16": 2,
	"I64":  8,
}

// SafeTensor is one tensor of a safetensors file.
type SafeTensor struct {
	Name  string
	DType string // "F32", "F16", "BF16" or "I64"
	Shape []int  // empty for a scalar
	Data  []byte // raw little-endian bytes; may alias the parsed buffer
}

// SafeTensors is the parsed content of a safetensors file.
type SafeTensors struct {
	Path     string            // file path (or name) used in error messages
	Metadata map[string]string // never nil after a successful parse
	Tensors  map[string]*SafeTensor
}

// ReadSafeTensors reads and strictly validates the safetensors file at path.
func ReadSafeTensors(path string) (*SafeTensors, error) {
	return readTensors("safetensors", path, 9, false, ParseSafeTensors)
}

// readTensors reads the file at path, checking its first headLen bytes before
// reading the rest: a torch.save file's (when pth and pthFormat says so) or
// else a safetensors file's; then parse parses it. what starts the errors.
func readTensors(what, path string, headLen int, pth bool, parse func(string, []byte) (*SafeTensors, error)) (*SafeTensors, error) {
	b, err := safesize.ReadFile(path, 0, headLen, func(head []byte, size int64) error {
		if pth && pthFormat(path, head) {
			return pthCheckHead(path, head)
		}
		if _, err := stPrefix(head, size); err != nil {
			return fmt.Errorf("%s %s: %w", what, path, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return parse(path, b)
}

// stPrefix checks a safetensors file's first bytes (at least 9 unless the
// file is shorter), of a file of size bytes, and returns the header length.
func stPrefix(head []byte, size int64) (uint64, error) {
	if size < 8 {
		return 0, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", size)
	}
	n := binary.LittleEndian.Uint64(head[:8])
	bad := ""
	switch {
	case n < 2:
		bad = fmt.Sprintf("header length %d is too small (minimum 2)", n)
	case n > stMaxHeaderLen:
		bad = fmt.Sprintf("header length %d exceeds the %d byte limit", n, stMaxHeaderLen)
	case n > uint64(size-8):
		bad = fmt.Sprintf("header length %d exceeds the %d bytes after the length prefix", n, size-8)
	}
	if bad == "" {
		return n, nil
	}
	if len(head) > 8 && head[8] != '{' {
		// Most likely no safetensors file at all: its first bytes are no length.
		return 0, fmt.Errorf("not a safetensors file (first bytes % x, no header length and '{'): %s", head[:min(len(head), 16)], bad)
	}
	return 0, errors.New(bad)
}

// ParseSafeTensors strictly validates and parses a safetensors file held in
// b. name is only used in error messages. The returned tensors' Data slices
// alias b (with capacity clipped to their length).
func ParseSafeTensors(name string, b []byte) (*SafeTensors, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors %s: %s", name, fmt.Sprintf(format, args...))
	}
	n, err := stPrefix(b, int64(len(b)))
	if err != nil {
		return nil, fail("%v", err)
	}
	hdr := b[8 : 8+n]
	buf := b[8+n:]
	if !utf8.Valid(hdr) {
		return nil, fail("header is not valid UTF-8")
	}
	if hdr[0] != '{' {
		return nil, fail("header does not start with '{'")
	}
	fields, err := stObjectFields(hdr)
	if err != nil {
		return nil, fail("invalid JSON header: %v", err)
	}

	st := &SafeTensors{
		Path:     name,
		Metadata: map[string]string{},
		Tensors:  make(map[string]*SafeTensor, len(fields)),
	}
	type span struct {
		key        string
		begin, end uint64
	}
	spans := make([]span, 0, len(fields))
	for _, f := range fields {
		if f.key == stMetadataKey {
			md, err := stParseMetadata(f.value)
			if err != nil {
				return nil, fail("key %q: %v", safesize.Name(f.key), err)
			}
			st.Metadata = md
			continue
		}
		t, begin, end, err := stParseEntry(f.key, f.value, len(buf))
		if err != nil {
			return nil, fail("tensor %q: %v", safesize.Name(f.key), err)
		}
		t.Data = buf[begin:end:end]
		st.Tensors[f.key] = t
		spans = append(spans, span{f.key, begin, end})
	}

	// Tensors must tile the data buffer exactly: sorted by begin, first at
	// 0, each starting where the previous one ended, last ending at the
	// buffer end.
	sort.Slice(spans, func(i, j int) bool {
		a, b := spans[i], spans[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		if a.end != b.end {
			return a.end < b.end
		}
		return a.key < b.key
	})
	var pos uint64
	for i, s := range spans {
		if s.begin != pos {
			if i == 0 {
				return nil, fail("tensor %q: data_offsets begin at %d, but the first tensor must begin at 0", safesize.Name(s.key), s.begin)
			}
			prev := spans[i-1].key
			if s.begin < pos {
				return nil, fail("tensor %q: data_offsets [%d, %d] overlap tensor %q ending at %d", safesize.Name(s.key), s.begin, s.end, safesize.Name(prev), pos)
			}
			return nil, fail("tensor %q: data_offsets begin at %d, leaving a gap after tensor %q ending at %d", safesize.Name(s.key), s.begin, safesize.Name(prev), pos)
		}
		pos = s.end
	}
	if pos != uint64(len(buf)) {
		if len(spans) == 0 {
			return nil, fail("data buffer has %d bytes but the header declares no tensors", len(buf))
		}
		return nil, fail("tensor %q: last tensor ends at %d but the data buffer has %d bytes", safesize.Name(spans[len(spans)-1].key), pos, len(buf))
	}
	return st, nil
}

// stField is one key/value pair of a JSON object, in document order.
type stField struct {
	key   string
	value json.RawMessage
}

// stObjectFields decodes data, which must be exactly one JSON object
// (optionally followed by whitespace), into its fields in order. Duplicate
// keys are rejected.
func stObjectFields(data []byte) ([]stField, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("unexpected end of JSON")
		}
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var fields []stField
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected token %v", tok)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("key %q: %v", key, err)
		}
		fields = append(fields, stField{key, v})
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		if err == io.EOF {
			return nil, errors.New("unexpected end of JSON (unterminated object)")
		}
		return nil, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("unexpected data after the object: %v", tok)
	}
	return fields, nil
}

// stKind returns the first byte of a JSON value (values from the decoder
// carry no leading whitespace).
func stKind(v json.RawMessage) byte {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func stParseMetadata(v json.RawMessage) (map[string]string, error) {
	if stKind(v) != '{' {
		return nil, fmt.Errorf("metadata must be an object of strings, got %.40s", v)
	}
	fields, err := stObjectFields(v)
	if err != nil {
		return nil, err
	}
	md := make(map[string]string, len(fields))
	for _, f := range fields {
		s, err := stString(f.value)
		if err != nil {
			return nil, fmt.Errorf("metadata key %q: %v", safesize.Name(f.key), err)
		}
		md[f.key] = s
	}
	return md, nil
}

func stString(v json.RawMessage) (string, error) {
	if stKind(v) != '"' {
		return "", fmt.Errorf("expected a string, got %.40s", v)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", err
	}
	return s, nil
}

// stUints decodes a JSON array of non-negative integers. Fractions,
// exponents, strings, nulls and values above max are rejected.
func stUints(v json.RawMessage, max uint64) ([]uint64, error) {
	if stKind(v) != '[' {
		return nil, fmt.Errorf("expected an array of integers, got %.40s", v)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(v, &elems); err != nil {
		return nil, err
	}
	out := make([]uint64, len(elems))
	for i, e := range elems {
		if c := stKind(e); c == '-' {
			return nil, fmt.Errorf("element %d is negative: %s", i, e)
		} else if c < '0' || c > '9' {
			return nil, fmt.Errorf("element %d is not an integer: %.40s", i, e)
		}
		u, err := strconv.ParseUint(string(e), 10, 64)
		if err != nil || u > max {
			return nil, fmt.Errorf("element %d is not an integer or is out of range: %.40s", i, e)
		}
		out[i] = u
	}
	return out, nil
}

// stNumElements is safesize.Elements with the limit named in the error.
func stNumElements(shape []int, limit int) (int, error) {
	n, err := safesize.Elements(shape, limit)
	if errors.Is(err, safesize.ErrTooMany) {
		return 0, fmt.Errorf("shape %v has more than %d elements", shape, limit)
	}
	return n, err
}

// stParseEntry validates one tensor entry against a data buffer of bufLen
// bytes and returns the tensor (without Data) and its offsets.
func stParseEntry(key string, v json.RawMessage, bufLen int) (*SafeTensor, uint64, uint64, error) {
	if stKind(v) != '{' {
		return nil, 0, 0, fmt.Errorf("entry must be an object, got %.40s", v)
	}
	fields, err := stObjectFields(v)
	if err != nil {
		return nil, 0, 0, err
	}
	var dtypeV, shapeV, offV json.RawMessage
	for _, f := range fields {
		switch f.key {
		case "dtype":
			dtypeV = f.value
		case "shape":
			shapeV = f.value
		case "data_offsets":
			offV = f.value
		default:
			return nil, 0, 0, fmt.Errorf("unknown field %q", safesize.Name(f.key))
		}
	}
	for _, req := range []struct {
		name string
		v    json.RawMessage
	}{{"dtype", dtypeV}, {"shape", shapeV}, {"data_offsets", offV}} {
		if req.v == nil {
			return nil, 0, 0, fmt.Errorf("missing field %q", req.name)
		}
	}

	dtype, err := stString(dtypeV)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("dtype: %v", err)
	}
	size, ok := stDTypeSizes[dtype]
	if !ok {
		return nil, 0, 0, fmt.Errorf("unsupported dtype %q (supported: F32, F16, BF16, I64)", safesize.Name(dtype))
	}

	dims, err := stUints(shapeV, math.MaxInt)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("shape: %v", err)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	count, err := stNumElements(shape, bufLen/size)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("shape: %v (data buffer is %d bytes)", err, bufLen)
	}

	offs, err := stUints(offV, math.MaxUint64)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("data_offsets: %v", err)
	}
	if len(offs) != 2 {
		return nil, 0, 0, fmt.Errorf("data_offsets must have 2 elements, got %d", len(offs))
	}
	begin, end := offs[0], offs[1]
	if begin > end {
		return nil, 0, 0, fmt.Errorf("data_offsets [%d, %d]: begin is after end", begin, end)
	}
	if end > uint64(bufLen) {
		return nil, 0, 0, fmt.Errorf("data_offsets [%d, %d] extend past the %d-byte data buffer", begin, end, bufLen)
	}
	if want := uint64(count) * uint64(size); end-begin != want {
		return nil, 0, 0, fmt.Errorf("data_offsets [%d, %d] span %d bytes, but %s shape %v needs %d", begin, end, end-begin, dtype, shape, want)
	}
	return &SafeTensor{Name: key, DType: dtype, Shape: shape}, begin, end, nil
}

// NumElements returns the product of the shape (1 for a scalar), or -1 if
// the shape has a negative dimension or its product overflows int.
func (t *SafeTensor) NumElements() int {
	n, err := stNumElements(t.Shape, math.MaxInt)
	if err != nil {
		return -1
	}
	return n
}

// stCheck verifies that Data holds exactly NumElements elements of DType,
// returning the element count.
func (t *SafeTensor) stCheck() (int, error) {
	size, ok := stDTypeSizes[t.DType]
	if !ok {
		return 0, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", safesize.Name(t.Name), safesize.Name(t.DType))
	}
	n, err := stNumElements(t.Shape, math.MaxInt/size)
	if err != nil {
		return 0, fmt.Errorf("safetensors: tensor %q: %v", safesize.Name(t.Name), err)
	}
	if len(t.Data) != n*size {
		return 0, fmt.Errorf("safetensors: tensor %q: %s shape %v needs %d bytes, have %d", safesize.Name(t.Name), t.DType, t.Shape, n*size, len(t.Data))
	}
	return n, nil
}

// Float32s converts the tensor to float32. F32 is copied, F16 (IEEE 754
// half, including subnormals, infinities and NaN) and BF16 are widened
// exactly, and I64 is converted with float32(v) rounding.
func (t *SafeTensor) Float32s() ([]float32, error) {
	n, err := t.stCheck()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	d := t.Data
	switch t.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = HalfToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
		}
	case "I64":
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(d[8*i:])))
		}
	}
	return out, nil
}

// Int64s returns the values of an I64 tensor.
func (t *SafeTensor) Int64s() ([]int64, error) {
	if t.DType != "I64" {
		return nil, fmt.Errorf("safetensors: tensor %q: Int64s needs dtype I64, have %q", safesize.Name(t.Name), safesize.Name(t.DType))
	}
	n, err := t.stCheck()
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// HalfToFloat32 converts IEEE 754 binary16 bits to a float32 exactly (every
// half value is representable as one), NaN payloads kept; safetensors F16
// and ONNX FLOAT16 tensors both read through it.
func HalfToFloat32(h uint16) float32 {
	return math.Float32frombits(halfToFloat32Bits(h))
}

func halfToFloat32Bits(h uint16) uint32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf / nan, payload preserved
		return sign | 0xff<<23 | mant<<13
	case exp == 0 && mant == 0: // signed zero
		return sign
	case exp == 0: // subnormal: normalize
		e := uint32(1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return sign | (e+112)<<23 | (mant&0x3ff)<<13
	default:
		return sign | (exp+112)<<23 | mant<<13
	}
}

// stEncode serializes tensors deterministically: keys sorted, header
// padded with spaces so the data buffer starts 8-byte aligned, data in key
// order.
func stEncode(tensors []*SafeTensor, metadata map[string]string) ([]byte, error) {
	sorted := make([]*SafeTensor, len(tensors))
	copy(sorted, tensors)
	for i, t := range sorted {
		if t == nil {
			return nil, fmt.Errorf("safetensors: tensor %d is nil", i)
		}
		if t.Name == stMetadataKey {
			return nil, fmt.Errorf("safetensors: tensor name %q is reserved", safesize.Name(t.Name))
		}
		if !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", safesize.Name(t.Name))
		}
		if _, err := t.stCheck(); err != nil {
			return nil, err
		}
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("safetensors: metadata key %q: key or value is not valid UTF-8", k)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Name == sorted[i-1].Name {
			return nil, fmt.Errorf("safetensors: duplicate tensor %q", sorted[i].Name)
		}
	}

	type entry struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets []uint64 `json:"data_offsets"`
	}
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	sep := ""
	if len(metadata) > 0 {
		md, err := json.Marshal(metadata) // map keys are sorted
		if err != nil {
			return nil, fmt.Errorf("safetensors: metadata: %v", err)
		}
		fmt.Fprintf(&hdr, "%q:%s", stMetadataKey, md)
		sep = ","
	}
	var off uint64
	for _, t := range sorted {
		key, err := json.Marshal(t.Name)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %v", safesize.Name(t.Name), err)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		end := off + uint64(len(t.Data))
		val, err := json.Marshal(entry{t.DType, shape, []uint64{off, end}})
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %v", safesize.Name(t.Name), err)
		}
		hdr.WriteString(sep)
		hdr.Write(key)
		hdr.WriteByte(':')
		hdr.Write(val)
		sep = ","
		off = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	if hdr.Len() > stMaxHeaderLen {
		return nil, fmt.Errorf("safetensors: header is %d bytes, above the %d byte limit", hdr.Len(), stMaxHeaderLen)
	}

	out := make([]byte, 8, 8+uint64(hdr.Len())+off)
	binary.LittleEndian.PutUint64(out, uint64(hdr.Len()))
	out = append(out, hdr.Bytes()...)
	for _, t := range sorted {
		out = append(out, t.Data...)
	}
	return out, nil
}

// WriteSafeTensors writes tensors and metadata to path deterministically
// (keys sorted, header space-padded to 8-byte alignment, data in key
// order). It writes a temporary file in the same directory and renames it
// into place, so path is never left half-written.
func WriteSafeTensors(path string, tensors []*SafeTensor, metadata map[string]string) (err error) {
	b, err := stEncode(tensors, metadata)
	if err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}
