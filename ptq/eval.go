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

// Evaluate runs up to limit samples of ds (all if 0) through fwd in batches and
// scores them against the labels. It returns all logits when keep is set. A
// NaN or infinite input value is an error, as in calibration.
func Evaluate(ds data.Dataset, classes, batch, limit int, fwd Forward, keep bool, progress func(done, total int)) (Accuracy, []float32, error) {
	total := ds.Len()
	if limit > 0 && limit < total {
		total = limit
	}
	if total == 0 {
		return Accuracy{}, nil, fmt.Errorf("evaluation data: the set is empty")
	}
	acc := Accuracy{PerClass: make([]ClassCount, classes)}
	var all []float32
	c, h, w := ds.Shape()
	elems := c * h * w
	err := data.Batches(ds, batch, total, func(start int, x []float32, labels []int) error {
		n := len(x) / elems
		for i, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("evaluation data: sample %d has %v at element %d", start+i/elems, v, i%elems)
			}
		}
		out, err := fwd(x, n)
		if err != nil {
			return err
		}
		if keep {
			all = append(all, out...)
		}
		for i := 0; i < n; i++ {
			l := -1
			if labels != nil {
				l = labels[i]
			}
			if l < 0 || l >= classes {
				if l == -1 {
					return &NoLabelError{Sample: start + i}
				}
				return fmt.Errorf("evaluation data: sample %d has label %d, outside 0..%d", start+i, l, classes-1)
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
		return nil
	})
	if err != nil {
		return Accuracy{}, nil, err
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
