package ptq

import (
	"fmt"
	"math"

	"github.com/ptqc/ptqc/calibrate/data"
)

// Accuracy is top-1 / top-5 in percent over N labelled samples. NonFinite
// counts the samples with a NaN or infinite logit (a NaN never scores).
type Accuracy struct {
	Top1, Top5 float64
	N          int
	NonFinite  int
	// PerClass holds, by label, the samples and their top-1 hits.
	PerClass []ClassCount
}

// ClassCount is one class's samples and how many of them top-1 got right.
type ClassCount struct{ N, Top1 int }

// NoLabelError is Evaluate's error for a sample without a label: the data
// came without labels.
type NoLabelError struct{ Sample int }

func (e *NoLabelError) Error() string {
	return fmt.Sprintf("evaluation data: sample %d has no label", e.Sample)
}

// Forward runs n samples (NCHW) and returns n x classes outputs.
type Forward func(x []float32, n int) ([]float32, error)

// LoadForward runs n samples, load writing samples [s0, s0+k) into x (k
// samples, NCHW) just before they run, and returns n x classes outputs: a
// forward that reads each group of samples on the core that runs it, and
// never holds a whole batch's inputs (ir.Program.RunLoaded).
type LoadForward func(n int, load func(s0, k int, x []float32) error) ([]float32, error)

// Evaluate runs up to limit samples of ds (all if 0) through fwd in batches and
// scores them against the labels. It returns all logits when keep is set. A
// NaN or infinite input value is an error, as in calibration.
func Evaluate(ds data.Dataset, classes, batch, limit int, fwd Forward, keep bool, progress func(done, total int)) (Accuracy, []float32, error) {
	var x []float32
	return EvaluateLoaded(ds, classes, batch, limit, func(n int, load func(s0, k int, x []float32) error) ([]float32, error) {
		c, h, w := ds.Shape() // checked by EvaluateLoaded before any batch
		elems := c * h * w
		if cap(x) < n*elems {
			x = make([]float32, n*elems)
		}
		if err := load(0, n, x[:n*elems]); err != nil {
			return nil, err
		}
		return fwd(x[:n*elems], n)
	}, keep, progress)
}

// EvaluateLoaded is Evaluate with a forward that loads its samples itself.
func EvaluateLoaded(ds data.Dataset, classes, batch, limit int, fwd LoadForward, keep bool, progress func(done, total int)) (Accuracy, []float32, error) {
	total, elems, err := data.BatchPlan(ds, batch, limit)
	if err != nil {
		return Accuracy{}, nil, err
	}
	if total == 0 {
		return Accuracy{}, nil, fmt.Errorf("evaluation data: the set is empty")
	}
	acc := Accuracy{PerClass: make([]ClassCount, classes)}
	var all []float32
	bs := min(batch, total)
	labels := make([]int, bs)
	for start := 0; start < total; start += bs {
		n := min(bs, total-start)
		// load runs on several cores at once, each on its own samples.
		out, err := fwd(n, func(s0, k int, x []float32) error {
			for j := range k {
				i := start + s0 + j
				xj := x[j*elems : (j+1)*elems]
				l, err := ds.Load(i, xj)
				if err != nil {
					return err
				}
				labels[s0+j] = l
				for e, v := range xj {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						return fmt.Errorf("evaluation data: sample %d has %v at element %d", i, v, e)
					}
				}
			}
			return nil
		})
		if err != nil {
			return Accuracy{}, nil, err
		}
		if len(out) != n*classes {
			return Accuracy{}, nil, fmt.Errorf("evaluation: %d outputs for %d samples of %d classes", len(out), n, classes)
		}
		if keep {
			all = append(all, out...)
		}
		for i := 0; i < n; i++ {
			l := labels[i]
			if l < 0 || l >= classes {
				if l == -1 {
					return Accuracy{}, nil, &NoLabelError{Sample: start + i}
				}
				return Accuracy{}, nil, fmt.Errorf("evaluation data: sample %d has label %d, outside 0..%d", start+i, l, classes-1)
			}
			scores := out[i*classes : (i+1)*classes]
			for _, s := range scores {
				if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
					acc.NonFinite++
					break
				}
			}
			r := Rank(scores, l)
			acc.PerClass[l].N++
			if r == 0 {
				acc.Top1++
				acc.PerClass[l].Top1++
			}
			if r < 5 {
				acc.Top5++
			}
		}
		acc.N += n
		if progress != nil {
			progress(acc.N, total)
		}
	}
	acc.Top1 = 100 * acc.Top1 / float64(acc.N)
	acc.Top5 = 100 * acc.Top5 / float64(acc.N)
	return acc, all, nil
}

// Rank is label's position when classes are sorted by score, highest first, ties
// broken by the lower index (so rank 0 is argmax's first maximum). A NaN
// ranks above every number, as in torch.argmax, and a NaN at label ranks
// math.MaxInt, in no top-k: a NaN logit is never a correct prediction.
func Rank(scores []float32, label int) int {
	y := scores[label]
	if y != y {
		return math.MaxInt
	}
	r := 0
	for i, s := range scores {
		if s > y || s != s || (s == y && i < label) {
			r++
		}
	}
	return r
}
