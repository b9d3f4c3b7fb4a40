package asmgen

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/internal/zoo"
)

// TestGather checks the gather kernel (AVX2 code every tier calls) on avx2
// against kShuffleGo's semantics, y[c] = x[Perm[c]] per pixel, byte for
// byte: identities, reversals, ShuffleNet's interleaves, slices of scattered
// channels and random gathers of 1 to 300 channels.
func TestGather(t *testing.T) {
	r, h := kernelTest(t, avx2, 25, 1)
	iota := func(n int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		return p
	}
	rev := func(n int) []int {
		p := iota(n)
		slices.Reverse(p)
		return p
	}
	type gcase struct {
		name string
		xc   int
		perm []int
	}
	cases := []gcase{
		{"identity1", 1, iota(1)},
		{"identity15", 15, iota(15)},
		{"identity16", 16, iota(16)},
		{"identity300", 300, iota(300)},
		{"reverse3", 3, rev(3)},
		{"reverse17", 17, rev(17)},
		{"reverse300", 300, rev(300)},
		{"shuffle116g2", 116, zoo.ShufflePerm(116, 2)},
		{"shuffle24g3", 24, zoo.ShufflePerm(24, 3)},
		{"shuffle240g4", 240, zoo.ShufflePerm(240, 4)},
		{"shuffle8g2", 8, zoo.ShufflePerm(8, 2)},
		{"half58of116", 116, zoo.ShufflePerm(116, 2)[58:]},
		{"last1of40", 40, []int{39}},
		{"tail5of20", 20, []int{19, 18, 17, 16, 15}},
	}
	for i := range 40 {
		xc := 1 + r.IntN(300)
		perm := r.Perm(xc)[:1+r.IntN(xc)]
		if i%4 == 0 {
			slices.Sort(perm) // a slice of scattered channels
		}
		cases = append(cases, gcase{fmt.Sprint("random", i), xc, perm})
	}
	type check struct {
		name string
		g    *Gather
		x    []byte
		out  int
	}
	var checks []check
	for i, gc := range cases {
		g := &Gather{XC: gc.xc, Perm: gc.perm, Rows: 1 + r.IntN(5), RW: 1 + r.IntN(7)}
		fn := fmt.Sprintf("gather%d", i)
		if err := h.prog.Gather(fn, g); err != nil {
			t.Fatal(err)
		}
		x := randBytes(r, g.Rows*g.RW*g.XC)
		xb, ob := h.buf(x), h.buf(sentinelTail(g.Rows*g.RW*len(g.Perm)))
		split(h, r, fn, g.Units(), xb, ob)
		checks = append(checks, check{gc.name, g, x, ob})
	}
	res := h.run(t)
	for _, ck := range checks {
		g, c := ck.g, len(ck.g.Perm)
		want := sentinelTail(g.Rows * g.RW * c)
		for p := range g.Rows * g.RW {
			for j, from := range g.Perm {
				want[p*c+j] = ck.x[p*g.XC+from]
			}
		}
		sameBytes(t, fmt.Sprintf("%s (%d of %d)", ck.name, c, g.XC), res[ck.out], want, 1, 1)
	}
}

// TestGatherPlan: windows stay inside a pixel of 16 channels or more, a
// chunk that is a run of the input is a plain copy, and a gather from one
// 16-byte window needs one shuffle.
func TestGatherPlan(t *testing.T) {
	type summary struct {
		At, N   int
		Windows []int
		Copy    bool
	}
	tests := []struct {
		name string
		g    Gather
		want []summary
	}{
		{"identity20", Gather{XC: 20, Perm: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}},
			[]summary{{0, 16, []int{0}, true}, {4, 16, []int{4}, true}}},
		{"slice3of40", Gather{XC: 40, Perm: []int{37, 38, 39}}, []summary{{0, 3, []int{24}, false}}},
		{"run3of40", Gather{XC: 40, Perm: []int{5, 6, 7}}, []summary{{0, 3, []int{5}, true}}},
		{"small", Gather{XC: 5, Perm: []int{4, 0, 2}}, []summary{{0, 3, []int{0}, false}}},
		{"spread", Gather{XC: 64, Perm: []int{63, 0, 17, 16, 40}}, []summary{{0, 5, []int{0, 16, 40, 48}, false}}},
	}
	for _, tt := range tests {
		var got []summary
		for _, ch := range tt.g.chunks() {
			got = append(got, summary{ch.At, ch.N, ch.Start, ch.Copy})
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: plan (-want +got):\n%s", tt.name, diff)
		}
	}
}
