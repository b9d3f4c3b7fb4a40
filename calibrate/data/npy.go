package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/ptqc/ptqc/internal/safesize"
)

// NumPy dtype names used in Npy.DType.
const (
	Float32 = "float32" // '<f4'
	Uint8   = "uint8"   // '|u1'
	Int32   = "int32"   // '<i4'
	Int64   = "int64"   // '<i8'
)

// Npy is a NumPy array read from or written to a .npy file. Exactly one of the data
// slices is set, the one of DType, with as many elements as the shape implies (a
// 0-dimensional array has one).
type Npy struct {
	DType string
	Shape []int
	F32   []float32
	U8    []uint8
	I32   []int32
	I64   []int64
}

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// maxNpyDims bounds the number of dimensions (NumPy's own limit is 64).
const maxNpyDims = 64

// npyDescrs are the header's descr values ptqc reads: little-endian (a byte
// has no order).
var npyDescrs = map[string]struct {
	dtype string
	size  int
}{
	"<f4": {Float32, 4},
	"|u1": {Uint8, 1}, "<u1": {Uint8, 1}, ">u1": {Uint8, 1}, "u1": {Uint8, 1},
	"<i4": {Int32, 4},
	"<i8": {Int64, 8},
}

// npyHeader is the parsed header of a .npy file; the data is b[off:off+size*count].
type npyHeader struct {
	dtype string
	size  int // bytes per element
	shape []int
	count int // number of elements
	off   int // offset of the data
}

// parseNpyHeader parses and checks the header of a .npy file held in b: versions 1.0,
// 2.0 and 3.0, little-endian float32, int32, int64 or uint8 data in C order, and a shape
// whose data is exactly the rest of b. The element count is checked against the bytes
// present before anything is computed from it, so a corrupt header cannot overflow or
// cause a large allocation.
func parseNpyHeader(b []byte) (*npyHeader, error) { return parseNpyHead(b, len(b)) }

// npyHeadLen is the length of the header of a .npy file whose first bytes
// are b (at least npyPrefix of them, or the whole file): the data's offset.
func npyHeadLen(b []byte) (int, error) {
	if len(b) < len(npyMagic)+2 || string(b[:len(npyMagic)]) != npyMagic {
		return 0, errors.New("not a .npy file (bad magic)")
	}
	switch b[6] {
	case 1:
		if len(b) >= 10 {
			return 10 + int(binary.LittleEndian.Uint16(b[8:10])), nil
		}
	case 2, 3:
		if len(b) >= 12 {
			return 12 + int(binary.LittleEndian.Uint32(b[8:12])), nil
		}
	}
	return len(b), nil // parseNpyHead reports what is wrong
}

// npyPrefix is the most bytes npyHeadLen needs.
const npyPrefix = 12

// parseNpyHead is parseNpyHeader for a file of size bytes of which b holds
// the first ones, at least the header.
func parseNpyHead(b []byte, size int) (*npyHeader, error) {
	if len(b) < len(npyMagic)+2 || string(b[:len(npyMagic)]) != npyMagic {
		return nil, errors.New("not a .npy file (bad magic)")
	}
	major, minor := b[6], b[7]
	var hlen, off int
	switch major {
	case 1:
		if len(b) < 10 {
			return nil, errors.New("npy: truncated header")
		}
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, errors.New("npy: truncated header")
		}
		n := binary.LittleEndian.Uint32(b[8:12])
		if uint64(n) > uint64(size-12) {
			return nil, fmt.Errorf("npy: header length %d exceeds the file (%d bytes)", n, size)
		}
		hlen, off = int(n), 12
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", major, minor)
	}
	if minor != 0 {
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", major, minor)
	}
	if hlen > size-off {
		return nil, fmt.Errorf("npy: header length %d exceeds the file (%d bytes)", hlen, size)
	}
	if hlen > len(b)-off {
		return nil, fmt.Errorf("npy: header of %d bytes: only %d read", hlen, len(b)-off)
	}
	dict, err := parsePyDict(string(b[off : off+hlen]))
	if err != nil {
		return nil, fmt.Errorf("npy: header: %w", err)
	}
	h := &npyHeader{off: off + hlen}
	for key := range dict {
		if key != "descr" && key != "fortran_order" && key != "shape" {
			return nil, fmt.Errorf("npy: header: unexpected key %q", key)
		}
	}
	descr, err := headerField[string](dict, "descr", "a string (structured dtypes are not supported)")
	if err != nil {
		return nil, err
	}
	dt, ok := npyDescrs[descr]
	if !ok {
		if strings.HasPrefix(descr, ">") && npyDescrs["<"+descr[1:]].size > 0 {
			return nil, fmt.Errorf("npy: big-endian dtype %q is not supported", descr)
		}
		return nil, fmt.Errorf("npy: unsupported dtype %q (want '<f4', '|u1', '<i4' or '<i8')", descr)
	}
	h.dtype, h.size = dt.dtype, dt.size
	fo, err := headerField[bool](dict, "fortran_order", "a bool")
	if err != nil {
		return nil, err
	}
	if fo {
		return nil, errors.New("npy: fortran_order True (column-major) arrays are not supported")
	}
	shape, err := headerField[[]int](dict, "shape", "a tuple of integers")
	if err != nil {
		return nil, err
	}
	if len(shape) > maxNpyDims {
		return nil, fmt.Errorf("npy: %d dimensions (at most %d)", len(shape), maxNpyDims)
	}
	h.shape = shape
	rest := size - h.off
	count, err := safesize.Elements(shape, math.MaxInt/h.size)
	if err != nil {
		return nil, fmt.Errorf("npy: shape %s of %s: %w (the file has %d data bytes)", shapeString(shape), h.dtype, err, rest)
	}
	h.count = count
	if n := count * h.size; n != rest {
		if n > rest {
			return nil, fmt.Errorf("npy: truncated data: shape %s of %s needs %d bytes, the file has %d", shapeString(shape), h.dtype, n, rest)
		}
		return nil, fmt.Errorf("npy: %d trailing bytes after the data of shape %s of %s", rest-n, shapeString(shape), h.dtype)
	}
	return h, nil
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// ParseNpy decodes a whole .npy file held in b (see parseNpyHeader for what is
// accepted). It never panics and allocates only in proportion to len(b).
func ParseNpy(b []byte) (*Npy, error) {
	h, err := parseNpyHeader(b)
	if err != nil {
		return nil, err
	}
	a := &Npy{DType: h.dtype, Shape: h.shape}
	d := b[h.off:]
	switch h.dtype {
	case Float32:
		a.F32 = make([]float32, h.count)
		for i := range a.F32 {
			a.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case Uint8:
		a.U8 = make([]uint8, h.count)
		copy(a.U8, d)
	case Int32:
		a.I32 = make([]int32, h.count)
		for i := range a.I32 {
			a.I32[i] = int32(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case Int64:
		a.I64 = make([]int64, h.count)
		for i := range a.I64 {
			a.I64[i] = int64(binary.LittleEndian.Uint64(d[8*i:]))
		}
	}
	return a, nil
}

// headerField is the header's value at key, what says what it must be.
func headerField[T any](dict map[string]any, key, what string) (T, error) {
	v, ok := dict[key].(T)
	if !ok {
		return v, fmt.Errorf("npy: header: '%s' missing or not %s", key, what)
	}
	return v, nil
}

// ReadNpy reads a .npy file.
func ReadNpy(path string) (*Npy, error) {
	b, err := safesize.ReadFile(path, 0, len(npyMagic), func(head []byte, _ int64) error {
		if string(head) != npyMagic {
			return fmt.Errorf("%s: not a .npy file (bad magic)", path)
		}
		return nil
	})
	return parseRead(path, b, err, ParseNpy)
}

// parseRead is parse(b) for the bytes b of the file at path, its error naming
// path; err is the read's.
func parseRead[T any](path string, b []byte, err error, parse func([]byte) (*T, error)) (*T, error) {
	if err != nil {
		return nil, err
	}
	x, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

// EncodeNpy encodes a as a .npy file (format version 1.0, or 2.0 when the header
// needs it). The data slice of a.DType must have as many elements as a.Shape implies.
func EncodeNpy(a *Npy) ([]byte, error) {
	if a == nil {
		return nil, errors.New("npy: nil array")
	}
	var descr string
	var size, have int
	switch a.DType {
	case Float32:
		descr, size, have = "<f4", 4, len(a.F32)
	case Uint8:
		descr, size, have = "|u1", 1, len(a.U8)
	case Int32:
		descr, size, have = "<i4", 4, len(a.I32)
	case Int64:
		descr, size, have = "<i8", 8, len(a.I64)
	default:
		return nil, fmt.Errorf("npy: unsupported dtype %q", a.DType)
	}
	want, err := safesize.Elements(a.Shape, math.MaxInt/size)
	if err != nil {
		return nil, fmt.Errorf("npy: shape %s: %w", shapeString(a.Shape), err)
	}
	if want != have {
		return nil, fmt.Errorf("npy: shape %s has %d elements, the %s data has %d", shapeString(a.Shape), want, a.DType, have)
	}
	shape := shapeString(a.Shape)
	if len(a.Shape) == 0 {
		shape = "()"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	// Pad with spaces and end with a newline so that the data starts at a multiple of
	// 64 bytes, as NumPy does.
	major, pre := byte(1), 10
	total := pre + len(dict) + 1
	total = (total + 63) / 64 * 64
	if total-pre > math.MaxUint16 {
		major, pre = 2, 12
		total = (pre + len(dict) + 1 + 63) / 64 * 64
	}
	hlen := total - pre
	out := make([]byte, 0, total+want*size)
	out = append(out, npyMagic...)
	out = append(out, major, 0)
	if major == 1 {
		out = binary.LittleEndian.AppendUint16(out, uint16(hlen))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(hlen))
	}
	out = append(out, dict...)
	for len(out) < total-1 {
		out = append(out, ' ')
	}
	out = append(out, '\n')
	switch a.DType {
	case Float32:
		for _, v := range a.F32 {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	case Uint8:
		out = append(out, a.U8...)
	case Int32:
		for _, v := range a.I32 {
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		}
	case Int64:
		for _, v := range a.I64 {
			out = binary.LittleEndian.AppendUint64(out, uint64(v))
		}
	}
	return out, nil
}

// WriteNpy writes a to path as a .npy file.
func WriteNpy(path string, a *Npy) error {
	b, err := EncodeNpy(a)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

// WriteNpyF32 writes float32 data of the given shape to path as a .npy file.
func WriteNpyF32(path string, shape []int, data []float32) error {
	return WriteNpy(path, &Npy{DType: Float32, Shape: shape, F32: data})
}

// WriteNpyU8 writes uint8 data of the given shape to path as a .npy file.
func WriteNpyU8(path string, shape []int, data []uint8) error {
	return WriteNpy(path, &Npy{DType: Uint8, Shape: shape, U8: data})
}

// WriteNpyI64 writes int64 data of the given shape to path as a .npy file.
func WriteNpyI64(path string, shape []int, data []int64) error {
	return WriteNpy(path, &Npy{DType: Int64, Shape: shape, I64: data})
}

// parsePyDict parses the Python dict literal of a .npy header: string keys; values
// that are strings, True/False, or tuples of non-negative integers (a Python 2 'L'
// suffix allowed). Anything else is an error. Trailing whitespace is allowed.
func parsePyDict(s string) (map[string]any, error) {
	p := &pyParser{s: s}
	p.space()
	if !p.eat('{') {
		return nil, p.errorf("expected '{'")
	}
	dict := map[string]any{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, p.errorf("expected ':' after key %q", key)
		}
		p.space()
		val, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		if _, dup := dict[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		dict[key] = val
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return nil, p.errorf("expected ',' or '}'")
		}
		break
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected text after the dict")
	}
	return dict, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *pyParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r', '\x00':
			p.i++
		default:
			return
		}
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", p.errorf("expected a string")
	}
	q := p.s[p.i]
	j := strings.IndexByte(p.s[p.i+1:], q)
	if j < 0 {
		return "", p.errorf("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+j]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", p.errorf("escapes in strings are not supported")
	}
	p.i += j + 2
	return v, nil
}

func (p *pyParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, p.errorf("expected a value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		return p.str()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case c == '(':
		p.i++
		dims := []int{}
		for {
			p.space()
			if p.eat(')') {
				return dims, nil
			}
			if len(dims) >= maxNpyDims {
				return nil, p.errorf("more than %d dimensions", maxNpyDims)
			}
			d, err := p.integer()
			if err != nil {
				return nil, err
			}
			dims = append(dims, d)
			p.space()
			if p.eat(',') {
				continue
			}
			if !p.eat(')') {
				return nil, p.errorf("expected ',' or ')' in tuple")
			}
			if len(dims) == 1 {
				// (5) is not a tuple in Python; NumPy always writes (5,).
				return nil, p.errorf("one-element tuple without a trailing comma")
			}
			return dims, nil
		}
	default:
		return nil, p.errorf("unsupported value")
	}
}

func (p *pyParser) integer() (int, error) {
	j := p.i
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j == p.i {
		return 0, p.errorf("expected a non-negative integer")
	}
	n, err := strconv.Atoi(p.s[p.i:j])
	if err != nil {
		return 0, p.errorf("integer %s out of range", p.s[p.i:j])
	}
	p.i = j
	if p.i < len(p.s) && (p.s[p.i] == 'L' || p.s[p.i] == 'l') {
		p.i++
	}
	return n, nil
}
