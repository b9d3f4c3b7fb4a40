package compiler

import "testing"

func TestPythonFloats(t *testing.T) {
	// Python's repr(float(np.float32(v))) and str(torch.tensor([that])) in
	// PyTorch 1.13.
	for _, c := range []struct {
		v           float64
		repr, torch string
	}{
		{0.1, "0.10000000149011612", "0.1000"},
		{0.0123, "0.012299999594688416", "0.0123"},
		{1e-5, "9.999999747378752e-06", "1.0000e-05"},
		{1, "1.0", "1."},
		{0, "0.0", "0."},
		{123456, "123456.0", "123456."},
		{0.0001, "9.999999747378752e-05", "1.0000e-04"},
		{2.5e17, "2.4999999607668736e+17", "2.5000e+17"},
		{0.00012, "0.00011999999696854502", "0.0001"},
		{1234.5678, "1234.5677490234375", "1234.5677"},
	} {
		if got := pyFloat(c.v); got != c.repr {
			t.Errorf("pyFloat(%v) = %s, want %s", c.v, got, c.repr)
		}
		if got := torchScalar(c.v); got != c.torch {
			t.Errorf("torchScalar(%v) = %s, want %s", c.v, got, c.torch)
		}
	}
}
