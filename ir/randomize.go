package ir

import (
	"math"
	"math/rand/v2"
)

// BuildRandom builds d's graph (Build) with Randomize's parameters from seed:
// a model to test and measure with, no trained weights needed.
func BuildRandom(d *Description, seed uint64) (*Graph, error) {
	g, err := Build(d)
	if err != nil {
		return nil, err
	}
	Randomize(g, seed)
	return g, nil
}

// Randomize fills every parameter with deterministic pseudo-random values from
// seed: Kaiming-like conv and linear weights, BatchNorm statistics that vary per
// channel (so folded weight ranges differ across channels, as in trained nets).
func Randomize(g *Graph, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	normal := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * std)
		}
		return v
	}
	uniform := func(n int, lo, hi float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(lo + (hi-lo)*r.Float64())
		}
		return v
	}
	for _, n := range g.Nodes {
		switch {
		case n.Conv != nil:
			c := n.Conv
			fanOut := float64(c.OutC / c.Groups * c.Taps())
			c.Weight = normal(c.OutC*c.InC/c.Groups*c.Taps(), math.Sqrt(2/fanOut))
			if c.Bias != nil {
				c.Bias = normal(c.OutC, 0.1)
			}
		case n.BN != nil:
			b := n.BN
			b.Weight = uniform(b.C, 0.5, 1.5)
			b.Bias = normal(b.C, 0.2)
			b.Mean = normal(b.C, 0.2)
			b.Var = uniform(b.C, 0.3, 2)
		case n.Linear != nil:
			l := n.Linear
			l.Weight = normal(l.Out*l.In, math.Sqrt(1/float64(l.In)))
			l.Bias = normal(l.Out, 0.05)
		}
	}
}
