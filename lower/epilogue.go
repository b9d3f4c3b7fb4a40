package lower

import "github.com/ptqc/ptqc/compiler"

// Tables in the producer's epilogue.
//
// A per-tensor Table (SiLU, hardswish, ...) whose input is a conv's output
// read by nothing else is applied by the conv itself: its kernels requantize
// to the conv's own qparams (Epilogue.Mid) as before, then look every byte up
// in the table before it leaves the kernel. The Table layer and the conv's
// output tensor disappear; the conv writes the table's output.

// Epilogue is a table a conv applies to its requantized bytes.
type Epilogue struct {
	Node *compiler.Node   // the Table node applied
	Mid  *compiler.Tensor // the conv's own output: the qparams it requantizes to
	T    []uint8          // the 256-entry table
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

// ReqY is the tensor whose qparams the layer's requantization targets: its
// output's, or the conv's own before an epilogue table.
func (l *Layer) ReqY() *compiler.Tensor {
	if l.Epi != nil {
		return l.Epi.Mid
	}
	return l.Y
}
