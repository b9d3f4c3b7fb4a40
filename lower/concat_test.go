package lower

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/compiler"
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
				break
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

// TestSliceView: slices read only by concats move nothing, their readers
// read the sliced tensor in place, which stays alive until they are done;
// one read by a pointwise conv is copied.
func TestSliceView(t *testing.T) {
	lm, err := Lower(gentest.InceptionModel(t, "fbgemm", false))
	if err != nil {
		t.Fatal(err)
	}
	views := 0
	for i, l := range lm.Layers {
		if l.Kind != Slice {
			continue
		}
		if want := l.Node.Name == "split.u"; l.View != want {
			t.Errorf("%s: view %v, want %v", l.Node.Name, l.View, want)
		}
		if !l.View {
			continue
		}
		views++
		src := lm.Layers[0]
		for _, p := range lm.Layers {
			if p.Y == l.X {
				src = p
			}
		}
		for j, r := range lm.Layers[i+1:] {
			for k, x := range append([]*compiler.Tensor{r.X}, r.Xs...) {
				if x != l.Y {
					continue
				}
				if k == 0 {
					t.Errorf("%s reads view %s as its X", r.Node.Name, l.Node.Name)
					continue
				}
				off, stride := r.XsOff[k-1], r.XsStride[k-1]
				if off != src.YOff+l.Node.Slice.Start || stride != l.XD.C {
					t.Errorf("%s reads %s at %d stride %d, want %d and %d", r.Node.Name, l.Node.Name, off, stride, src.YOff+l.Node.Slice.Start, l.XD.C)
				}
				// No layer up to the reader writes over the sliced tensor.
				for _, o := range lm.Layers[i+1 : i+1+j] {
					if o.Kind != Dequantize && !o.View && o.YOff < src.YOff+src.YD.Elems() && src.YOff < o.YOff+o.YSpan() && o.Y != l.Y {
						t.Errorf("%s overwrites %s before %s reads it", o.Node.Name, src.Node.Name, r.Node.Name)
					}
				}
			}
		}
	}
	if views != 1 {
		t.Errorf("%d views, want 1", views)
	}
}

// TestPlanBytes replays every model's layers over the arena byte by byte:
// each layer writes its output's bytes (a direct concat input its channels
// of the concat's pixels, a view nothing) and every byte a layer reads
// must still hold the tensor it reads (a view's bytes: the sliced tensor's).
func TestPlanBytes(t *testing.T) {
	models := map[string]*compiler.Model{
		"zoo": gentest.ZooModel(t, "fbgemm"), "inception": gentest.InceptionModel(t, "fbgemm", false),
		"inception-shared": gentest.InceptionModel(t, "qnnpack", true),
	}
	for seed := range uint64(8) {
		models[fmt.Sprint("random", seed)] = gentest.RandomModel(t, seed)
	}
	models["pair"] = gentest.PairModel(t)
	for name, m := range shuffleModels(t) {
		models[name] = m
	}
	for name, m := range models {
		lm, err := Lower(m)
		if err != nil {
			t.Fatal(err)
		}
		owner := make([]int, lm.ArenaBytes)
		for i := range owner {
			owner[i] = -1
		}
		// src is the tensor whose bytes hold tensor id (a view's input).
		src := map[int]int{}
		for _, l := range lm.Layers {
			src[l.Y.ID] = l.Y.ID
			if l.View {
				src[l.Y.ID] = src[l.X.ID]
			}
		}
		pixels := func(d Dims, off, stride int, f func(b int)) {
			for p := range d.H * d.W {
				for c := range d.C {
					f(off + p*stride + c)
				}
			}
		}
		bad := 0
		read := func(l *Layer, x *compiler.Tensor, d Dims, off, stride int) {
			pixels(d, off, stride, func(b int) {
				if owner[b] != src[x.ID] && bad < 3 {
					t.Errorf("%s: %s reads byte %d of tensor %d, which holds tensor %d", name, l.Node.Name, b, x.ID, owner[b])
					bad++
				}
			})
		}
		for _, l := range lm.Layers {
			switch {
			case l.Kind == Quantize:
			case l.Kind == Concat:
				for i, x := range l.Xs {
					if !l.Direct[i] {
						d := dims(x)
						d.C = l.XsC[i]
						read(l, x, d, l.XsOff[i], l.XsStride[i])
					}
				}
			default:
				read(l, l.X, dims(l.X), l.XOff, dims(l.X).C)
				if l.X2 != nil {
					read(l, l.X2, dims(l.X2), l.X2Off, dims(l.X2).C)
				}
			}
			if l.Kind == Dequantize || l.View {
				continue
			}
			if l.Kind == Concat {
				// The direct inputs' bytes become the concat's.
				for i, x := range l.Xs {
					if l.Direct[i] {
						pixels(dims(x), l.YOff+l.XsAt[i], l.YD.C, func(b int) {
							if owner[b] != x.ID && bad < 3 {
								t.Errorf("%s: %s: byte %d of direct input %d holds %d", name, l.Node.Name, b, x.ID, owner[b])
								bad++
							}
						})
					}
				}
			}
			pixels(l.YD, l.YOff, l.YStride, func(b int) { owner[b] = l.Y.ID })
		}
	}
}
