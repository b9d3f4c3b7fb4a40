package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// backEndGC collects calibration's garbage and runs the back end with the
// collector off until its heap would outgrow what the process holds: the
// back end's short-lived objects (avo's IR of each kernel, dropped once
// printed, asmgen's Program.flush) then reuse calibration's pages instead of
// faulting in new ones, and a collection marks only what is live then (the
// printed assembly, the model). Each such collection is a fault saved on
// every page it frees: a fault cost ~10 us on a Zen 5 VM (docs/float.md),
// ~2 us on Sapphire Rapids. What the process holds is the least of what
// the runtime has mapped and not released and what is resident: the range
// heapPages advised and left untouched counts for the runtime, not the
// kernel, and its fresh 2 MB pages cost ~3 ms each when new to the host
// (Zen 5 VM: the back end 0.04-0.16 s faster with the limit at what is
// resident). Over the limit, the runtime releases that range, from the top
// down, before pages in use. restore puts the collector back.
func backEndGC() (restore func()) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	user := debug.SetMemoryLimit(-1) // a GOMEMLIMIT stands if lower
	held := int64(ms.Sys - ms.HeapReleased)
	if r, ok := resident(); ok {
		held = min(held, r)
	}
	limit := min(max(held, roomFor(ms.HeapAlloc)), user)
	oldPercent := debug.SetGCPercent(-1)
	debug.SetMemoryLimit(limit)
	var mu sync.Mutex
	done := false
	// A live heap near the limit would make the runtime collect on every
	// few allocations: after each collection the limit stays at least
	// roomFor the live heap.
	afterEachGC(func() bool {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return false
		}
		if l := min(roomFor(liveHeap()), user); l > debug.SetMemoryLimit(-1) {
			debug.SetMemoryLimit(l)
		}
		return true
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(user)
	}
}

// roomFor is the least memory limit for a live heap of live bytes: a
// collection at most every live + 64 MB allocated.
func roomFor(live uint64) int64 { return int64(2*live) + 64<<20 }

// liveHeap is the heap the last collection marked.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// afterEachGC calls f after each collection (from a finalizer, so on the
// runtime's finalizer goroutine) while f returns true.
func afterEachGC(f func() bool) {
	type sentinel struct{ p *int } // a pointer: not a tiny allocation
	var arm func()
	arm = func() {
		runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
			if f() {
				arm()
			}
		})
	}
	arm()
}
