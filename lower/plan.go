package lower

import (
	"fmt"
	"sort"
)

func roundUp(n, a int) int { return (n + a - 1) / a * a }

// interval is a tensor's life in node order: written by node def, last read by node last.
type interval struct{ def, last, size int }

// firstFit places tensors in node order at the lowest offset where they overlap no
// tensor still alive (one whose last reader is this node or later). A tensor's
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
// and returns the arena size. The float input and output are the caller's.
func plan(ls []*Layer) (int, error) {
	last := map[int]int{}
	for i, l := range ls {
		for _, id := range l.Node.In {
			last[id] = i
		}
	}
	var ts []interval
	var ids []int
	for i, l := range ls {
		if l.Kind == Dequantize {
			continue
		}
		lu, ok := last[l.Y.ID]
		if !ok {
			lu = i
		}
		ts = append(ts, interval{def: i, last: lu, size: roundUp(l.YD.Elems(), Align)})
		ids = append(ids, l.Y.ID)
	}
	offs, peak := firstFit(ts)
	if peak > 1<<31-1 {
		return 0, fmt.Errorf("activation arena of %d bytes is too large", peak)
	}
	at := map[int]int{}
	for i, id := range ids {
		at[id] = offs[i]
	}
	for _, l := range ls {
		if l.Kind != Quantize {
			l.XOff = at[l.X.ID]
		}
		if l.X2 != nil {
			l.X2Off = at[l.X2.ID]
		}
		for _, x := range l.Xs {
			l.XsOff = append(l.XsOff, at[x.ID])
		}
		if l.Kind != Dequantize {
			l.YOff = at[l.Y.ID]
		}
	}
	return peak, nil
}
