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

// unsafeAdd is p advanced by n elements (p itself when n == 0, so that a nil
// p with nothing to read stays valid).
func unsafeAdd[T any](p *T, n int) *T {
	if n == 0 {
		return p
	}
	return (*T)(unsafe.Add(unsafe.Pointer(p), uintptr(n)*unsafe.Sizeof(*p)))
}
