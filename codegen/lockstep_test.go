package codegen

import (
	"testing"

	"github.com/ptqc/ptqc/lower"
)

func TestPiece(t *testing.T) {
	for _, c := range []struct{ wb, cols, budget, want int }{
		{100, 4, 0, 0},              // under the default 128 KB: one piece
		{1 << 20, 32, 256 << 10, 8}, // four pieces of eight column units
		{1 << 20, 32, 0, 4},         // eight of four
		{2359296, 32, 0, 4},         // ResNet-50's layer4 3x3: 18 pieces, but none under four units
		{1000, 3, 512, 2},           // fewer than 8 units: no rounding
		{1000, 1, 512, 0},           // one unit cannot split
		{600, 8, 512, 4},            // two pieces of four
		{100 << 10, 63, 1024, 4},    // the pieces as narrow as four units
	} {
		g := &gen{opts: Options{PieceBytes: c.budget}}
		if got := g.piece(c.wb, c.cols); got != c.want {
			t.Errorf("piece(%d bytes, %d cols, budget %d) = %d, want %d", c.wb, c.cols, c.budget, got, c.want)
		}
	}
}

// TestLockstepPlan: by default the tail starts after the last dense layer
// whose activations outweigh its weights, and small models have none; asked
// for, the lockstep runs every layer.
func TestLockstepPlan(t *testing.T) {
	for seed := range uint64(8) {
		lm, err := lower.Lower(randomModel(t, seed))
		if err != nil {
			t.Fatal(err)
		}
		g := &gen{lm: lm, asm: &lower.Asm{}}
		weights := 0
		for _, l := range lm.Layers {
			g.layers = append(g.layers, &layer{l})
			if denseKind(l.Kind) {
				weights += len(l.W)
			}
		}
		for _, c := range []struct {
			opt  int
			want lockstep
		}{
			{0, lockstep{k: 1}},
			{1, lockstep{k: 1}},
			{3, lockstep{k: 3, weights: weights}},
		} {
			g.opts.Lockstep = c.opt
			if got := g.lockstepPlan(); got != c.want {
				t.Errorf("model %d, Lockstep %d: plan %+v, want %+v", seed, c.opt, got, c.want)
			}
		}
		// The default's tail, were the weights larger.
		g.opts.Lockstep = 0
		from := 0
		for i, l := range g.layers {
			if denseKind(l.Kind) && !l.View && !l.DirectAll() && len(l.W) < l.X.Elems()+l.Y.Elems() {
				from = i + 1
			}
		}
		want := lockstep{k: 1}
		for i := from; i < len(g.layers); i++ {
			if l := g.layers[i]; denseKind(l.Kind) && !l.View && !l.DirectAll() {
				l.W = make([]int8, lockstepWeights)
				want = lockstep{k: defaultLockstep, from: from, weights: want.weights + lockstepWeights}
			}
		}
		if got := g.lockstepPlan(); got != want {
			t.Errorf("model %d with a heavy tail from layer %d: plan %+v, want %+v", seed, from, got, want)
		}
	}
}
