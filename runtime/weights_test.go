package runtime

import (
	goruntime "runtime"
	"testing"
	"unsafe"
)

func TestWeights(t *testing.T) {
	for _, n := range []int{0, 1, 4096, hugePage - 1, hugePage, 3*hugePage + 17} {
		w := Weights(n)
		if len(w) != n {
			t.Fatalf("Weights(%d): %d bytes", n, len(w))
		}
		for i := range w {
			if w[i] != 0 {
				t.Fatalf("Weights(%d)[%d] = %d, want 0", n, i, w[i])
			}
			w[i] = int8(i)
		}
		if n >= hugePage && goruntime.GOOS == "linux" {
			if a := uintptr(unsafe.Pointer(&w[0])) % hugePage; a != 0 {
				t.Errorf("Weights(%d) starts %d bytes past a 2 MB boundary", n, a)
			}
		}
	}
}
