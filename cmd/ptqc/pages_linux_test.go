package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

// TestAdviseHeap checks that what the heap allocates after adviseHeap lies
// in a mapping the kernel marks MADV_HUGEPAGE ("hg" in smaps' VmFlags).
func TestAdviseHeap(t *testing.T) {
	if thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || bytes.Contains(thp, []byte("[never]")) {
		t.Skip("no transparent huge pages here")
	}
	c := adviseHeap(pageChoice{huge: true})
	if !c.huge || c.advised < hugePage {
		t.Fatalf("adviseHeap: %v", c)
	}
	b := make([]byte, 16<<20)
	flags, err := vmFlags(uintptr(unsafe.Pointer(&b[0])))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("a 16 MB allocation after adviseHeap lies in a mapping with VmFlags %q, want hg", flags)
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
