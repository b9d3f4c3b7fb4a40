package asmgen

import (
	"fmt"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Gather is a Shuffle lower could not fold into a view: per pixel of Rows
// rows of RW pixels, y[c] = x[Perm[c]] for the len(Perm) output channels
// of a pixel of XC input channels.
type Gather struct {
	XC       int
	Perm     []int
	Rows, RW int
}

// Units is the kernel's work count (rows).
func (g *Gather) Units() int { return g.Rows }

const gatherSig = "func(x, y *byte, s0, s1 int)"

// gatherChunk is 16 output bytes from At (the last chunk may overlap the one
// before it, or hold N < 16 bytes when the pixel has fewer): per source
// window, its byte offset in the input pixel and its VPSHUFB control (0x80
// for the bytes other windows give); Copy when one window is the chunk as
// it is.
type gatherChunk struct {
	At, N int
	Start []int
	Ctl   [][16]byte
	Copy  bool
}

// chunks plans the gather. Windows are 16 bytes inside the input pixel when
// it has 16 channels or more, else from its start (reading up to 15 bytes
// past it, within lower.ReadSlack after the tensor); a greedy cover of the
// chunk's sorted sources uses the fewest.
func (g *Gather) chunks() []gatherChunk {
	c := len(g.Perm)
	var ats []int
	for at := 0; at+16 <= c; at += 16 {
		ats = append(ats, at)
	}
	n := 16
	switch {
	case c < 16:
		ats, n = []int{0}, c
	case c%16 != 0:
		ats = append(ats, c-16) // overlaps the chunk before, inside the pixel
	}
	last := max(0, g.XC-16)
	var out []gatherChunk
	for _, at := range ats {
		ch := gatherChunk{At: at, N: n}
		src := g.Perm[at : at+n]
		need := map[int]bool{}
		for _, s := range src {
			need[s] = true
		}
		for s := range g.XC {
			if !need[s] || len(ch.Start) > 0 && s < ch.Start[len(ch.Start)-1]+16 {
				continue
			}
			ch.Start = append(ch.Start, min(s, last))
		}
		ch.Ctl = make([][16]byte, len(ch.Start))
		for w := range ch.Ctl {
			for j := range ch.Ctl[w] {
				ch.Ctl[w][j] = 0x80
			}
		}
		for j, s := range src {
			w := 0
			for w+1 < len(ch.Start) && ch.Start[w+1] <= s {
				w++
			}
			ch.Ctl[w][j] = byte(s - ch.Start[w])
		}
		ch.Copy = len(ch.Start) == 1
		for j := range n {
			ch.Copy = ch.Copy && ch.Ctl[0][j] == byte(j)
		}
		out = append(out, ch)
	}
	return out
}

// Gather adds a channel-gather kernel: per 16 output bytes, one load and
// one VPSHUFB per source window, ORed (a plain copy where the window is the
// chunk); full chunks stored whole, a pixel of fewer than 16 channels
// byte-exact.
func (p *Program) Gather(name string, g *Gather) error {
	c := len(g.Perm)
	if g.XC < 1 || c < 1 || c > g.XC || g.Rows < 1 || g.RW < 1 || g.Rows*g.RW*g.XC > 1<<30 {
		return fmt.Errorf("asmgen: gather of %d channels from %d, %d rows of %d", c, g.XC, g.Rows, g.RW)
	}
	for _, s := range g.Perm {
		if s < 0 || s >= g.XC {
			return fmt.Errorf("asmgen: gather of channel %d from %d", s, g.XC)
		}
	}
	if err := p.function(name, gatherSig, fmt.Sprintf("%s: gather of %d channels from %d.", name, c, g.XC)); err != nil {
		return err
	}
	plan := g.chunks()
	var words []uint32
	for _, ch := range plan {
		if ch.Copy {
			continue
		}
		for _, ctl := range ch.Ctl {
			words = append(words, bytesWords(ctl[:])...)
		}
	}
	var tbl operand.Mem
	if len(words) > 0 {
		tbl = p.data(name+"_ctl", words)
	}
	cx := p.ctx
	px, py, s0, s1 := reg.RAX, reg.RCX, reg.RSI, reg.RDI
	loadArgs(cx, "x y s0 s1", px, py, s0, s1)
	pixelLoop(cx, name, g.RW, s0, s1, []reg.Register{px, py}, []int{g.XC, c}, func() {
		tmp := []reg.VecPhysical{reg.X1, reg.X2, reg.X3, reg.X4}
		off := 0
		for _, ch := range plan {
			acc := reg.X0
			for w, st := range ch.Start {
				v := acc
				if w > 0 {
					v = tmp[w%len(tmp)]
				}
				cx.VMOVDQU(mem(px, st), v)
				if ch.Copy {
					break
				}
				cx.VPSHUFB(tbl.Offset(off), v, v)
				off += 16
				if w > 0 {
					cx.VPOR(v, acc, acc)
				}
			}
			storeN(cx, acc, ch.N, mem(py, ch.At), reg.RDX)
		}
	})
	cx.RET()
	return nil
}
