package safesize

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestElements(t *testing.T) {
	for _, c := range []struct {
		shape []int
		limit int
		want  int
		err   string
	}{
		{nil, 10, 1, ""},
		{[]int{2, 3}, 6, 6, ""},
		{[]int{2, 0, -1}, 6, 0, "dimension 2 is negative (-1)"},
		{[]int{0, 1 << 62, 1 << 62}, 6, 0, ""},
		{[]int{2, 4}, 7, 0, ErrTooMany.Error()},
		{[]int{1 << 32, 1 << 32}, math.MaxInt, 0, ErrTooMany.Error()},
	} {
		n, err := Elements(c.shape, c.limit)
		if got := ""; err != nil {
			got = err.Error()
			if got != c.err {
				t.Errorf("Elements(%v, %d): error %q, want %q", c.shape, c.limit, got, c.err)
			}
		} else if c.err != "" || n != c.want {
			t.Errorf("Elements(%v, %d) = %d, %v; want %d, %q", c.shape, c.limit, n, err, c.want, c.err)
		}
		if c.err == ErrTooMany.Error() && !errors.Is(err, ErrTooMany) {
			t.Errorf("Elements(%v, %d): %v is not ErrTooMany", c.shape, c.limit, err)
		}
	}
}

func TestMulBytes(t *testing.T) {
	for _, c := range []struct {
		a, b, want int
		ok         bool
	}{
		{0, math.MaxInt, 0, true},
		{3, 4, 12, true},
		{-1, 4, 0, false},
		{1 << 62, 4, 0, false}, // wraps to 0 in int arithmetic
		{math.MaxInt/8 + 1, 8, 0, false},
	} {
		if got, ok := Mul(c.a, c.b); got != c.want || ok != c.ok {
			t.Errorf("Mul(%d, %d) = %d, %v; want %d, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
	// The .pth storage that passed "bytes == numel * size" by wrapping around 2^64.
	if _, err := Bytes(1<<62+6, 4, 24); err == nil {
		t.Errorf("Bytes accepted a count whose size wraps to 24")
	}
	if n, err := Bytes(6, 4, 24); n != 24 || err != nil {
		t.Errorf("Bytes(6, 4, 24) = %d, %v", n, err)
	}
}

func TestReadFileChecksHeadFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("magic and body"), 0o644); err != nil {
		t.Fatal(err)
	}
	var saw []byte
	b, err := ReadFile(path, 0, 5, func(h []byte, _ int64) error { saw = append(saw, h...); return nil })
	if err != nil || string(b) != "magic and body" || string(saw) != "magic" {
		t.Errorf("ReadFile = %q, %v; check saw %q", b, err, saw)
	}
	if _, err := ReadFile(path, 0, 5, func([]byte, int64) error { return errors.New("bad magic") }); err == nil || err.Error() != "bad magic" {
		t.Errorf("check's error: got %v", err)
	}
	if _, err := ReadFile(path, 4, 5, nil); err == nil || !strings.Contains(err.Error(), "more than the 4") {
		t.Errorf("limit: got %v", err)
	}
}

func TestName(t *testing.T) {
	long := strings.Repeat("k", 5<<20)
	if got := Name(long); len(got) > 120 || !strings.Contains(got, "(5242880 bytes)") {
		t.Errorf("Name of a 5 MB key: %d bytes: %.100q", len(got), got)
	}
	if Name("features.0.0.weight") != "features.0.0.weight" {
		t.Errorf("Name changed a short name")
	}
}
