package calibrate

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ir/floatk"
)

// Result is what calibration found: each observed tensor's frozen qparams and range.
type Result struct {
	QConfig QConfig
	Act     map[int]QParams    // by tensor ID of the fused graph
	Range   map[int][2]float32 // observed min and max, by tensor ID
	Samples int
}

// Observed reports whether PyTorch puts an observer on n's output: the
// QuantStub, each fused conv and linear, each add (add_relu) and mul, a
// concat, and the elementwise ops whose output range is their own
// (HardSwish, LeakyReLU, SiLU, ELU, PReLU, GELU, a standalone affine;
// Softplus, Mish, SELU, CELU, Softsign, Abs and Erf, which PyTorch leaves in
// float, likewise). Sigmoid, HardSigmoid and Tanh take FixedQParams instead;
// pooling, flatten, slice, the channel shuffle and a clip (Hardtanh) keep
// their input's qparams.
func Observed(n *ir.Node) bool {
	switch n.Op {
	case ir.OpQuant, ir.OpConv, ir.OpLinear, ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpConcat,
		ir.OpHardSwish, ir.OpLeakyReLU, ir.OpSiLU, ir.OpAffine, ir.OpELU, ir.OpPReLU, ir.OpSoftplus, ir.OpMish,
		ir.OpSELU, ir.OpCELU, ir.OpSoftsign, ir.OpAbs, ir.OpErf, ir.OpGELU:
		return true
	}
	return false
}

// FixedQParams are the output qparams PyTorch fixes for ops with a known
// range (quint8: sigmoid and hardsigmoid map onto [0, 1) as scale 1/256,
// zero point 0; tanh onto [-1, 1) as 2/256, 128); ok is false for other ops.
func FixedQParams(n *ir.Node) (q QParams, ok bool) {
	switch n.Op {
	case ir.OpSigmoid, ir.OpHardSigmoid:
		return QParams{Scale: 1.0 / 256, ZeroPoint: 0}, true
	case ir.OpTanh:
		return QParams{Scale: 2.0 / 256, ZeroPoint: 128}, true
	}
	return QParams{}, false
}

// Progress is called after each batch with the samples done and the total.
type Progress func(done, total int)

// Calibrate runs limit samples of ds (all if 0) through the fused float graph in
// batches, feeding each observed tensor to a fresh observer of the qconfig, and
// freezes the qparams. Each batch is one forward call, as in PyTorch: the
// observers end as they would observing the batch's whole tensor. ds.Load
// is called from several goroutines at once (data.Open's datasets allow it).
func Calibrate(g *ir.Graph, ds data.Dataset, qc QConfig, limit, batch int, progress Progress) (*Result, error) {
	r, err := calibrate(g, ds, qc, limit, batch, progress, true)
	if errors.Is(err, errCellsFailed) {
		// Rare: a batch's range outgrew what the histograms' cells can
		// tell apart (histParts). Counting from copies is always exact.
		r, err = calibrate(g, ds, qc, limit, batch, progress, false)
	}
	return r, err
}

// errCellsFailed stops a calibration whose histogram cells failed.
var errCellsFailed = errors.New("calibration: histogram cells outgrown")

// calibrate is Calibrate, with the histogram observers counting cells where
// they can if cells.
func calibrate(g *ir.Graph, ds data.Dataset, qc QConfig, limit, batch int, progress Progress, cells bool) (*Result, error) {
	want := g.Tensors[g.Input].Shape
	if c, h, w := ds.Shape(); c != want[0] || h != want[1] || w != want[2] {
		return nil, fmt.Errorf("calibration data: samples are %dx%dx%d, the model's input is %v", c, h, w, want)
	}
	total := ds.Len()
	if total == 0 {
		return nil, fmt.Errorf("calibration data: the set is empty")
	}
	if limit > 0 {
		if total < limit {
			return nil, fmt.Errorf("calibration data: %d samples asked for, only %d available", limit, total)
		}
		total = limit
	}
	if batch <= 0 {
		return nil, fmt.Errorf("calibration: batch size %d must be positive", batch)
	}
	// Each batch is one forward call for the observers, which take it in
	// parts: RunEach runs the samples a cache-sized group at a time, one
	// group per core, and calls the hook in sample order node by node. An
	// observer begins and ends each batch in its hook (a group's output may
	// hold the end of one batch and the start of the next), so no core
	// waits for the others at a batch's end.
	type observed struct {
		o     Observer
		po    partObserver
		elems int // per sample
		seen  int // samples seen
		// open is the sample (of the hook's group) whose parts are being
		// taken, -1 if none (see parts).
		open int
	}
	obs := make([]*observed, len(g.Tensors)) // by output tensor
	var order []*observed
	for _, n := range g.Nodes {
		if Observed(n) {
			o := NewObserver(qc.Act)
			if h, ok := o.(*HistogramObserver); ok {
				if !cells {
					h.withoutCells()
				}
				if nonNegative(n) {
					h.nonNegative()
				}
			}
			ob := &observed{o: o, po: o.(partObserver), elems: g.Tensors[n.Out].Elems(), open: -1}
			obs[n.Out] = ob
			order = append(order, ob)
		}
	}
	// observe adds x, values of the sample ob.seen, off values from its
	// first, after beginning the batch if the sample is its first.
	observe := func(n *ir.Node, ob *observed, x []float32, off int, first bool) error {
		s := ob.seen % batch // the sample's place in its batch
		if s == 0 && first {
			ob.po.begin(min(batch, total-ob.seen) * ob.elems)
		}
		// part finds x's range as it reads x.
		if lo, hi, ok := ob.po.part(x); !ok || math.IsInf(float64(lo), 0) || math.IsInf(float64(hi), 0) {
			for i, v := range x {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("calibration: layer %s produced %v (element %d): the weights overflow float32", n.Name, v, s*ob.elems+off+i)
				}
			}
		}
		return nil
	}
	var ends sync.WaitGroup
	// seen counts k samples observed, ending the batch at its last.
	seen := func(ob *observed, k int) error {
		ob.seen += k
		if ob.seen%batch != 0 && ob.seen != total {
			return nil
		}
		if ob.seen == total {
			// The last batch ends off the hook, with the search for the
			// qparams (a histogram's: ~0.4 ms), while the last samples'
			// later layers compute: the other cores have no samples left.
			ends.Go(func() {
				ob.po.end()
				ob.o.MinMax()
			})
		} else {
			ob.po.end()
			if failed(ob.o) {
				return errCellsFailed
			}
		}
		// The last observer ends a batch after the others.
		if progress != nil && ob == order[len(order)-1] {
			progress(ob.seen, total)
		}
		return nil
	}
	// parts observes a conv's output as it is computed, while it is in the
	// caches (reading a 112x112 layer's output after the layer found it in
	// memory): a group's samples in order, each sample's parts in any
	// order (counts and ranges add up the same).
	parts := func(n *ir.Node, s int, x []float32, off int) error {
		ob := obs[n.Out]
		if ob == nil || !Observed(n) {
			return nil
		}
		first := ob.open != s
		if first && ob.open >= 0 {
			ob.open = -1
			if err := seen(ob, 1); err != nil {
				return err
			}
		}
		ob.open = s
		return observe(n, ob, x, off, first)
	}
	hook := func(n *ir.Node, out []float32, k int) error {
		ob := obs[n.Out]
		if ob == nil || !Observed(n) {
			return nil
		}
		if ob.open >= 0 {
			// The group's samples up to open came in parts.
			done := ob.open + 1
			ob.open = -1
			if err := seen(ob, 1); err != nil {
				return err
			}
			if out == nil { // all of them (ir's channel bands)
				if done != k {
					return fmt.Errorf("calibration: layer %s: %d of %d samples seen", n.Name, done, k)
				}
				return nil
			}
			out, k = out[done*ob.elems:], k-done
		}
		for len(out) > 0 {
			take := min(k, batch-ob.seen%batch)
			x := out[:take*ob.elems]
			if err := observe(n, ob, x, 0, true); err != nil {
				return err
			}
			out, k = out[len(x):], k-take
			if err := seen(ob, take); err != nil {
				return err
			}
		}
		return nil
	}
	p, err := ir.Compile(g)
	if err != nil {
		return nil, err
	}
	elems := g.Tensors[g.Input].Elems()
	err = p.RunEach(total, func(s0, k int, x []float32) error {
		for j := range k {
			if _, err := ds.Load(s0+j, x[j*elems:(j+1)*elems]); err != nil {
				return err
			}
		}
		// One group per core already: scan it on this core (scanMinMax
		// would split it again).
		if lo, hi, ok := floatk.Best.MinMax(x); !ok || math.IsInf(float64(lo), 0) || math.IsInf(float64(hi), 0) {
			for i, v := range x {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("calibration data: sample %d has %v at element %d", s0+i/elems, v, i%elems)
				}
			}
		}
		return nil
	}, hook, parts)
	ends.Wait()
	if err != nil {
		return nil, err
	}
	for _, ob := range order {
		if failed(ob.o) {
			return nil, errCellsFailed
		}
	}
	if progress != nil && len(order) == 0 {
		progress(total, total)
	}
	r := &Result{QConfig: qc, Act: map[int]QParams{}, Range: map[int][2]float32{}, Samples: total}
	for _, n := range g.Nodes {
		ob := obs[n.Out]
		if ob == nil || !Observed(n) {
			continue
		}
		o := ob.o
		// Finite activations can still be too wide for float32 qparams
		// (a range past 3.4e38, from absurd weights or data).
		lo, hi := o.MinMax()
		if !(lo <= hi) || math.IsInf(float64(lo), 0) || math.IsInf(float64(hi), 0) {
			return nil, fmt.Errorf("calibration: layer %s: activation range [%v, %v] is not a finite range: the weights or data overflow float32", n.Name, lo, hi)
		}
		q := o.QParams()
		if !(q.Scale > 0) || math.IsInf(q.Scale, 0) || q.Scale > math.MaxFloat32 {
			return nil, fmt.Errorf("calibration: layer %s: activation range [%v, %v] gives scale %v: the weights or data overflow float32", n.Name, lo, hi, q.Scale)
		}
		r.Act[n.Out] = q
		r.Range[n.Out] = [2]float32{lo, hi}
	}
	return r, nil
}

// failed reports whether o is a histogram observer whose cells failed.
func failed(o Observer) bool {
	h, ok := o.(*HistogramObserver)
	return ok && h.cellsFailed()
}

// nonNegative reports whether n's output is never below zero by
// construction: a fused ReLU or ReLU6.
func nonNegative(n *ir.Node) bool {
	return n.Act == ir.ActReLU || n.Act == ir.ActReLU6
}
