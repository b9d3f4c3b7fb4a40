package lower

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/internal/gentest"
)

// TestConcatInPlace: the convs of a concat's inputs with its qparams write
// at their channel offset in its output with its pixel stride; the others
// keep tensors of their own.
func TestConcatInPlace(t *testing.T) {
	for _, shared := range []bool{true, false} {
		lm, err := Lower(gentest.InceptionModel(t, "fbgemm", shared))
		if err != nil {
			t.Fatal(err)
		}
		var cat *Layer
		for _, l := range lm.Layers {
			if l.Kind == Concat {
				cat = l
			}
		}
		want := []bool{shared, shared, false, false}
		if diff := cmp.Diff(want, cat.Direct); diff != "" {
			t.Errorf("shared %v: Direct (-want +got):\n%s", shared, diff)
		}
		at := 0
		for i, x := range cat.Xs {
			var p *Layer
			for _, l := range lm.Layers {
				if l.Y == x {
					p = l
				}
			}
			if cat.Direct[i] {
				if p.YOff != cat.YOff+at || p.YStride != cat.YD.C || cat.XsOff[i] != p.YOff {
					t.Errorf("input %d: at %d stride %d, want %d and %d", i, p.YOff, p.YStride, cat.YOff+at, cat.YD.C)
				}
			} else if p.YStride != p.YD.C || p.YOff+p.YD.Elems() > cat.YOff && cat.YOff+cat.YD.Elems() > p.YOff {
				t.Errorf("input %d: stride %d, at %d overlapping the concat at %d", i, p.YStride, p.YOff, cat.YOff)
			}
			at += p.YD.C
		}
	}
}
