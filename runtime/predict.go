package runtime

import (
	"fmt"
	"math"
)

// Prediction is one class of a classification: its index in the logits, its
// name (empty when the model has none) and its softmax probability.
type Prediction struct {
	Class int
	Name  string
	Prob  float32
}

// String is "Shirt 0.87", or "class 6 0.87" for a class without a name.
func (p Prediction) String() string {
	if p.Name == "" {
		return fmt.Sprintf("class %d %.2f", p.Class, p.Prob)
	}
	return fmt.Sprintf("%s %.2f", p.Name, p.Prob)
}

// Top returns the k classes with the highest logits, best first (ties to the
// lower index, as TopK), with their names and softmax probabilities over all
// the logits. names may be nil; otherwise it has one name per logit.
func Top(logits []float32, names []string, k int) []Prediction {
	idx := TopK(logits, k)
	top := make([]Prediction, len(idx))
	if len(idx) == 0 {
		return top
	}
	// exp(l - max) in float64: no overflow whatever the logits' range.
	mx := float64(logits[idx[0]])
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l) - mx)
	}
	for i, c := range idx {
		top[i] = Prediction{Class: c, Prob: float32(math.Exp(float64(logits[c])-mx) / sum)}
		if c < len(names) {
			top[i].Name = names[c]
		}
	}
	return top
}

// TopProbs is Top for a model whose outputs are already probabilities (it
// ends in a Softmax): each Prediction's Prob is its output.
func TopProbs(probs []float32, names []string, k int) []Prediction {
	idx := TopK(probs, k)
	top := make([]Prediction, len(idx))
	for i, c := range idx {
		top[i] = Prediction{Class: c, Prob: probs[c]}
		if c < len(names) {
			top[i].Name = names[c]
		}
	}
	return top
}
