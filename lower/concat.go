package lower

// Zero-copy concatenation: an input of a Concat that keeps the concat's
// qparams (Concat.M[i] == 0) and whose producer can write pixels at a channel
// stride (a pointwise or dense conv: its kernels take an output stride on
// every tier) is written by that producer straight into its channel slice of
// the concat's output, and the concat does not touch it.

// Strided says whether a layer of kind k can write its output pixels at a
// stride other than its channel count.
func Strided(k Kind) bool { return k == Pointwise || k == Dense }

// direct marks the inputs of each Concat that their producers write in
// place: the concat reads the tensor once and no other layer reads it.
func direct(ls []*Layer) {
	producer := map[int]*Layer{}
	readers := map[int]int{}
	for _, l := range ls {
		producer[l.Y.ID] = l
		for _, id := range l.Node.In {
			readers[id]++
		}
	}
	for _, l := range ls {
		if l.Kind != Concat {
			continue
		}
		l.Direct = make([]bool, len(l.Xs))
		for i, x := range l.Xs {
			p := producer[x.ID]
			l.Direct[i] = l.Node.Concat.M[i] == 0 && readers[x.ID] == 1 && p != nil && Strided(p.Kind)
		}
	}
}

// YSpan is the bytes from the first to the last byte of the layer's output:
// its elements, or with a stride the last pixel's channels past the others'
// strides.
func (l *Layer) YSpan() int {
	if l.YStride == l.YD.C {
		return l.YD.Elems()
	}
	return (l.YD.H*l.YD.W-1)*l.YStride + l.YD.C
}

// DirectAll says whether every input of a Concat is written in place: the
// layer then has nothing to do.
func (l *Layer) DirectAll() bool {
	for _, d := range l.Direct {
		if !d {
			return false
		}
	}
	return l.Kind == Concat
}
