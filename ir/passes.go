package ir

import "math"

// Fuse returns a copy of g with Dropout/Identity removed, BatchNorm folded into
// the preceding convs and ReLU/ReLU6 fused into them: what PyTorch's fuse_model
// gives, ready for quantization. g itself is unchanged.
func Fuse(g *Graph) *Graph {
	f := g.Clone()
	RemoveIdentities(f)
	FoldBatchNorm(f)
	BatchNormToAffine(f)
	FuseActivations(f)
	return f
}

// BatchNormToAffine turns each BatchNorm left after FoldBatchNorm (one after
// a concat or a ReLU, as in DenseNet) into the per-channel affine it is at
// inference.
func BatchNormToAffine(g *Graph) {
	for _, n := range g.Nodes {
		if n.Op != OpBatchNorm {
			continue
		}
		bn := n.BN
		a := &Affine{C: bn.C, Scale: make([]float32, bn.C), Shift: make([]float32, bn.C)}
		for c := range bn.C {
			a.Scale[c] = bn.Weight[c] / float32(math.Sqrt(float64(bn.Var[c]+bn.Eps)))
			a.Shift[c] = bn.Bias[c] - bn.Mean[c]*a.Scale[c]
		}
		n.Op, n.BN, n.Affine = OpAffine, nil, a
	}
}

// RemoveIdentities drops Dropout and Identity nodes (identities at inference).
func RemoveIdentities(g *Graph) {
	keep := make([]*Node, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		if n.Op == OpDropout || n.Op == OpIdentity {
			rename(g, n.Out, n.In[0])
			continue
		}
		keep = append(keep, n)
	}
	g.Nodes = keep
}

// rename makes every reader of tensor from read tensor to instead.
func rename(g *Graph, from, to int) {
	for _, m := range g.Nodes {
		for i, in := range m.In {
			if in == from {
				m.In[i] = to
			}
		}
	}
	if g.Output == from {
		g.Output = to
	}
}

// singleUse reports whether tensor id is read by exactly one node and is not the graph output.
func singleUse(g *Graph, id int) bool {
	return id != g.Output && len(g.Consumers(id)) == 1
}

// FoldBatchNorm folds each BatchNorm whose input is a conv or linear layer
// read by nothing else into that layer, with PyTorch's fuse_conv_bn_weights
// and fuse_linear_bn_weights arithmetic (float32, eval mode).
func FoldBatchNorm(g *Graph) {
	keep := make([]*Node, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		if n.Op == OpBatchNorm {
			if p := g.Producer(n.In[0]); p != nil && (p.Op == OpConv || p.Op == OpLinear) && p.Act == ActNone && singleUse(g, p.Out) {
				if p.Op == OpConv {
					foldBN(p.Conv, n.BN)
				} else {
					foldLinearBN(p.Linear, n.BN)
				}
				p.Out = n.Out
				continue
			}
		}
		keep = append(keep, n)
	}
	g.Nodes = keep
}

func foldBN(c *Conv, bn *BatchNorm) {
	per := len(c.Weight) / c.OutC
	if c.Bias == nil {
		c.Bias = make([]float32, c.OutC)
	}
	c.OutMean, c.OutStd = cloneF32(bn.Bias), make([]float32, c.OutC)
	for o, w := range bn.Weight {
		c.OutStd[o] = float32(math.Abs(float64(w)))
	}
	for o := 0; o < c.OutC; o++ {
		rs := float32(1) / float32(math.Sqrt(float64(bn.Var[o]+bn.Eps)))
		s := bn.Weight[o] * rs
		for i := o * per; i < (o+1)*per; i++ {
			c.Weight[i] *= s
		}
		c.Bias[o] = float32(float32(float32(c.Bias[o]-bn.Mean[o])*rs)*bn.Weight[o]) + bn.Bias[o]
	}
}

// foldLinearBN is fuse_linear_bn_weights: w*s and (b - mean)*s + beta with
// s = gamma/sqrt(var + eps).
func foldLinearBN(l *Linear, bn *BatchNorm) {
	if l.Bias == nil {
		l.Bias = make([]float32, l.Out)
	}
	for o := range l.Out {
		s := bn.Weight[o] * (float32(1) / float32(math.Sqrt(float64(bn.Var[o]+bn.Eps))))
		for i := o * l.In; i < (o+1)*l.In; i++ {
			l.Weight[i] *= s
		}
		l.Bias[o] = float32(float32(l.Bias[o]-bn.Mean[o])*s) + bn.Bias[o]
	}
}

// FuseActivations fuses a ReLU or ReLU6 into the Conv, Linear or Affine before
// it when nothing else reads the pre-activation value. An Affine with its ReLU
// is PyTorch's BNReLU2d (DenseNet's norm and relu before each conv): one
// observed output, after the ReLU.
func FuseActivations(g *Graph) {
	keep := make([]*Node, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		if n.Op == OpReLU || n.Op == OpReLU6 {
			if p := g.Producer(n.In[0]); p != nil && (p.Op == OpConv || p.Op == OpLinear || p.Op == OpAffine) && p.Act == ActNone && singleUse(g, p.Out) {
				p.Act = ActReLU
				if n.Op == OpReLU6 {
					p.Act = ActReLU6
				}
				p.Out = n.Out
				continue
			}
		}
		keep = append(keep, n)
	}
	g.Nodes = keep
}
