package runtime

import (
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/cpu"
)

// fakeAMX makes probe the process's answer for the test's duration.
func fakeAMX(t *testing.T, probe func() error) {
	t.Helper()
	reset := func(p func() error) {
		amx.once, amx.err, amx.probe = sync.Once{}, nil, p
	}
	reset(probe)
	t.Cleanup(func() { reset(probeAMX) })
}

func TestAMXCheck(t *testing.T) {
	granted := func() error { return nil }
	refused := func() error { return syscall.EPERM }
	for _, c := range []struct {
		name    string
		cpuHas  bool
		request func() error
		want    string // "" for no error
	}{
		{"no AMX in the CPU", false, granted, "CPU lacks"},
		{"kernel refuses", true, refused, "refused"},
		{"granted", true, granted, ""},
	} {
		err := amxCheck(c.cpuHas, c.request)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if err := amxCheck(true, refused); !errors.Is(err, syscall.EPERM) {
		t.Errorf("refusal %v does not wrap the kernel's errno", err)
	}
}

// TestAMXRefusedFallsBack forces the refusal path: a CPU with AMX whose
// kernel says no. New then picks the best other tier, and PTQC_ISA=amx is an
// error naming the refusal.
func TestAMXRefusedFallsBack(t *testing.T) {
	have := TierNames()
	calls := 0
	fakeAMX(t, func() error {
		calls++
		return amxCheck(true, func() error { return syscall.EPERM })
	})
	t.Setenv("PTQC_ISA", "")
	got, err := SelectTier(have)
	if err != nil || got == AMX.Name || !TierNamed(got).Supported() {
		t.Errorf("refused: SelectTier = %q, %v; want the best other tier", got, err)
	}
	t.Setenv("PTQC_ISA", AMX.Name)
	if _, err := SelectTier(have); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("PTQC_ISA=amx, refused: %v; want an error naming the refusal", err)
	}
	if calls != 1 {
		t.Errorf("the permission was asked %d times, want once per process", calls)
	}

	// Granted: amx wins wherever its other kernels (avx512vnni) run.
	fakeAMX(t, func() error { return nil })
	t.Setenv("PTQC_ISA", "")
	got, err = SelectTier(have)
	want := AMX.Name
	if !AVX512VNNI.Supported() {
		want, _ = SelectTier(have[:3])
	}
	if err != nil || got != want {
		t.Errorf("granted: SelectTier = %q, %v; want %q", got, err, want)
	}
}

// TestAMXThisMachine checks this machine's answer against what it is made
// of: the CPU's AMX flags, the OS's own answer to the tile state request, and
// the amx tier's dispatch.
func TestAMXThisMachine(t *testing.T) {
	err := AMXError()
	if err2 := AMXError(); err != err2 {
		t.Errorf("AMXError changed from %v to %v: it must be one answer per process", err, err2)
	}
	cpuHas := cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8
	switch {
	case !cpuHas && (err == nil || !strings.Contains(err.Error(), "CPU lacks")):
		t.Errorf("CPU without AMX: AMXError = %v, want the CPU named", err)
	case cpuHas && (err == nil) != (requestTileData() == nil):
		t.Errorf("CPU with AMX: AMXError = %v, but the OS answers %v", err, requestTileData())
	}
	if got, want := AMX.Supported(), err == nil && AVX512.Supported(); got != want {
		t.Errorf("amx tier supported = %v, want %v (AMXError %v)", got, want, err)
	}
	t.Setenv("PTQC_ISA", AMX.Name)
	if _, serr := SelectTier(TierNames()); (serr == nil) != AMX.Supported() {
		t.Errorf("PTQC_ISA=amx: SelectTier error %v with the amx tier supported = %v", serr, AMX.Supported())
	}
	if err != nil {
		t.Logf("amx tier unavailable here (%v): its kernels are UNVERIFIED on this machine", err)
	}
}
