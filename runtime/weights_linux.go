package runtime

import (
	"syscall"
	"unsafe"
)

// madvHugepage is MADV_HUGEPAGE (include/uapi/asm-generic/mman-common.h).
const madvHugepage = 14

// hugeWeights maps n bytes (nil on failure) starting on a 2 MB boundary and
// asks for huge pages; with transparent huge pages off the advice is a
// no-op, and small weights gain nothing from it.
func hugeWeights(n int) []int8 {
	if n < hugePage {
		return nil
	}
	m, err := syscall.Mmap(-1, 0, n+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	off := (hugePage - int(uintptr(unsafe.Pointer(&m[0]))%hugePage)) % hugePage
	m = m[off : off+n]
	_ = syscall.Madvise(m, madvHugepage) // advice: without it, 4 KB pages
	return unsafe.Slice((*int8)(unsafe.Pointer(&m[0])), n)
}
