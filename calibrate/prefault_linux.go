package calibrate

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// prefault makes the whole pages of x present and writable in one system
// call (MADV_POPULATE_WRITE, Linux 5.14), where writing them would take a
// page fault each; the contents stay as they are. Errors (an older kernel)
// leave the faults to the writes.
func prefault(x []float32) {
	if len(x) == 0 {
		return
	}
	const page = 4096
	p := uintptr(unsafe.Pointer(&x[0]))
	lo, hi := (p+page-1)&^(page-1), (p+uintptr(4*len(x)))&^(page-1)
	if hi <= lo {
		return
	}
	start := (*byte)(unsafe.Add(unsafe.Pointer(&x[0]), lo-p))
	_ = unix.Madvise(unsafe.Slice(start, hi-lo), unix.MADV_POPULATE_WRITE)
}
