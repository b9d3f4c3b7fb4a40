// Package safesize is the arithmetic and file access every reader of outside
// bytes shares: sizes computed from a file's contents are checked without
// overflow against the bytes actually present before anything is allocated or
// sliced, and only regular files are read, their header checked before the
// body. It imports nothing of ptqc, so ir, frontend, calibrate/data and
// compiler can all use it.
package safesize

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
)

// ErrTooMany is Elements' error for a product above its limit.
var ErrTooMany = errors.New("has too many elements")

// Mul returns a*b and whether it is exact: a and b non-negative and the
// product at most math.MaxInt.
func Mul(a, b int) (int, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a != 0 && b > math.MaxInt/a {
		return 0, false
	}
	return a * b, true
}

// Add returns a+b and whether it is exact for non-negative a and b.
func Add(a, b int) (int, bool) {
	if a < 0 || b < 0 || a > math.MaxInt-b {
		return 0, false
	}
	return a + b, true
}

// Elements returns the product of shape (0 when a dimension is 0), failing on a
// negative dimension or on a product above limit (ErrTooMany), computed
// without overflow.
func Elements(shape []int, limit int) (int, error) {
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("dimension %d is negative (%d)", i, d)
		}
	}
	if slices.Contains(shape, 0) {
		return 0, nil
	}
	n := 1
	for _, d := range shape {
		if n > limit/d {
			return 0, ErrTooMany
		}
		n *= d
	}
	return n, nil
}

// Bytes returns count*size when that is at most have, the bytes present, and
// an error saying what was claimed otherwise (overflow included).
func Bytes(count, size, have int) (int, error) {
	n, ok := Mul(count, size)
	if !ok || n > have {
		return 0, fmt.Errorf("%d elements of %d bytes need more than the %d bytes present", count, size, have)
	}
	return n, nil
}

// Name shortens s (a key or a name read from a file) for an error message.
func Name(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:max], len(s))
}

// Open opens path for reading if it is a regular file (symbolic links
// followed). A FIFO, device, socket or directory is refused before it is
// opened, so that nothing blocks on it or reads it forever. The size is the
// file's at open.
func Open(path string) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if err := regular(path, st); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	// The name may have been replaced between the two calls.
	if st, err = f.Stat(); err != nil {
		f.Close()
		return nil, 0, err
	}
	if err := regular(path, st); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func regular(path string, st fs.FileInfo) error {
	m := st.Mode()
	if m.IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory, not a file"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), not a regular file"
	case m&fs.ModeDevice != 0:
		what = "a device, not a regular file"
	case m&fs.ModeSocket != 0:
		what = "a socket, not a regular file"
	}
	return &fs.PathError{Op: "open", Path: path, Err: errors.New(what)}
}

// ReadFile reads the regular file at path. check, if not nil, sees the
// first min(size, head) bytes and the file's size before the rest is read, so
// that a file of the wrong kind is refused before its body costs memory;
// limit, if positive, bounds the size. The buffer is the file's size at open: a file that grows
// meanwhile is read up to that size, one that shrinks is an error.
func ReadFile(path string, limit int64, head int, check func(head []byte, size int64) error) ([]byte, error) {
	f, size, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if limit > 0 && size > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d this kind of file may have", path, size, limit)
	}
	if size > math.MaxInt-1 {
		return nil, fmt.Errorf("%s: %d bytes is too large", path, size)
	}
	h := make([]byte, min(int64(head), size))
	if _, err := io.ReadFull(f, h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if check != nil {
		if err := check(h, size); err != nil {
			return nil, err
		}
	}
	b := make([]byte, size)
	copy(b, h)
	if _, err := io.ReadFull(f, b[len(h):]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file shrank while it was read", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
