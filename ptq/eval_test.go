package ptq

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRank(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		scores []float32
		label  int
		want   int
	}{
		{[]float32{1, 3, 2}, 1, 0},
		{[]float32{1, 3, 2}, 2, 1},
		{[]float32{2, 2, 2}, 1, 1}, // ties: the lower index first
		{[]float32{nan, nan, nan}, 0, math.MaxInt},
		{[]float32{nan, 1, 2}, 2, 1}, // a NaN elsewhere outranks every number
		{[]float32{0, nan, 2}, 1, math.MaxInt},
		{[]float32{inf, 1, 2}, 0, 0},
	} {
		if got := Rank(c.scores, c.label); got != c.want {
			t.Errorf("Rank(%v, %d) = %d, want %d", c.scores, c.label, got, c.want)
		}
	}
}

// constDataset is n samples of c values v, labelled 0.
type constDataset struct {
	n, c int
	v    float32
}

func (d constDataset) Len() int             { return d.n }
func (d constDataset) Shape() (c, h, w int) { return d.c, 1, 1 }
func (d constDataset) Load(i int, dst []float32) (int, error) {
	for j := range dst {
		dst[j] = d.v
	}
	return 0, nil
}

// TestEvaluateNonFinite is issue 23's class 2: NaN logits once scored 100%.
// Non-finite inputs are refused; non-finite logits score nothing and are
// counted.
func TestEvaluateNonFinite(t *testing.T) {
	nanFwd := func(x []float32, n int) ([]float32, error) {
		out := make([]float32, 3*n)
		for i := range out {
			out[i] = float32(math.NaN())
		}
		return out, nil
	}
	acc, _, err := Evaluate(constDataset{n: 10, c: 2, v: 1}, 3, 4, 0, nanFwd, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Top1 != 0 || acc.Top5 != 0 || acc.NonFinite != 10 || acc.N != 10 {
		t.Errorf("all-NaN logits: %+v, want top1 0, top5 0, 10 non-finite of 10", acc)
	}
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		_, _, err := Evaluate(constDataset{n: 3, c: 2, v: v}, 3, 4, 0, nanFwd, false, nil)
		if err == nil || !strings.Contains(err.Error(), "evaluation data: sample 0 has") {
			t.Errorf("input %v: error %v, want the evaluation data refused", v, err)
		}
	}
}

// indexDataset is n samples of c values, sample i all i, labelled i mod 3.
type indexDataset struct{ n, c int }

func (d indexDataset) Len() int             { return d.n }
func (d indexDataset) Shape() (c, h, w int) { return d.c, 1, 1 }
func (d indexDataset) Load(i int, dst []float32) (int, error) {
	for j := range dst {
		dst[j] = float32(i)
	}
	return i % 3, nil
}

// TestEvaluateLoaded: a forward loading its samples in groups, last group
// first and concurrently, scores and keeps the logits as Evaluate does with
// the whole batch; a sample's load error is the error.
func TestEvaluateLoaded(t *testing.T) {
	const c = 2
	// Sample value v scores class int(v) mod 3 highest.
	logits := func(x []float32, n int) []float32 {
		out := make([]float32, 3*n)
		for i := range n {
			out[3*i+int(x[i*c])%3] = 1
		}
		return out
	}
	fwd := func(x []float32, n int) ([]float32, error) { return logits(x, n), nil }
	loaded := func(n int, load func(s0, k int, x []float32) error) ([]float32, error) {
		x := make([]float32, n*c)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for s0 := (n - 1) / 2 * 2; s0 >= 0; s0 -= 2 {
			k := min(2, n-s0)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[s0] = load(s0, k, x[s0*c:(s0+k)*c])
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		return logits(x, n), nil
	}
	ds := indexDataset{n: 11, c: c}
	want, wantLogits, err := Evaluate(ds, 3, 4, 0, fwd, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, gotLogits, err := EvaluateLoaded(ds, 3, 4, 0, loaded, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accuracy (-Evaluate +EvaluateLoaded):\n%s", diff)
	}
	if diff := cmp.Diff(wantLogits, gotLogits); diff != "" {
		t.Errorf("logits (-Evaluate +EvaluateLoaded):\n%s", diff)
	}
	if want.Top1 != 100 || want.N != 11 {
		t.Errorf("accuracy %+v, want 100%% of 11", want)
	}
	_, _, err = EvaluateLoaded(constDataset{n: 5, c: c, v: float32(math.NaN())}, 3, 4, 0, loaded, false, nil)
	if err == nil || !strings.Contains(err.Error(), "evaluation data: sample 0 has NaN") {
		t.Errorf("NaN input: error %v, want sample 0 refused", err)
	}
}
