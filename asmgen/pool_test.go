package asmgen

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/ir"
)

func TestMaxPool(t *testing.T) {
	eachKernelTier(t, 6, func(t *testing.T, isa Target, r *rand.Rand, h *harness) { testMaxPool(t, isa, r, h) })
}

// testMaxPool runs TestMaxPool's pools on isa: the windows inside the image
// on its widest vectors (the fast path), the others clipped.
func testMaxPool(t *testing.T, isa Target, r *rand.Rand, h *harness) {
	var checks []kernelCall[*MaxPool, uint8]
	for i, s := range [][7]int{ // C, H, W, K, S, P, ceil mode
		{64, 112, 112, 3, 2, 1, 0}, // ResNet's stem
		{3, 7, 7, 3, 2, 1, 0},
		{40, 9, 10, 3, 2, 1, 0},
		{300, 5, 5, 3, 1, 1, 0},
		{17, 8, 8, 2, 2, 0, 0},
		{1, 1, 1, 1, 1, 0, 0},
		{33, 6, 6, 3, 2, 1, 0},
		{48, 4, 3, 5, 1, 2, 0},
		{20, 2, 2, 3, 2, 1, 0},
		{64, 16, 16, 3, 2, 0, 1}, // GoogLeNet's pools
		{40, 9, 10, 3, 2, 0, 1},
		{7, 7, 6, 2, 2, 1, 1},
		{33, 5, 8, 3, 3, 1, 1},
		{256, 28, 28, 3, 1, 1, 1}, // GoogLeNet's branch pools
		{832, 7, 7, 3, 1, 1, 1},
		{100, 9, 11, 5, 1, 2, 0},
		{65, 6, 9, 3, 2, 0, 0},
		{1, 12, 10, 2, 2, 0, 0},
	} {
		m := &MaxPool{C: s[0], H: s[1], W: s[2], K: s[3], S: s[4], P: s[5], Ceil: s[6] == 1}
		m.OH, m.OW = ir.WindowOut(m.H, m.K, m.S, m.P, m.P, 1, m.Ceil), ir.WindowOut(m.W, m.K, m.S, m.P, m.P, 1, m.Ceil)
		checks = append(checks, runMaxPool(t, h, r, isa, fmt.Sprintf("maxpool%d", i), m, fmt.Sprintf("maxpool%d %+v", i, *m)))
	}
	res := h.run(t)
	for _, ck := range checks {
		sameBytes(t, ck.name, res[ck.out], wantMaxPool(ck.layer, ck.x), ck.layer.C, ck.layer.C)
	}
}

// runMaxPool adds kernel name of m for isa and its calls over a split of the
// units on random codes into an output with a sentinel tail (the kernel must
// not write past it); it returns the call to check, named label.
func runMaxPool(t *testing.T, h *harness, r *rand.Rand, isa Target, name string, m *MaxPool, label string) kernelCall[*MaxPool, uint8] {
	t.Helper()
	if err := h.prog.MaxPool(name, m, isa); err != nil {
		t.Fatal(err)
	}
	x := make([]uint8, m.H*m.W*m.C)
	for j := range x {
		x[j] = uint8(r.IntN(256))
	}
	xb, ob := h.buf(x), h.buf(sentinelTail(m.OH*m.OW*m.C))
	mid := r.IntN(m.Units() + 1)
	h.call(name, xb, ob, ilit(mid), ilit(m.Units()))
	h.call(name, xb, ob, lit("0"), ilit(mid))
	return kernelCall[*MaxPool, uint8]{label, m, x, ob}
}

// sentinelTail is n bytes and a tail of 40, all 0xa5.
func sentinelTail(n int) []byte {
	b := make([]byte, n+40)
	for j := range b {
		b[j] = 0xa5
	}
	return b
}

// wantMaxPool is ir.MaxPool per channel of codes x, before the sentinel tail.
func wantMaxPool(m *MaxPool, x []uint8) []uint8 {
	want := sentinelTail(m.OH * m.OW * m.C)
	plane, o := make([]uint8, m.H*m.W), make([]uint8, m.OH*m.OW)
	w := ir.SquareWindow(m.K, m.S, m.P) // ceil mode changes only the output size
	if m.Win != nil {
		w = *m.Win
	}
	for c := 0; c < m.C; c++ {
		for p := range plane {
			plane[p] = x[p*m.C+c]
		}
		ir.MaxPool(&w, m.H, m.W, plane, m.OH, m.OW, o)
		for p, v := range o {
			want[p*m.C+c] = v
		}
	}
	return want
}
