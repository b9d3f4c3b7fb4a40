package main

import (
	"fmt"
	"os"
	"time"
)

// hugeFaultShare is how much of 512 small faults' time one 2 MB fault may
// take for the heap to go on 2 MB pages. Measured whole builds: a Zen 5 VM
// (a 4 KB fault ~10 us, a 2 MB one 0.12-3 ms) builds MobileNetV2-224 in
// 1.7 s on 2 MB pages against 2.2 s on 4 KB; a Sapphire Rapids VM (~2 us a
// 4 KB fault) took 10% longer with every heap page huge (docs/float.md).
const hugeFaultShare = 0.8

// pageChoice is the page size the command's heap grows on, and why.
type pageChoice struct {
	huge       bool
	small, big time.Duration // one 4 KB fault, one 2 MB fault (0: not probed)
	advised    int64         // heap bytes advised MADV_HUGEPAGE
	why        string        // when not probed
}

func (c pageChoice) String() string {
	size := "4 KB"
	switch {
	case c.huge && c.advised > 0:
		size = fmt.Sprintf("2 MB (%d MB of heap advised)", c.advised>>20)
	case c.huge:
		size = "2 MB"
	}
	if c.why != "" {
		return size + ": " + c.why
	}
	return fmt.Sprintf("%s: a 4 KB page faults in %.1f us, a 2 MB page in %.0f us", size,
		c.small.Seconds()*1e6, c.big.Seconds()*1e6)
}

// prefersHuge says whether one 2 MB fault costs less than the 512 small ones
// it replaces, with room for the 2 MB pages the heap only partly uses.
func prefersHuge(small, big time.Duration) bool {
	return small > 0 && big > 0 && float64(big) < hugeFaultShare*512*float64(small)
}

// heapPages chooses the page size for the heap the command is about to grow
// (PTQC_HUGEPAGES=0 or 1 decides without probing) and applies it.
func heapPages() pageChoice {
	switch os.Getenv("PTQC_HUGEPAGES") {
	case "0":
		return pageChoice{why: "PTQC_HUGEPAGES=0"}
	case "1":
		c := adviseHeap(pageChoice{huge: true, why: "PTQC_HUGEPAGES=1"})
		return c
	}
	return adviseHeap(probePages())
}
