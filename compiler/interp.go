package compiler

import (
	"fmt"

	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/runtime"
)

// Hook sees each node's uint8 output for the whole batch right after it ran
// (not called for the final Dequantize).
type Hook func(node *Node, out []uint8, n int) error

// Run is the int8 reference interpreter: it quantizes n float32 samples (NCHW),
// runs every layer in integer arithmetic as ARCHITECTURE.md defines it, and
// returns the dequantized outputs (n x NumClasses). hook may be nil.
func Run(m *Model, x []float32, n int, hook Hook) ([]float32, error) {
	return run(m, x, n, hook, nil)
}

// accHook sees, before a conv or linear requantizes, the sum over samples and
// positions of each output channel's int32 accumulator (bias excluded) and the
// count of terms; it may change the layer's biases, which then apply to its output.
type accHook func(node *Node, sums []int64, count int) error

func run(m *Model, x []float32, n int, hook Hook, acc accHook) ([]float32, error) {
	in := m.Tensors[m.Input]
	if n < 1 || len(x) != n*in.Elems() {
		return nil, fmt.Errorf("input: %d values for %d samples of shape %v (want %d)", len(x), n, in.Shape, n*in.Elems())
	}
	vals := map[int][]uint8{}
	var logits []float32
	for _, nd := range m.Nodes {
		t := m.Tensors[nd.Out]
		oe := t.Elems()
		if nd.Kind == KDequantize {
			src := m.Tensors[nd.In[0]]
			a := vals[nd.In[0]]
			logits = make([]float32, len(a))
			for i, q := range a {
				logits[i] = Dequantize(q, src.Scale, src.Zero)
			}
			if f := nd.Post(); f != nil {
				for s := 0; s < len(logits); s += oe {
					f(logits[s : s+oe])
				}
			}
			continue
		}
		out := make([]uint8, n*oe)
		switch nd.Kind {
		case KQuantize:
			ie := in.Elems()
			inv := float32(1 / t.Scale)
			ir.Parallel(n, func(s int) {
				for i, v := range x[s*ie : (s+1)*ie] {
					out[s*oe+i] = QuantizeValue(v, inv, t.Zero)
				}
			})
		case KConv, KLinear:
			src := m.Tensors[nd.In[0]]
			a := vals[nd.In[0]]
			ie := src.Elems()
			cv := newConvRun(nd.Conv, src, t)
			if acc != nil {
				sums := make([][]int64, n)
				ir.Parallel(n, func(s int) {
					sums[s] = make([]int64, nd.Conv.OutC)
					cv.run(a[s*ie:(s+1)*ie], nil, sums[s])
				})
				for s := 1; s < n; s++ {
					for c, v := range sums[s] {
						sums[0][c] += v
					}
				}
				if err := acc(nd, sums[0], n*oe/nd.Conv.OutC); err != nil {
					return nil, err
				}
			}
			ir.Parallel(n, func(s int) {
				cv.run(a[s*ie:(s+1)*ie], out[s*oe:(s+1)*oe], nil)
			})
		case KAdd:
			ta, tb := m.Tensors[nd.In[0]], m.Tensors[nd.In[1]]
			a, b := vals[nd.In[0]], vals[nd.In[1]]
			lo := uint8(0)
			if nd.Add.ReLU {
				lo = uint8(t.Zero)
			}
			for i := range out {
				out[i] = max(AddQ(a[i], b[i], ta.Zero, tb.Zero, nd.Add.MA, nd.Add.MB, t.Zero), lo)
			}
		case KMaxPool:
			src := m.Tensors[nd.In[0]]
			a := vals[nd.In[0]]
			c := src.Shape[0]
			ip, op := src.Elems()/c, oe/c
			w := nd.Pool.Window()
			ir.Parallel(n*c, func(j int) {
				ir.MaxPool(&w, src.Shape[1], src.Shape[2], a[j*ip:(j+1)*ip], t.Shape[1], t.Shape[2], out[j*op:(j+1)*op])
			})
		case KMean:
			src := m.Tensors[nd.In[0]]
			a := vals[nd.In[0]]
			c := src.Shape[0]
			hw := src.Elems() / c
			inv := float32(1 / float64(hw))
			for j := 0; j < n*c; j++ {
				var sum int32
				for _, q := range a[j*hw : (j+1)*hw] {
					sum += int32(q) - src.Zero
				}
				out[j] = MeanQ(sum, inv, t.Zero)
			}
		case KTable, KMul, KConcat, KSlice, KShuffle, KAvgPool, KChannelMax:
			runOp(m, nd, vals, out, n)
		default:
			return nil, fmt.Errorf("%s: kind %s not supported by the interpreter", nd.Name, nd.Kind)
		}
		vals[nd.Out] = out
		if hook != nil {
			if err := hook(nd, out, n); err != nil {
				return nil, err
			}
		}
	}
	if logits == nil {
		return nil, fmt.Errorf("model has no Dequantize at its output")
	}
	return logits, nil
}

// The scalar numerics are runtime's, the one definition generated kernels call
// too (ARCHITECTURE.md: one definition for the interpreter and every kernel).

// QuantizeValue is q = clamp(rne(x * inv) + z, 0, 255) with inv = float32(1/s); NaN gives 0.
func QuantizeValue(x, inv float32, z int32) uint8 { return runtime.QuantizeValue(x, inv, z) }

// Requantize is clamp(rne(float32(float32(acc) * m) + b) + z, lo, hi).
func Requantize(acc int32, m, b float32, z, lo, hi int32) uint8 {
	return runtime.Requantize(acc, m, b, z, lo, hi)
}

// AddQ is clamp(rne(float32(float32(a - za) * ma) + float32(float32(b - zb) * mb)) + zy, 0, 255).
func AddQ(a, b uint8, za, zb int32, ma, mb float32, zy int32) uint8 {
	return runtime.AddQ(a, b, za, zb, ma, mb, zy)
}

// MeanQ is clamp(rne(float32(sum) * inv) + z, 0, 255) with inv = float32(1/(H*W)).
func MeanQ(sum int32, inv float32, z int32) uint8 { return runtime.MeanQ(sum, inv, z) }

// Dequantize is float32(q - z) * float32(s).
func Dequantize(q uint8, s float64, z int32) float32 { return runtime.Dequantize(q, float32(s), z) }
