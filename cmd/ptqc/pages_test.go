package main

import (
	"testing"
	"time"
)

func TestPrefersHuge(t *testing.T) {
	for _, tc := range []struct {
		name       string
		small, big time.Duration
		want       bool
	}{
		// Read off machines (docs/float.md).
		{"Zen 5 VM, host-warm 2 MB", 10 * time.Microsecond, 130 * time.Microsecond, true},
		{"Zen 5 VM, host-cold 2 MB", 10 * time.Microsecond, 3 * time.Millisecond, true},
		{"no huge page granted: 512 small faults", 10 * time.Microsecond, 5200 * time.Microsecond, false},
		{"Sapphire Rapids VM, host-cold 2 MB", 2 * time.Microsecond, 5 * time.Millisecond, false},
		{"Sapphire Rapids VM, host-warm 2 MB", 2 * time.Microsecond, 150 * time.Microsecond, false},
		{"not probed", 0, 0, false},
	} {
		if got := prefersHuge(tc.small, tc.big); got != tc.want {
			t.Errorf("%s: prefersHuge(%v, %v) = %v, want %v", tc.name, tc.small, tc.big, got, tc.want)
		}
	}
}

func TestHeapPagesEnv(t *testing.T) {
	t.Setenv("PTQC_HUGEPAGES", "0")
	if c := heapPages(); c.huge || c.advised != 0 {
		t.Errorf("PTQC_HUGEPAGES=0: %v", c)
	}
	t.Setenv("PTQC_HUGEPAGES", "1")
	c := heapPages()
	if c.huge != (c.advised > 0) || c.why == "" {
		t.Errorf("PTQC_HUGEPAGES=1: %v (%+v): huge pages without an advised range, or the reverse", c, c)
	}
	t.Logf("PTQC_HUGEPAGES=1: %v", c)
}

func TestProbePages(t *testing.T) {
	c := probePages()
	t.Logf("this machine: %v", c)
	if c.why == "" && (c.small <= 0 || c.big <= 0) {
		t.Errorf("probed without times: %+v", c)
	}
	if c.why == "" && c.huge != prefersHuge(c.small, c.big) {
		t.Errorf("choice %v does not follow its times", c)
	}
}
