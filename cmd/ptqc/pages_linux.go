package main

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const hugePage = 2 << 20

// probePages times first touches of fresh memory: 64 pages of 4 KB, and one
// 2 MB range advised MADV_HUGEPAGE, touched every 4 KB so that a kernel
// that grants no huge page pays its 512 faults.
func probePages() pageChoice {
	if thpOff() {
		return pageChoice{why: "transparent huge pages off"}
	}
	if oc, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err == nil && bytes.HasPrefix(oc, []byte("2")) {
		// The advised heap is reserved ahead: under strict accounting
		// that reservation counts.
		return pageChoice{why: "strict overcommit"}
	}
	const n = 64
	m, err := unix.Mmap(-1, 0, n*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return pageChoice{why: "probe: " + err.Error()}
	}
	unix.Madvise(m, unix.MADV_NOHUGEPAGE) // "always" would make the small probe huge
	small := touch(m) / n
	unix.Munmap(m)
	m, err = unix.Mmap(-1, 0, 2*hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return pageChoice{why: "probe: " + err.Error()}
	}
	off := (hugePage - int(uintptr(unsafe.Pointer(&m[0]))%hugePage)) % hugePage
	r := m[off : off+hugePage]
	if err := unix.Madvise(r, unix.MADV_HUGEPAGE); err != nil {
		unix.Munmap(m)
		return pageChoice{why: "madvise: " + err.Error()}
	}
	big := touch(r)
	unix.Munmap(m)
	return pageChoice{huge: prefersHuge(small, big), small: small, big: big}
}

// thpOff says whether the kernel grants no transparent huge pages.
func thpOff() bool {
	thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err != nil || bytes.Contains(thp, []byte("[never]"))
}

// touch writes a byte of each 4 KB page of b and returns the time it took.
func touch(b []byte) time.Duration {
	t := time.Now()
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return time.Since(t)
}

// adviseHeap, when c.huge, grows the Go heap by a range advised
// MADV_HUGEPAGE and gives it back untouched: the runtime allocates from the
// lowest free addresses, so the heap the command grows after lands in it
// and faults in 2 MB at a time. The range is address space only until used.
func adviseHeap(c pageChoice) pageChoice {
	if !c.huge {
		return c
	}
	// Until used, the range counts against a GOMEMLIMIT: a quarter of it at
	// most, lest the collector run to free room the heap does not use.
	n := min(int64(1<<30), debug.SetMemoryLimit(-1)/4)
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		n = min(n, int64(si.Totalram)*int64(si.Unit)/8)
	}
	n &^= hugePage - 1
	if n < hugePage {
		return pageChoice{why: "too little memory to advise"}
	}
	b := make([]byte, n)
	if err := unix.Madvise(b, unix.MADV_HUGEPAGE); err != nil {
		return pageChoice{why: "madvise: " + err.Error()}
	}
	runtime.KeepAlive(b)
	runtime.GC()
	c.advised = n
	return c
}

// resident is the process's resident memory (/proc/self/statm).
func resident() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return n * int64(os.Getpagesize()), true
}
