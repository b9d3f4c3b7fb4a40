package ir

import "math"

// EqualizePair is a conv1 -> conv2 pair joined by a positively homogeneous path
// (nothing, a fused ReLU, or a spatial mean), along which channel i of conv1's
// output can be scaled by 1/s_i and input channel i of conv2 by s_i without
// changing the function.
type EqualizePair struct {
	First, Second *Node
}

// EqualizePairs finds every such pair in a fused graph: conv1's output (after a
// ReLU or no activation; never ReLU6, which clips) is read only by conv2, or only
// by a mean that is read only by a linear. A residual add ends a path.
func EqualizePairs(g *Graph) []EqualizePair {
	var pairs []EqualizePair
	for _, n := range g.Nodes {
		if n.Op != OpConv {
			continue
		}
		if next, _ := equalizeNext(g, n); next != nil {
			pairs = append(pairs, EqualizePair{n, next})
		}
	}
	return pairs
}

// EqualizeUnpaired counts, by reason, the convs EqualizePairs leaves out:
// equalization skips what it cannot scale exactly and says why.
func EqualizeUnpaired(g *Graph) map[string]int {
	why := map[string]int{}
	for _, n := range g.Nodes {
		if n.Op != OpConv {
			continue
		}
		if next, reason := equalizeNext(g, n); next == nil {
			why[reason]++
		}
	}
	return why
}

// equalizeNext is conv n's partner in a pair, or nil and why it has none.
func equalizeNext(g *Graph, n *Node) (*Node, string) {
	cs := g.Consumers(n.Out)
	switch {
	case n.Out == g.Output:
		return nil, "output of the graph"
	case n.Act == ActReLU6:
		return nil, "ReLU6 clips"
	case n.Act != ActNone && n.Act != ActReLU:
		return nil, "its activation is not positively homogeneous"
	case len(cs) != 1:
		return nil, "output read by several nodes (residual, concat, split)"
	}
	next := cs[0]
	switch {
	case next.Op == OpMean:
		if ms := g.Consumers(next.Out); next.Out != g.Output && len(ms) == 1 && ms[0].Op == OpLinear {
			return ms[0], ""
		}
		return nil, "mean not followed by a linear"
	case next.Op != OpConv:
		return nil, "followed by " + next.Op.String()
	case next.Conv.Groups > 1 && !next.Conv.Depthwise():
		return nil, "next conv is grouped"
	case n.Conv.OutC != next.Conv.InC:
		return nil, "channel counts differ"
	}
	return next, ""
}

// outRange is max |w| over each output channel of a conv.
func outRange(c *Conv) []float64 {
	per := len(c.Weight) / c.OutC
	r := make([]float64, c.OutC)
	for o := range r {
		for _, w := range c.Weight[o*per : (o+1)*per] {
			r[o] = math.Max(r[o], math.Abs(float64(w)))
		}
	}
	return r
}

// inRange is max |w| over each input channel of the second layer of a pair.
func inRange(n *Node) []float64 {
	if n.Op == OpLinear {
		l := n.Linear
		r := make([]float64, l.In)
		for o := 0; o < l.Out; o++ {
			for i, w := range l.Weight[o*l.In : (o+1)*l.In] {
				r[i] = math.Max(r[i], math.Abs(float64(w)))
			}
		}
		return r
	}
	c := n.Conv
	if c.Depthwise() {
		return outRange(c)
	}
	k2 := c.Taps()
	r := make([]float64, c.InC)
	for o := 0; o < c.OutC; o++ {
		for i := 0; i < c.InC; i++ {
			for _, w := range c.Weight[(o*c.InC+i)*k2 : (o*c.InC+i+1)*k2] {
				r[i] = math.Max(r[i], math.Abs(float64(w)))
			}
		}
	}
	return r
}

// scaleIn multiplies input channel i of the pair's second layer by s[i].
func scaleIn(n *Node, s []float64) {
	if n.Op == OpLinear {
		l := n.Linear
		for o := 0; o < l.Out; o++ {
			for i := range s {
				l.Weight[o*l.In+i] = float32(float64(l.Weight[o*l.In+i]) * s[i])
			}
		}
		return
	}
	c := n.Conv
	k2 := c.Taps()
	icg := c.InC / c.Groups
	for o := 0; o < c.OutC; o++ {
		for j := 0; j < icg; j++ {
			i := o/(c.OutC/c.Groups)*icg + j
			for k := (o*icg + j) * k2; k < (o*icg+j+1)*k2; k++ {
				c.Weight[k] = float32(float64(c.Weight[k]) * s[i])
			}
		}
	}
}

// Equalize applies cross-layer equalization (Nagel et al., ICCV 2019) to every pair
// of a fused graph, sweeping all pairs until no scale moves by more than tol (or
// maxIter sweeps): s_i = sqrt(r1_i * r2_i) / r2_i, conv1's output channel i (weights
// and bias) divided by s_i, conv2's input channel i multiplied by it. It returns the
// number of sweeps.
func Equalize(g *Graph, maxIter int, tol float64) int {
	pairs := EqualizePairs(g)
	for it := 1; it <= maxIter; it++ {
		worst := 0.0
		for _, p := range pairs {
			r1, r2 := outRange(p.First.Conv), inRange(p.Second)
			s := make([]float64, len(r1))
			for i := range s {
				s[i] = 1
				if r1[i] > 0 && r2[i] > 0 {
					s[i] = math.Sqrt(r1[i]*r2[i]) / r2[i]
				}
				worst = math.Max(worst, math.Abs(math.Log(s[i])))
			}
			c := p.First.Conv
			per := len(c.Weight) / c.OutC
			for o := range s {
				for k := o * per; k < (o+1)*per; k++ {
					c.Weight[k] = float32(float64(c.Weight[k]) / s[o])
				}
				if c.Bias != nil {
					c.Bias[o] = float32(float64(c.Bias[o]) / s[o])
				}
				if c.OutMean != nil {
					c.OutMean[o] = float32(float64(c.OutMean[o]) / s[o])
					c.OutStd[o] = float32(float64(c.OutStd[o]) / s[o])
				}
			}
			scaleIn(p.Second, s)
		}
		if worst < tol {
			return it
		}
	}
	return maxIter
}

// ChannelSpread is a layer's weight range spread: the largest per-output-channel
// max |w| over the smallest nonzero one.
func ChannelSpread(n *Node) float64 {
	var r []float64
	switch {
	case n.Conv != nil:
		r = outRange(n.Conv)
	case n.Linear != nil:
		l := n.Linear
		r = outRange(&Conv{OutC: l.Out, Weight: l.Weight})
	default:
		return 0
	}
	lo, hi := math.Inf(1), 0.0
	for _, v := range r {
		if v > 0 {
			lo = math.Min(lo, v)
		}
		hi = math.Max(hi, v)
	}
	if hi == 0 {
		return 0
	}
	return hi / lo
}

// AbsorbHighBias moves the part of each ReLU conv's bias that the ReLU never
// clips into the next layer (Nagel et al. 2019, section 4.2): with the BatchNorm
// estimate that channel i's pre-activation is at least c_i = max(0, beta_i - 3|gamma_i|),
// ReLU(x) = ReLU(x - c_i) + c_i, so conv1's bias loses c_i and the next layer's
// bias gains W2[:, i] * c_i. It applies where the next layer sees no padding (a 1x1
// conv, or a linear after the mean), since padded borders would read 0, not c_i;
// and it shrinks the ranges that activations must be quantized over. It returns
// the number of channels changed.
func AbsorbHighBias(g *Graph) int {
	changed := 0
	for _, p := range EqualizePairs(g) {
		c1 := p.First.Conv
		if p.First.Act != ActReLU || c1.OutMean == nil || c1.Bias == nil {
			continue
		}
		if p.Second.Op == OpConv && !p.Second.Conv.unpadded1x1() {
			continue
		}
		shift := make([]float64, c1.OutC)
		any := false
		for i := range shift {
			shift[i] = math.Max(0, float64(c1.OutMean[i])-3*float64(c1.OutStd[i]))
			if shift[i] > 0 {
				any = true
				changed++
				c1.Bias[i] = float32(float64(c1.Bias[i]) - shift[i])
				c1.OutMean[i] = float32(float64(c1.OutMean[i]) - shift[i])
			}
		}
		if !any {
			continue
		}
		var w, b []float32
		var out, in int
		if p.Second.Op == OpLinear {
			l := p.Second.Linear
			if l.Bias == nil {
				l.Bias = make([]float32, l.Out)
			}
			w, b, out, in = l.Weight, l.Bias, l.Out, l.In
		} else {
			c2 := p.Second.Conv
			if c2.Bias == nil {
				c2.Bias = make([]float32, c2.OutC)
			}
			w, b, out, in = c2.Weight, c2.Bias, c2.OutC, c2.InC
		}
		for o := 0; o < out; o++ {
			sum := float64(b[o])
			for i := 0; i < in; i++ {
				sum += float64(w[o*in+i]) * shift[i]
			}
			b[o] = float32(sum)
		}
	}
	return changed
}
