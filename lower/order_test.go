package lower

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/ir"
)

// shuffleModels are gentest's shuffle graphs: groups 2, 3 and 4, with
// concats of their own qparams and shared ones, under two qconfigs.
func shuffleModels(t *testing.T) map[string]*compiler.Model {
	ms := map[string]*compiler.Model{}
	for seed := range uint64(12) {
		qc := []string{"fbgemm", "qnnpack"}[seed/6]
		ms[fmt.Sprint("shuffle", seed)] = gentest.ShuffleModel(t, seed, qc)
	}
	ms["shufflenet_v2"] = gentest.ShuffleNetV2(t, 32, "fbgemm")
	return ms
}

// TestOrdersMatchInterpreter runs the lowered layers of the shuffle graphs
// over one arena as the kernels do, on physical channel
// orders, offsets, strides and the rewritten parameters, and compares the
// output with compiler.Run bit for bit; it also counts the shuffles left.
func TestOrdersMatchInterpreter(t *testing.T) {
	ms := shuffleModels(t)
	folded, kept := 0, 0
	for name, m := range ms {
		lm, err := Lower(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		in := make([]float32, m.Tensors[m.Input].Elems())
		for i := range in {
			in[i] = float32(r.NormFloat64())
		}
		want, err := compiler.Run(m, in, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := runLowered(lm, in)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s: output %d is %v, want %v", name, i, got[i], want[i])
				break
			}
		}
		for _, l := range lm.Layers {
			if tab := l.Node.Table; l.Kind == Table && tab.Affine != nil {
				// Tables permuted to the physical order keep their
				// arithmetic beside them (the kernels compute it).
				for i, v := range tab.T {
					if a := tab.Affine.Value(i/256, uint8(i%256)); a != v {
						t.Fatalf("%s, %s: position %d, code %d: affine %d, table %d", name, l.Node.Name, i/256, i%256, a, v)
					}
				}
			}
			if l.Node.Kind == compiler.KShuffle || l.Kind == Shuffle {
				if l.View {
					folded++
				} else {
					kept++
				}
			}
		}
	}
	// Both must happen: folds, and the gathers where order must be logical.
	if folded == 0 || kept == 0 {
		t.Errorf("%d shuffles folded, %d kept: want some of each", folded, kept)
	}
}

// runLowered is a reference for the kernels: each layer reads and writes
// the arena at its offsets and strides, with its (rewritten) parameters.
func runLowered(lm *Model, in []float32) []float32 {
	a := make([]uint8, lm.ArenaBytes+ReadSlack)
	var out []float32
	for _, l := range lm.Layers {
		nd, x, y := l.Node, l.XD, l.YD
		xs := x.C // inputs other than a Concat's are whole tensors
		xat := func(p, c int) uint8 { return a[l.XOff+p*xs+c] }
		put := func(p, c int, v uint8) { a[l.YOff+p*l.YStride+c] = v }
		switch l.Kind {
		case Quantize:
			inv := float32(1 / l.Y.Scale)
			for c := range y.C {
				for p := range y.H * y.W {
					put(p, c, compiler.QuantizeValue(in[c*y.H*y.W+p], inv, l.Y.Zero))
				}
			}
		case Dequantize:
			out = make([]float32, x.Elems())
			for c := range x.C {
				for p := range x.H * x.W {
					out[c*x.H*x.W+p] = compiler.Dequantize(xat(p, c), l.X.Scale, l.X.Zero)
				}
			}
		case Pointwise, Dense, Depthwise, Grouped:
			cv := nd.Conv
			w := cv.Window()
			icg, ocg := cv.InC/cv.Groups, cv.OutC/cv.Groups
			for oy := range y.H {
				for ox := range y.W {
					for o := range y.C {
						var acc int32
						for i := range icg {
							ci := o/ocg*icg + i
							for ky := range w.KH {
								for kx := range w.KW {
									iy, ix := oy*w.SH-w.PadT+ky*w.DH, ox*w.SW-w.PadL+kx*w.DW
									if iy < 0 || ix < 0 || iy >= x.H || ix >= x.W {
										continue
									}
									acc += (int32(xat(iy*x.W+ix, ci)) - l.X.Zero) * int32(cv.Weight[((o*icg+i)*w.KH+ky)*w.KW+kx])
								}
							}
						}
						put(oy*y.W+ox, o, compiler.Requantize(acc, cv.M[o], cv.B[o], l.Y.Zero, cv.Lo, cv.Hi))
					}
				}
			}
		case Add:
			lo := uint8(0)
			if nd.Add.ReLU {
				lo = uint8(l.Y.Zero)
			}
			for p := range y.H * y.W {
				for c := range y.C {
					put(p, c, max(compiler.AddQ(xat(p, c), a[l.X2Off+p*xs+c], l.X.Zero, l.X2.Zero, nd.Add.MA, nd.Add.MB, l.Y.Zero), lo))
				}
			}
		case Mean:
			hw := x.H * x.W
			for c := range x.C {
				var sum int32
				for p := range hw {
					sum += int32(xat(p, c)) - l.X.Zero
				}
				put(0, c, compiler.MeanQ(sum, float32(1/float64(hw)), l.Y.Zero))
			}
		case MaxPool:
			w := nd.Pool.Window()
			plane, po := make([]uint8, x.H*x.W), make([]uint8, y.H*y.W)
			for c := range x.C {
				for p := range plane {
					plane[p] = xat(p, c)
				}
				ir.MaxPool(&w, x.H, x.W, plane, y.H, y.W, po)
				for p, v := range po {
					put(p, c, v)
				}
			}
		case Table:
			per := len(nd.Table.T) / 256
			for p := range y.H * y.W {
				for c := range y.C {
					put(p, c, nd.Table.T[c%per*256+int(xat(p, c))])
				}
			}
		case Concat:
			for i, t := range l.Xs {
				if l.Direct[i] {
					continue
				}
				for p := range y.H * y.W {
					for k := range l.XsC[i] {
						v := a[l.XsOff[i]+p*l.XsStride[i]+k]
						if m := nd.Concat.M[i]; m != 0 {
							v = compiler.Requantize(int32(v)-t.Zero, m, 0, l.Y.Zero, 0, 255)
						}
						a[l.YOff+p*y.C+l.XsAt[i]+k] = v
					}
				}
			}
		case Slice:
			if l.View {
				continue
			}
			for p := range y.H * y.W {
				for c := range y.C {
					put(p, c, xat(p, nd.Slice.Start+c))
				}
			}
		case Shuffle:
			if l.View {
				continue
			}
			for p := range y.H * y.W {
				for c := range y.C {
					put(p, c, xat(p, nd.Perm[c]))
				}
			}
		default:
			panic(fmt.Sprintf("runLowered: %s", l.Kind))
		}
	}
	return out
}

// TestShuffleNetNoShuffle: in ShuffleNetV2 x1.0's graph every shuffle is a
// view and every x1 half a view too; the concats copy each input in few
// runs (their x1 halves' runs grow by two per unit in a stage).
func TestShuffleNetNoShuffle(t *testing.T) {
	lm, err := Lower(gentest.ShuffleNetV2(t, 32, "fbgemm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lm.Layers {
		switch {
		case l.Kind == Shuffle && !l.View:
			t.Errorf("%s: a shuffle left", l.Node.Name)
		case l.Kind == Slice && l.Node.Slice.Start == 0 && !l.View:
			t.Errorf("%s: the first half is not a view", l.Node.Name)
		case l.Kind == Concat && len(l.Xs) > 20:
			t.Errorf("%s: %d runs", l.Node.Name, len(l.Xs))
		}
		if l.Kind == Concat {
			t.Logf("%s: runs %v", l.Node.Name, l.XsC)
		}
	}
}
