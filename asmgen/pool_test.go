package asmgen

import (
	"fmt"
	"testing"

	"github.com/ptqc/ptqc/ir"
)

func TestMaxPool(t *testing.T) {
	r, h := kernelTest(t, avx2, 6, 6)
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
	} {
		m := &MaxPool{C: s[0], H: s[1], W: s[2], K: s[3], S: s[4], P: s[5], Ceil: s[6] == 1}
		m.OH, m.OW = ir.WindowOut(m.H, m.K, m.S, m.P, m.P, 1, m.Ceil), ir.WindowOut(m.W, m.K, m.S, m.P, m.P, 1, m.Ceil)
		name := fmt.Sprintf("maxpool%d", i)
		if err := h.prog.MaxPool(name, m, avx2); err != nil {
			t.Fatal(err)
		}
		x := make([]uint8, m.H*m.W*m.C)
		for j := range x {
			x[j] = uint8(r.IntN(256))
		}
		// The output has a sentinel tail: the kernel must not write past it.
		out := make([]byte, m.OH*m.OW*m.C+40)
		for j := range out {
			out[j] = 0xa5
		}
		xb, ob := h.buf(x), h.buf(out)
		mid := r.IntN(m.Units() + 1)
		h.call(name, xb, ob, ilit(mid), ilit(m.Units()))
		h.call(name, xb, ob, lit("0"), ilit(mid))
		checks = append(checks, kernelCall[*MaxPool, uint8]{fmt.Sprintf("maxpool%d %+v", i, *m), m, x, ob})
	}
	res := h.run(t)
	for _, ck := range checks {
		m := ck.layer
		want := make([]uint8, m.OH*m.OW*m.C+40)
		for j := range want {
			want[j] = 0xa5
		}
		plane, o := make([]uint8, m.H*m.W), make([]uint8, m.OH*m.OW)
		for c := 0; c < m.C; c++ {
			for p := range plane {
				plane[p] = ck.x[p*m.C+c]
			}
			w := ir.SquareWindow(m.K, m.S, m.P) // ceil mode changes only the output size
			ir.MaxPool(&w, m.H, m.W, plane, m.OH, m.OW, o)
			for p, v := range o {
				want[p*m.C+c] = v
			}
		}
		sameBytes(t, ck.name, res[ck.out], want, m.C, m.C)
	}
}
