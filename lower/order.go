package lower

import (
	"cmp"
	"slices"

	"github.com/ptqc/ptqc/compiler"
)

// Channel orders: the channel shuffle folded into weights and copies.
//
// A tensor's bytes may hold its channels in a physical order other than its
// logical one: ord[p] is the logical channel at position p of every pixel
// (nil: the identity). A Shuffle then moves nothing: it is a View of its
// input, the same bytes in another logical order. The orders are absorbed
// where that is free:
//
//   - a pointwise or dense conv (and a linear layer) reads any order: its
//     weight columns are permuted; it writes any order its readers want: its
//     weight rows, biases and multipliers are permuted;
//   - a depthwise conv, a pool, a mean and a table keep their input's order
//     (per-channel weights, biases, multipliers and tables permuted);
//   - a Concat copies each input as runs of channels contiguous in both the
//     input and the output (XsFrom, XsC, XsAt), so it reads any order and
//     writes the one its readers want;
//   - a Slice whose channels are contiguous in its input's order is a slice
//     of that range (a copy, or a View); otherwise it gathers them (kind
//     Shuffle, a table of YC input positions) into the logical order.
//
// The order a conv or a Concat writes comes from its readers: a tensor read
// by Slices (directly or through Shuffles) is laid out as the slices' blocks,
// each contiguous. For ShuffleNetV2 (groups 2) the concat of a unit,
// logically [A, B], is stored [A0, B0, A1, B1] where A0, B0 are the
// channels the next unit's first half takes: after the shuffle both halves
// are contiguous, the first a View read by the next concat, the second a
// copy read by a pointwise conv. Within a block each input keeps its own
// physical order, so a concat copies an input in few runs (a conv's output,
// ordered for it, in one per block).
//
// Everything else (Add, Mul, a grouped or window conv, the output) reads
// logical order: a Shuffle feeding one stays a gather into logical order,
// reading its input's physical order, and the tensors before it that pass
// their order through keep the identity.

// orders assigns channel orders and rewrites the layers for them. Without
// a Shuffle it changes nothing.
func orders(ls []*Layer) {
	if !slices.ContainsFunc(ls, func(l *Layer) bool { return l.Kind == Shuffle }) {
		return
	}
	o := &orderer{readers: map[int][]*Layer{}, need: map[int]bool{}, ord: map[int][]int{}, memo: map[int][]int{}}
	for _, l := range ls {
		for _, id := range l.reads() {
			o.readers[id] = append(o.readers[id], l)
		}
	}
	for i := len(ls) - 1; i >= 0; i-- {
		l := ls[i]
		if l.Epi != nil && l.Epi.Res != nil {
			// The add reads both its inputs in logical order.
			o.need[l.Epi.Res.ID], o.need[l.Y.ID] = true, true
		}
		if o.tolerates(l) {
			continue
		}
		for _, id := range l.Node.In {
			o.need[id] = true
		}
	}
	for _, l := range ls {
		o.layer(l)
	}
}

type orderer struct {
	readers map[int][]*Layer
	// need says that a tensor must be in logical order.
	need map[int]bool
	// ord is each tensor's physical order (nil: identity).
	ord map[int][]int
	// memo caches blocks.
	memo map[int][]int
}

// passes says whether a layer's output keeps its input's order.
func passes(k Kind) bool {
	switch k {
	case Depthwise, MaxPool, AvgPool, WindowPool, Mean, Table:
		return true
	}
	return false
}

// tolerates says whether l reads inputs in any order.
func (o *orderer) tolerates(l *Layer) bool {
	switch {
	case l.Kind == Pointwise || l.Kind == Dense || l.Kind == Concat || l.Kind == Shuffle || l.Kind == Slice:
		return true
	case passes(l.Kind):
		return !o.need[l.Y.ID]
	}
	return false
}

// pos is the inverse of an order: the position of each logical channel.
func pos(ord []int) []int {
	p := make([]int, len(ord))
	for i, c := range ord {
		p[c] = i
	}
	return p
}

func identity(n int) []int {
	id := make([]int, n)
	for i := range id {
		id[i] = i
	}
	return id
}

// get is t's order, the identity spelled out.
func (o *orderer) get(t *compiler.Tensor) []int {
	if ord := o.ord[t.ID]; ord != nil {
		return ord
	}
	return identity(dims(t).C)
}

// blocks is the block of each logical channel of tensor t that its
// readers want contiguous: the ranges of the Slices reading it (in order
// of their start; channels in none last), or those of a Shuffle's output
// mapped back through its Perm. Nil when nothing asks.
func (o *orderer) blocks(t *compiler.Tensor) []int {
	if b, ok := o.memo[t.ID]; ok {
		return b
	}
	var b []int
	n := dims(t).C
	var starts [][2]int
	for _, r := range o.readers[t.ID] {
		if r.Kind == Slice && r.X == t {
			starts = append(starts, [2]int{r.Node.Slice.Start, r.Node.Slice.End})
		}
	}
	if len(starts) > 0 {
		slices.SortFunc(starts, func(a, b [2]int) int { return cmp.Compare(a[0], b[0]) })
		b = make([]int, n)
		for c := range b {
			b[c] = len(starts)
			for k, s := range starts {
				if c >= s[0] && c < s[1] {
					b[c] = k
					break
				}
			}
		}
	} else {
		for _, r := range o.readers[t.ID] {
			if r.Kind == Shuffle && r.X == t && !o.need[r.Y.ID] {
				if yb := o.blocks(r.Y); yb != nil {
					b = make([]int, n)
					for j, from := range r.Node.Perm {
						b[from] = yb[j]
					}
					break
				}
			}
		}
	}
	o.memo[t.ID] = b
	return b
}

// want is the order a layer that writes t in any order gives it: by the
// blocks its readers (or the Concat reading it) want, logical within a
// block; nil for the identity.
func (o *orderer) want(t *compiler.Tensor) []int {
	if o.need[t.ID] {
		return nil
	}
	n := dims(t).C
	key := o.blocks(t)
	if key == nil {
		for _, r := range o.readers[t.ID] {
			if r.Kind != Concat {
				continue
			}
			cb := o.blocks(r.Y)
			if cb == nil {
				break
			}
			i := slices.Index(r.Xs, t)
			key = cb[r.XsAt[i]:][:n]
			break
		}
	}
	if key == nil {
		return nil
	}
	ord := identity(n)
	slices.SortStableFunc(ord, func(a, b int) int { return cmp.Compare(key[a], key[b]) })
	if slices.Equal(ord, identity(n)) {
		return nil
	}
	return ord
}

// layer rewrites l for its input's order and sets its output's.
func (o *orderer) layer(l *Layer) {
	x := o.ord[l.X.ID]
	switch {
	case l.Kind == Shuffle:
		o.shuffle(l)
	case l.Kind == Slice:
		o.slice(l)
	case l.Kind == Concat:
		o.concat(l)
	case l.Kind == Pointwise || l.Kind == Dense:
		y := o.want(l.Y)
		if x != nil || y != nil {
			l.Node = permuteConv(l.Node, y, x)
		}
		o.ord[l.Y.ID] = y
	case passes(l.Kind):
		if x == nil {
			return
		}
		o.ord[l.Y.ID] = x
		switch {
		case l.Kind == Depthwise:
			l.Node = permuteConv(l.Node, x, nil)
		case l.Kind == Table && len(l.Node.Table.T) > 256:
			nd := *l.Node
			t := *nd.Table
			t.T = make([]uint8, len(t.T))
			for p, c := range x {
				copy(t.T[p*256:][:256], nd.Table.T[c*256:][:256])
			}
			if a := nd.Table.Affine; a != nil {
				// Its arithmetic, per channel too, in the same order.
				pa := *a
				pa.Scale, pa.Shift = make([]float32, len(x)), make([]float32, len(x))
				for p, c := range x {
					pa.Scale[p], pa.Shift[p] = a.Scale[c], a.Shift[c]
				}
				t.Affine = &pa
			}
			nd.Table = &t
			l.Node = &nd
		}
	}
}

// shuffle makes l a View of its input in another order, or where its output
// must be logical a gather from its input's order.
func (o *orderer) shuffle(l *Layer) {
	x := o.get(l.X)
	if !o.need[l.Y.ID] {
		// Y[j] = X[Perm[j]]: the position holding X's channel c holds Y's
		// channel inv[c].
		inv := pos(l.Node.Perm)
		y := make([]int, len(x))
		for p, c := range x {
			y[p] = inv[c]
		}
		l.View = true
		o.ord[l.Y.ID] = y
		return
	}
	if o.ord[l.X.ID] == nil {
		return
	}
	px := pos(x)
	perm := make([]int, len(l.Node.Perm))
	for j, from := range l.Node.Perm {
		perm[j] = px[from]
	}
	nd := *l.Node
	nd.Perm = perm
	l.Node = &nd
}

// slice maps l's range to its input's physical positions: a range there
// (with the order of its channels), or a gather into logical order.
func (o *orderer) slice(l *Layer) {
	xo := o.ord[l.X.ID]
	if xo == nil {
		return
	}
	s := l.Node.Slice
	var ps []int
	for p, c := range xo {
		if c >= s.Start && c < s.End {
			ps = append(ps, p)
		}
	}
	y := make([]int, len(ps))
	for k, p := range ps {
		y[k] = xo[p] - s.Start
	}
	isID := slices.Equal(y, identity(len(y)))
	nd := *l.Node
	if ps[len(ps)-1]-ps[0] == len(ps)-1 && (isID || !o.need[l.Y.ID]) {
		sl := *s
		sl.Start, sl.End = ps[0], ps[0]+len(ps)
		nd.Slice = &sl
		if !isID {
			o.ord[l.Y.ID] = y
		}
		l.Node = &nd
		return
	}
	px := pos(xo)
	nd.Kind, nd.Slice, nd.Perm = compiler.KShuffle, nil, make([]int, len(y))
	for j := range nd.Perm {
		nd.Perm[j] = px[s.Start+j]
	}
	l.Node, l.Kind = &nd, Shuffle
}

// concat lays out l's output in the order its readers want and copies its
// inputs as runs contiguous in both orders.
func (o *orderer) concat(l *Layer) {
	type ch struct{ in, p, block int } // a channel: input, position there, block
	n := l.YD.C
	var key []int
	if !o.need[l.Y.ID] {
		key = o.blocks(l.Y)
	}
	chans := make([]ch, n) // by logical output channel
	changed := key != nil
	for i, x := range l.Xs {
		xo := o.get(x)
		changed = changed || o.ord[x.ID] != nil
		for p, c := range xo {
			chans[l.XsAt[i]+c] = ch{i, p, 0}
		}
	}
	if !changed {
		return
	}
	y := identity(n)
	if !o.need[l.Y.ID] {
		// Free to choose: by block, then each input in its own order (one
		// block when no reader asks for any).
		if key != nil {
			for c := range chans {
				chans[c].block = key[c]
			}
		}
		slices.SortStableFunc(y, func(a, b int) int {
			ca, cb := chans[a], chans[b]
			return cmp.Or(cmp.Compare(ca.block, cb.block), cmp.Compare(ca.in, cb.in), cmp.Compare(ca.p, cb.p))
		})
	}
	// Runs: consecutive output positions from consecutive positions of one input.
	type run struct{ in, from, c, at int }
	var runs []run
	for q, c := range y {
		h := chans[c]
		if k := len(runs) - 1; k >= 0 && runs[k].in == h.in && runs[k].from+runs[k].c == h.p {
			runs[k].c++
			continue
		}
		runs = append(runs, run{h.in, h.p, 1, q})
	}
	count := make([]int, len(l.Xs))
	for _, r := range runs {
		count[r.in]++
	}
	nd := *l.Node
	nd.In, nd.Concat = nil, &compiler.Concat{}
	xs, direct := l.Xs, l.Direct
	l.Xs, l.XsStride, l.XsFrom, l.XsC, l.XsAt, l.Direct = nil, nil, nil, nil, nil, nil
	for _, r := range runs {
		x := xs[r.in]
		nd.In = append(nd.In, x.ID)
		nd.Concat.M = append(nd.Concat.M, l.Node.Concat.M[r.in])
		l.Xs = append(l.Xs, x)
		l.XsStride = append(l.XsStride, dims(x).C)
		l.XsFrom, l.XsC, l.XsAt = append(l.XsFrom, r.from), append(l.XsC, r.c), append(l.XsAt, r.at)
		// A producer writes in place only an input that stays one block.
		l.Direct = append(l.Direct, direct[r.in] && count[r.in] == 1)
	}
	l.Node, l.X = &nd, l.Xs[0]
	if !slices.Equal(y, identity(n)) {
		o.ord[l.Y.ID] = y
	}
}

// permuteConv is nd with its conv's output channels in order y (rows:
// weights, biases, multipliers) and its input channels in order x (weight
// columns); nil keeps an order.
func permuteConv(nd *compiler.Node, y, x []int) *compiler.Node {
	c := *nd.Conv
	icg := c.InC / c.Groups
	taps := len(c.Weight) / (c.OutC * icg)
	if y == nil {
		y = identity(c.OutC)
	}
	if x == nil || c.Groups > 1 {
		x = identity(icg) // depthwise: one column, permuted with its row
	}
	c.Weight = make([]int8, len(nd.Conv.Weight))
	c.B, c.M, c.WScale = make([]float32, c.OutC), make([]float32, c.OutC), make([]float64, len(nd.Conv.WScale))
	for q, o := range y {
		for p, i := range x {
			copy(c.Weight[(q*icg+p)*taps:][:taps], nd.Conv.Weight[(o*icg+i)*taps:][:taps])
		}
		c.B[q], c.M[q] = nd.Conv.B[o], nd.Conv.M[o]
		if len(c.WScale) == c.OutC {
			c.WScale[q] = nd.Conv.WScale[o]
		}
	}
	if len(c.WScale) != c.OutC {
		copy(c.WScale, nd.Conv.WScale)
	}
	n := *nd
	n.Conv = &c
	return &n
}
