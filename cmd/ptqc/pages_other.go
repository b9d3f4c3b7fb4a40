//go:build !linux

package main

func probePages() pageChoice { return pageChoice{why: "no page probe on this system"} }

func adviseHeap(c pageChoice) pageChoice {
	if c.huge {
		return pageChoice{why: "no MADV_HUGEPAGE on this system"}
	}
	return c
}

func resident() (int64, bool) { return 0, false }
