//go:build !amd64

package floatk

// Tiers lists the tiers this CPU runs, fastest first.
func Tiers() []*Kernels { return []*Kernels{Generic} }

func fence() {}
