package runtime

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestTop(t *testing.T) {
	names := []string{"T-shirt/top", "Trouser", "Pullover"}
	for _, c := range []struct {
		name   string
		logits []float32
		names  []string
		k      int
		want   []Prediction
	}{
		{"named", []float32{1, 3, 2}, names, 2, []Prediction{
			{1, "Trouser", float32(math.Exp(2) / (1 + math.Exp(2) + math.Exp(1)))},
			{2, "Pullover", float32(math.Exp(1) / (1 + math.Exp(2) + math.Exp(1)))},
		}},
		{"no names", []float32{0, 0}, nil, 1, []Prediction{{0, "", 0.5}}},
		{"huge logits stay finite", []float32{1e38, -1e38, 1e38}, names, 3, []Prediction{{0, "T-shirt/top", 0.5}, {2, "Pullover", 0.5}, {1, "Trouser", 0}}},
		{"k past the classes", []float32{2}, nil, 5, []Prediction{{0, "", 1}}},
		{"k zero", []float32{2, 1}, nil, 0, []Prediction{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Top(c.logits, c.names, c.k)
			if diff := cmp.Diff(c.want, got, cmpopts.EquateApprox(1e-6, 0), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if s := (Prediction{6, "Shirt", 0.8712}).String(); s != "Shirt 0.87" {
		t.Errorf("String: %q", s)
	}
	if s := (Prediction{6, "", 0.8712}).String(); s != "class 6 0.87" {
		t.Errorf("String: %q", s)
	}
}

// TestTopProbs: a model ending in a Softmax gives its outputs as the
// probabilities, which Top would put through a second softmax.
func TestTopProbs(t *testing.T) {
	probs := []float32{0.2, 0.7, 0.1}
	want := []Prediction{{1, "Trouser", 0.7}, {0, "T-shirt/top", 0.2}}
	if d := cmp.Diff(want, TopProbs(probs, []string{"T-shirt/top", "Trouser", "Pullover"}, 2)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// Top of the log-probabilities (a LogSoftmax) gives them back.
	logp := append([]float32(nil), probs...)
	for i, p := range logp {
		logp[i] = float32(math.Log(float64(p)))
	}
	if d := cmp.Diff(want, Top(logp, []string{"T-shirt/top", "Trouser", "Pullover"}, 2), cmpopts.EquateApprox(1e-6, 0)); d != "" {
		t.Errorf("Top of log-probabilities (-want +got):\n%s", d)
	}
	if got := TopProbs(nil, nil, 3); len(got) != 0 {
		t.Errorf("no outputs: %v", got)
	}
}
