package lower

// Zero-copy concatenation and slicing.
//
// An input of a Concat that keeps the concat's
// qparams (Concat.M[i] == 0) and whose producer can write pixels at a channel
// stride (a pointwise or dense conv: its kernels take an output stride on
// every tier) and applies no epilogue table (epilogue.go) is written by that
// producer straight into its channel slice of the concat's output, and the
// concat does not touch it.
//
// A Slice whose every reader reads pixels at a channel stride (a Concat) is
// a View: its output has no bytes of its own, its readers read its channels
// where they are in its input. Pointwise convs could read them through the
// dense kernels' InStride, but were measured twice as slow per multiply-add
// then (the avx2 kernel's per-strip u8s8/i16 check scans the whole strided
// pixels, whose other channels push it onto the i16 path, and reads past
// the sliced tensor by up to Start bytes): they read a copy.

// strided says whether a layer of kind k can write its output pixels at a
// stride other than its channel count.
func strided(k Kind) bool { return k == Pointwise || k == Dense }

// producersReaders maps each tensor to the layer that writes it and to how
// many layers read it.
func producersReaders(ls []*Layer) (map[int]*Layer, map[int]int) {
	producer := map[int]*Layer{}
	readers := map[int]int{}
	for _, l := range ls {
		producer[l.Y.ID] = l
		for _, id := range l.reads() {
			readers[id]++
		}
	}
	return producer, readers
}

// direct marks the inputs of each Concat that their producers write in
// place: the concat reads the tensor once and no other layer reads it.
func direct(ls []*Layer) {
	producer, readers := producersReaders(ls)
	for _, l := range ls {
		if l.Kind != Concat {
			continue
		}
		l.Direct = make([]bool, len(l.Xs))
		for i, x := range l.Xs {
			p := producer[x.ID]
			l.Direct[i] = l.Node.Concat.M[i] == 0 && readers[x.ID] == 1 && p != nil && strided(p.Kind) && p.Epi == nil
		}
	}
}

// YSpan is the bytes from the first to the last byte of the layer's output:
// its elements, or with a stride the last pixel's channels past the others'
// strides.
func (l *Layer) YSpan() int { return span(l.YD, l.YStride) }

// InSpan is the bytes of a Concat's input i, pixels XsStride[i] apart.
func (l *Layer) InSpan(i int) int {
	d := dims(l.Xs[i])
	d.C = l.XsC[i]
	return span(d, l.XsStride[i])
}

func span(d Dims, stride int) int { return (d.H*d.W-1)*stride + d.C }

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

// views marks the Slices all of whose readers read strided, and whose input
// is not itself a View's.
func views(ls []*Layer) {
	readers := map[int][]*Layer{}
	for _, l := range ls {
		for _, id := range l.reads() {
			readers[id] = append(readers[id], l)
		}
	}
	view := map[int]bool{}
	for _, l := range ls {
		if l.Kind != Slice || view[l.X.ID] {
			continue
		}
		rs := readers[l.Y.ID]
		l.View = len(rs) > 0
		for _, r := range rs {
			l.View = l.View && r.Kind == Concat // the one kind that reads strided inputs
		}
		view[l.Y.ID] = l.View
	}
}
