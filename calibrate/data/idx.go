package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ptqc/ptqc/internal/safesize"
)

// IDX magic numbers of unsigned-byte files (MNIST): 0x0000 0x08 (uint8) and the number of
// dimensions.
const (
	IDXImagesMagic = 0x00000803 // N x H x W images
	IDXLabelsMagic = 0x00000801 // N labels
)

// maxIDXDims bounds the number of dimensions of an IDX file.
const maxIDXDims = 16

// maxIDXBytes bounds the decompressed size of a gzipped IDX file (2 GiB).
const maxIDXBytes = 1<<31 - 1

// IDX is the content of an IDX file of unsigned bytes (the MNIST format).
type IDX struct {
	Magic uint32 // 0x0000 0x08 ndims, e.g. IDXImagesMagic
	Dims  []int
	Data  []uint8 // product(Dims) bytes, row-major
}

// ParseIDX decodes an uncompressed IDX file held in b: a big-endian magic number
// 0x0000 0x08 ndims (unsigned bytes), ndims big-endian uint32 sizes, then exactly
// product(sizes) bytes. Data aliases b. It never panics and does not allocate in
// proportion to what the header claims.
func ParseIDX(b []byte) (*IDX, error) {
	dims, off, err := parseIDXHeader(b)
	if err != nil {
		return nil, err
	}
	rest := len(b) - off
	n, err := safesize.Elements(dims, math.MaxInt)
	if err != nil {
		return nil, fmt.Errorf("idx: dimensions %v: %w (the file has %d data bytes)", dims, err, rest)
	}
	if n != rest {
		if n > rest {
			return nil, fmt.Errorf("idx: truncated data: dimensions %v need %d bytes, the file has %d", dims, n, rest)
		}
		return nil, fmt.Errorf("idx: %d trailing bytes after the data of dimensions %v", rest-n, dims)
	}
	return &IDX{Magic: binary.BigEndian.Uint32(b), Dims: dims, Data: b[off:]}, nil
}

// parseIDXHeader checks the magic number and returns the dimensions and the offset of
// the data.
func parseIDXHeader(b []byte) ([]int, int, error) {
	if len(b) < 4 {
		return nil, 0, errors.New("idx: file too short for a magic number")
	}
	if b[0] != 0 || b[1] != 0 {
		return nil, 0, fmt.Errorf("idx: bad magic number 0x%08x", binary.BigEndian.Uint32(b))
	}
	if b[2] != 0x08 {
		return nil, 0, fmt.Errorf("idx: magic number 0x%08x: data type 0x%02x is not supported (only 0x08, unsigned byte)", binary.BigEndian.Uint32(b), b[2])
	}
	nd := int(b[3])
	if nd < 1 || nd > maxIDXDims {
		return nil, 0, fmt.Errorf("idx: magic number 0x%08x: %d dimensions", binary.BigEndian.Uint32(b), nd)
	}
	off := 4 + 4*nd
	if len(b) < off {
		return nil, 0, fmt.Errorf("idx: truncated header: %d dimensions need %d bytes, the file has %d", nd, off, len(b))
	}
	dims := make([]int, nd)
	for i := range dims {
		d := binary.BigEndian.Uint32(b[4+4*i:])
		if d > 1<<31-1 {
			return nil, 0, fmt.Errorf("idx: dimension %d is %d", i, d)
		}
		dims[i] = int(d)
	}
	return dims, off, nil
}

// isGzip reports whether b starts like a gzip stream.
func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// ReadIDX reads an IDX file, gunzipping it if it is gzip-compressed (recognised by its
// content, not its name).
func ReadIDX(path string) (*IDX, error) {
	b, err := readMaybeGzip(path)
	return parseRead(path, b, err, ParseIDX)
}

// formatError is readMaybeGzip's error for a file that is neither a .npy
// nor an IDX file, gzipped or not; head is its first bytes.
type formatError struct{ head []byte }

func (e *formatError) Error() string {
	return fmt.Sprintf("unrecognised format (first bytes % x)", e.head)
}

// isIDX reports whether b starts like an IDX file of unsigned bytes.
func isIDX(b []byte) bool { return len(b) >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0x08 }

// readMaybeGzip returns the content of path, a regular file, decompressed if it is
// gzipped. Its magic is checked first: a file that is neither a .npy nor an IDX file
// is a *formatError before its body is read. A gzipped file's IDX header is read
// first and only as many bytes as it announces (plus one, to detect trailing data)
// are decompressed, in a buffer that grows with the data actually present.
func readMaybeGzip(path string) ([]byte, error) {
	f, size, err := safesize.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(8)
	if !isGzip(head) {
		if !bytes.HasPrefix(head, []byte(npyMagic)) && !isIDX(head) {
			return nil, &formatError{head: append([]byte(nil), head...)}
		}
		if size > math.MaxInt-1 {
			return nil, fmt.Errorf("%s: %d bytes is too large", path, size)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return b, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", path, err)
	}
	var buf bytes.Buffer
	wrap := func(err error) error {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: truncated (decompressed %d bytes)", path, buf.Len())
		}
		return fmt.Errorf("%s: gzip: %w", path, err)
	}
	if _, err := io.CopyN(&buf, zr, 4); err != nil {
		return nil, wrap(err)
	}
	b := buf.Bytes()
	if b[0] != 0 || b[1] != 0 || b[2] != 0x08 || b[3] < 1 || int(b[3]) > maxIDXDims {
		return nil, fmt.Errorf("%s: gzipped file is not an IDX file of unsigned bytes (magic 0x%08x)", path, binary.BigEndian.Uint32(b))
	}
	if _, err := io.CopyN(&buf, zr, 4*int64(b[3])); err != nil {
		return nil, wrap(err)
	}
	dims, _, err := parseIDXHeader(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	n, err := safesize.Elements(dims, maxIDXBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: idx: dimensions %v: more than %d bytes", path, dims, int64(maxIDXBytes))
	}
	off := buf.Len()
	if _, err := io.Copy(&buf, io.LimitReader(zr, int64(n)+1)); err != nil {
		return nil, wrap(err)
	}
	if buf.Len()-off > n {
		return nil, fmt.Errorf("%s: idx: trailing bytes after the %d data bytes of dimensions %v", path, n, dims)
	}
	// ParseIDX reports truncated data.
	return buf.Bytes(), nil
}
