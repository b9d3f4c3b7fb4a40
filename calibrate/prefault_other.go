//go:build !linux

package calibrate

// prefault is a no-op where the system has no bulk population.
func prefault([]float32) {}
