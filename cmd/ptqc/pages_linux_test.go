package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

// TestAdviseHeap checks, in a fresh process (the test binary run again:
// this one's heap has free spans below any range it could advise), that
// what the heap allocates after adviseHeap lies in a mapping the kernel
// marks MADV_HUGEPAGE ("hg" in smaps' VmFlags).
func TestAdviseHeap(t *testing.T) {
	if thpOff() {
		t.Skip("no transparent huge pages here")
	}
	if os.Getenv("PTQC_ADVISE_CHILD") == "1" {
		c := adviseHeap(pageChoice{huge: true})
		if !c.huge || c.advised < hugePage {
			t.Fatalf("adviseHeap: %v", c)
		}
		// The allocation may begin in free pages just below the range
		// (they join its free run): its middle and end must lie inside.
		b := make([]byte, 16<<20)
		for _, i := range []int{len(b) / 2, len(b) - 1} {
			flags, err := vmFlags(uintptr(unsafe.Pointer(&b[i])))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(" "+flags+" ", " hg ") {
				t.Errorf("byte %d of a 16 MB allocation after adviseHeap lies in a mapping with VmFlags %q, want hg", i, flags)
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdviseHeap$", "-test.v")
	cmd.Env = append(os.Environ(), "PTQC_ADVISE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestAdviseHeap")) {
		t.Errorf("fresh process: %v\n%s", err, out)
	}
}

// vmFlags is the VmFlags line of the mapping holding addr.
func vmFlags(addr uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:")), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no mapping holds %#x", addr)
}

// TestAdviseHeapMemoryLimit checks that the advised range stays within a
// quarter of a GOMEMLIMIT.
func TestAdviseHeapMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(64 << 20)
	defer debug.SetMemoryLimit(old)
	c := adviseHeap(pageChoice{huge: true})
	if c.advised > 16<<20 {
		t.Errorf("GOMEMLIMIT 64 MB: %d MB advised, want at most 16", c.advised>>20)
	}
}

// TestBackEndGCAdvised: the back end's memory limit leaves out the advised
// range the heap has not touched (what is resident bounds it), so that its
// garbage reuses pages in use instead of faulting in new ones there.
func TestBackEndGCAdvised(t *testing.T) {
	if c := adviseHeap(pageChoice{huge: true}); c.advised < 512<<20 {
		t.Skipf("advised only %d MB here", c.advised>>20)
	}
	r, ok := resident()
	if !ok || r <= 0 {
		t.Fatalf("resident() = %d, %v", r, ok)
	}
	restore := backEndGC()
	defer restore()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	l := debug.SetMemoryLimit(-1)
	if want := max(r, roomFor(ms.HeapAlloc)) + 64<<20; l > want {
		t.Errorf("back end's limit %d MB with %d MB resident and %d MB of heap: the untouched advised range counted", l>>20, r>>20, ms.HeapAlloc>>20)
	}
}
