package lower

import (
	"slices"

	"github.com/ptqc/ptqc/compiler"
)

// Tables and residual adds in the producer's epilogue.
//
// A per-tensor Table (SiLU, hardswish, ...) whose input is a conv's output
// read by nothing else is applied by the conv itself: its kernels requantize
// to the conv's own qparams (Epilogue.Mid) as before, then look every byte up
// in the table before it leaves the kernel. The Table layer and the conv's
// output tensor disappear; the conv writes the table's output.
//
// An Add (or add_relu) one of whose inputs is such a conv's output is applied
// the same way, after each strip of the conv's output is stored (still in
// L1): the separate add reread both inputs from L2 or L3 and wrote a third
// tensor, bound by memory (ResNet-50's adds: 800 us of 11.7 ms on Zen 5).
// The conv is the later of the two producers, so the other input (Res) is
// written before it runs; the memory plan keeps Res alive through the conv.

// Epilogue is what a conv applies to its requantized bytes: a table, or a
// residual add.
type Epilogue struct {
	Node *compiler.Node   // the Table or Add node applied
	Mid  *compiler.Tensor // the conv's own output: the qparams it requantizes to
	T    []uint8          // the 256-entry table; nil for an add
	// Res is an add's other input, at ResOff in the arena; MA multiplies the
	// conv's own codes (less Mid's zero point), MB Res's (the add's MA and MB
	// swapped when the conv's output is the add's second input: the float
	// sum is the same).
	Res    *compiler.Tensor
	ResOff int
	MA, MB float32
}

// epiKind says whether a layer of kind k can apply an epilogue table: the
// convs, whose kernels (assembly and portable) all requantize in one place.
func epiKind(k Kind) bool {
	return k == Pointwise || k == Dense || k == Depthwise || k == Grouped
}

// fuseTables folds each per-tensor Table into the conv that alone feeds it
// and returns the layers left.
func fuseTables(ls []*Layer) []*Layer {
	producer, readers := producersReaders(ls)
	out := ls[:0]
	for _, l := range ls {
		if l.Kind == Table && len(l.Node.Table.T) == 256 {
			if p := producer[l.X.ID]; p != nil && epiKind(p.Kind) && p.Epi == nil && readers[l.X.ID] == 1 {
				p.Epi = &Epilogue{Node: l.Node, Mid: p.Y, T: l.Node.Table.T}
				p.Y = l.Y
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

// addKind says whether a layer of kind k can apply an add: the layers of
// the dense kernels (asmgen's dense and tile programs).
func addKind(k Kind) bool { return k == Pointwise || k == Dense }

// fuseAdds folds each Add into the later producer of its two inputs where
// that is a conv of addKind whose output nothing else reads, and returns
// the layers left.
func fuseAdds(ls []*Layer) []*Layer {
	producer, readers := producersReaders(ls)
	at := map[*Layer]int{}
	for i, l := range ls {
		at[l] = i
	}
	out := ls[:0]
	for _, l := range ls {
		if l.Kind == Add {
			a, b := producer[l.Node.In[0]], producer[l.Node.In[1]]
			conv, res, ma, mb := a, l.X2, l.Node.Add.MA, l.Node.Add.MB
			if a != nil && b != nil && at[b] > at[a] {
				conv, res, ma, mb = b, l.X, mb, ma
			}
			if conv != nil && addKind(conv.Kind) && conv.Epi == nil && readers[conv.Y.ID] == 1 && conv.Y != res && viewless(producer[res.ID]) {
				conv.Epi = &Epilogue{Node: l.Node, Mid: conv.Y, Res: res, MA: ma, MB: mb}
				conv.Y = l.Y
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

// viewless says whether p's output has bytes of its own: not a Slice or
// Shuffle, which may become views (concat.go) with another pixel stride.
// A nil p (no producer) has none to read: false.
func viewless(p *Layer) bool { return p != nil && p.Kind != Slice && p.Kind != Shuffle }

// reads are the tensors l reads: its node's inputs and an add epilogue's Res.
func (l *Layer) reads() []int {
	if l.Epi != nil && l.Epi.Res != nil {
		return append(slices.Clip(l.Node.In), l.Epi.Res.ID)
	}
	return l.Node.In
}

// ReqY is the tensor whose qparams the layer's requantization targets: its
// output's, or the conv's own before an epilogue table.
func (l *Layer) ReqY() *compiler.Tensor {
	if l.Epi != nil {
		return l.Epi.Mid
	}
	return l.Y
}
