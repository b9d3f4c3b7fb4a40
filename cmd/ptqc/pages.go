package main

import (
	"fmt"
	"os"
	"time"
)

// When the heap goes on 2 MB pages. The probe's 2 MB fault is sometimes a
// page the host still backs from a process that just freed it (~0.15 ms on
// a Zen 5 VM), while most of a build's 2 MB pages are new to the host: 3-3.4
// ms there, ~5 ms on a Sapphire Rapids VM (its whole build 10% slower with
// every heap page huge). So small faults must be slow as well: ~10 us on
// that Zen 5 VM (MobileNetV2-224 built in 1.9-2.0 s on 2 MB pages against
// 2.2 s on 4 KB), ~2 us on Sapphire Rapids and Zen 3 VMs (docs/float.md).
const minSmallFault = 4 * time.Microsecond

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

// prefersHuge says whether small faults are slow and one 2 MB fault costs
// less than the 512 small ones it replaces.
func prefersHuge(small, big time.Duration) bool {
	return small >= minSmallFault && big > 0 && big < 512*small
}

// heapPages chooses the page size for the heap the command is about to grow
// (PTQC_HUGEPAGES=0 or 1 decides without probing) and applies it.
func heapPages() pageChoice {
	switch os.Getenv("PTQC_HUGEPAGES") {
	case "0":
		return pageChoice{why: "PTQC_HUGEPAGES=0"}
	case "1":
		return adviseHeap(pageChoice{huge: true, why: "PTQC_HUGEPAGES=1"})
	}
	return adviseHeap(probePages())
}
