package runtime

import (
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
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
	have := []string{TierGeneric, TierAVX2, TierAVX512VNNI, TierAVX512, TierAMX}
	calls := 0
	fakeAMX(t, func() error {
		calls++
		return amxCheck(true, func() error { return syscall.EPERM })
	})
	t.Setenv("PTQC_ISA", "")
	got, err := SelectTier(have)
	if err != nil || got == TierAMX || !Supported(got) {
		t.Errorf("refused: SelectTier = %q, %v; want the best other tier", got, err)
	}
	t.Setenv("PTQC_ISA", TierAMX)
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
	want := TierAMX
	if !Supported(TierAVX512VNNI) {
		want, _ = SelectTier(have[:3])
	}
	if err != nil || got != want {
		t.Errorf("granted: SelectTier = %q, %v; want %q", got, err, want)
	}
}

// TestAMXThisMachine logs what this machine answers (no AMX: the amx tier's
// kernels are UNVERIFIED here).
func TestAMXThisMachine(t *testing.T) {
	if err := AMXError(); err != nil {
		t.Logf("amx tier unavailable here, UNVERIFIED: %v", err)
	} else {
		t.Logf("amx tier available: the OS granted the tile state")
	}
	t.Logf("the kernel's own answer to the tile state request: %v", requestTileData())
}
