package lower

import (
	"fmt"
	"sort"

	"github.com/ptqc/ptqc/compiler"
)

func roundUp(n, a int) int { return (n + a - 1) / a * a }

// interval is a tensor's life in node order: written by node def, last read by node last.
type interval struct{ def, last, size int }

// firstFit places tensors, in the order they become alive (def), at the lowest
// offset where they overlap no tensor still alive (one whose last reader is this node or later). A tensor's
// bytes are free again after its last reader, so a residual input stays alive
// across its block. It returns each tensor's offset and the arena size.
func firstFit(ts []interval) ([]int, int) {
	type slot struct{ off, end, last int }
	var live []slot // sorted by offset
	offs := make([]int, len(ts))
	peak := 0
	for i, t := range ts {
		keep := live[:0]
		for _, s := range live {
			if s.last >= t.def {
				keep = append(keep, s)
			}
		}
		live = keep
		off := 0
		for _, s := range live {
			if s.off-off >= t.size {
				break
			}
			off = max(off, s.end)
		}
		offs[i] = off
		peak = max(peak, off+t.size)
		live = append(live, slot{off, off + t.size, max(t.last, t.def)})
		sort.Slice(live, func(a, b int) bool { return live[a].off < live[b].off })
	}
	return offs, peak
}

// plan places every layer's uint8 output in the arena, sets the layers' offsets
// and returns the arena size. The float input and output are the caller's. A
// Concat input written in place (Direct) has no bytes of its own: it lives in
// the concat's output, which is alive from the first such input's producer.
// Nor has a View: its readers read the sliced tensor, alive until they are done.
func plan(ls []*Layer) (int, error) {
	last := map[int]int{}
	for i, l := range ls {
		for _, id := range l.reads() {
			last[id] = i
		}
	}
	def := map[int]int{}     // tensor -> layer that writes it
	into := map[int]*Layer{} // tensor written in place -> its Concat
	for i := len(ls) - 1; i >= 0; i-- {
		// The viewed tensor lives as long as the view's readers (backwards,
		// so that a view of a view passes its readers' life on).
		if l := ls[i]; l.View {
			last[l.X.ID] = max(last[l.X.ID], last[l.Y.ID])
		}
	}
	for i, l := range ls {
		def[l.Y.ID] = i
		for j, d := range l.Direct {
			if d {
				into[l.Xs[j].ID] = l
			}
		}
	}
	var ts []interval
	var ids []int
	for i, l := range ls {
		if l.Kind == Dequantize || into[l.Y.ID] != nil || l.View {
			continue
		}
		lu, ok := last[l.Y.ID]
		if !ok {
			lu = i
		}
		first := i
		for j, d := range l.Direct {
			if d {
				first = min(first, def[l.Xs[j].ID])
			}
		}
		ts = append(ts, interval{def: first, last: lu, size: roundUp(l.YD.Elems(), Align)})
		ids = append(ids, l.Y.ID)
	}
	// firstFit takes the tensors in the order they become alive.
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ts[order[a]].def < ts[order[b]].def })
	sorted := make([]interval, len(ts))
	for i, o := range order {
		sorted[i] = ts[o]
	}
	offs, peak := firstFit(sorted)
	if peak > 1<<31-1 {
		return 0, fmt.Errorf("activation arena of %d bytes is too large", peak)
	}
	at := map[int]int{}
	for i, o := range order {
		at[ids[o]] = offs[i]
	}
	for _, l := range ls {
		if l.Kind != Concat {
			continue
		}
		for j, x := range l.Xs {
			if l.Direct[j] {
				at[x.ID] = at[l.Y.ID] + l.XsAt[j]
			}
		}
	}
	stride := map[int]int{} // a View's output -> the sliced tensor's channels
	for _, l := range ls {
		if l.View {
			// A Slice's view starts at its first channel, a Shuffle's (order.go)
			// is its whole input.
			at[l.Y.ID] = at[l.X.ID]
			if l.Kind == Slice {
				at[l.Y.ID] += l.Node.Slice.Start
			}
			stride[l.Y.ID] = l.XD.C
			l.YStride = l.XD.C
		}
	}
	for _, l := range ls {
		for i, x := range l.Xs {
			if s, ok := stride[x.ID]; ok {
				l.XsStride[i] = s
			}
		}
		if l.Kind != Quantize {
			l.XOff = at[l.X.ID]
		}
		if l.X2 != nil {
			l.X2Off = at[l.X2.ID]
		}
		if l.Epi != nil && l.Epi.Res != nil {
			l.Epi.ResOff = at[l.Epi.Res.ID]
		}
		for i, x := range l.Xs {
			l.XsOff = append(l.XsOff, at[x.ID]+l.XsFrom[i])
		}
		if l.Kind != Dequantize {
			l.YOff = at[l.Y.ID]
		}
		if c := into[l.Y.ID]; c != nil {
			l.YStride = c.YD.C
		}
	}
	return peak, nil
}

// dims is t's Dims; lower checked its shape.
func dims(t *compiler.Tensor) Dims {
	d, _ := tensorDims(t)
	return d
}
