package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestBackEndGC: the back end runs with the collector off and a memory
// limit at least what the process holds; a live heap grown past half the
// limit raises it after the next collection (else every allocation would
// collect); restore puts back the collector and a lower GOMEMLIMIT.
func TestBackEndGC(t *testing.T) {
	const userLimit = 1 << 40
	oldLimit, oldPercent := debug.SetMemoryLimit(userLimit), debug.SetGCPercent(80)
	defer func() {
		debug.SetMemoryLimit(oldLimit)
		debug.SetGCPercent(oldPercent)
	}()
	restore := backEndGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("GC percent %d during the back end, want -1 (off)", p)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if l := debug.SetMemoryLimit(-1); l < int64(ms.HeapAlloc) || l >= userLimit {
		t.Errorf("memory limit %d during the back end, heap %d", l, ms.HeapAlloc)
	}
	live := make([]byte, 128<<20) // past half the limit: it must rise
	for i := range live {
		live[i] = byte(i)
	}
	runtime.GC()
	want := roomFor(uint64(len(live)))
	for end := time.Now().Add(10 * time.Second); debug.SetMemoryLimit(-1) < want && time.Now().Before(end); {
		time.Sleep(time.Millisecond) // the finalizer runs after the collection
	}
	if l := debug.SetMemoryLimit(-1); l < want {
		t.Errorf("memory limit %d with %d bytes live, want at least %d", l, len(live), want)
	}
	runtime.KeepAlive(live)
	restore()
	if p := debug.SetGCPercent(80); p != 80 {
		t.Errorf("GC percent %d after restore, want 80", p)
	}
	if l := debug.SetMemoryLimit(-1); l != userLimit {
		t.Errorf("memory limit %d after restore, want %d", l, int64(userLimit))
	}
}
