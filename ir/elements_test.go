package ir

import (
	"errors"
	"math"
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
		{[]int{2, 4}, 7, 0, ErrTooManyElements.Error()},
		{[]int{1 << 32, 1 << 32}, math.MaxInt, 0, ErrTooManyElements.Error()},
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
		if c.err == ErrTooManyElements.Error() && !errors.Is(err, ErrTooManyElements) {
			t.Errorf("Elements(%v, %d): %v is not ErrTooManyElements", c.shape, c.limit, err)
		}
	}
}
