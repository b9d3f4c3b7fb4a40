package floatk

import "unsafe"

// unsafeSlice views n values at p (nil when n == 0): the portable kernels
// share the assembly's pointer signatures.
func unsafeSlice[T any](p *T, n int) []T {
	if n == 0 {
		return nil
	}
	return unsafe.Slice(p, n)
}
