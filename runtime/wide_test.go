package runtime

import "testing"

func TestWideFamily(t *testing.T) {
	for _, c := range []struct {
		name   string
		vendor string
		eax    uint32 // CPUID leaf 1
		want   bool
	}{
		{"Zen 3 (EPYC 7003)", "AuthenticAMD", 0x00A00F11, false},
		{"Zen 4 (EPYC 9004)", "AuthenticAMD", 0x00A10F11, false},
		{"Zen 5 (EPYC 9005)", "AuthenticAMD", 0x00B00F21, true},
		{"Sapphire Rapids", "GenuineIntel", 0x000806F8, false},
		{"Hygon", "HygonGenuine", 0x00900F01, false},
	} {
		if got := wideFamily(c.vendor, family(c.eax)); got != c.want {
			t.Errorf("%s (family %#x): wide %v, want %v", c.name, family(c.eax), got, c.want)
		}
	}
}

func TestWideZMMEnv(t *testing.T) {
	t.Setenv("PTQC_WIDE", "1")
	if !WideZMM() {
		t.Error("PTQC_WIDE=1: not wide")
	}
	t.Setenv("PTQC_WIDE", "0")
	if WideZMM() {
		t.Error("PTQC_WIDE=0: wide")
	}
	t.Setenv("PTQC_WIDE", "")
	v, f := cpuVendorFamily()
	t.Logf("this CPU: %q family %#x, wide %v", v, f, WideZMM())
	if WideZMM() != wideFamily(v, f) {
		t.Error("WideZMM without PTQC_WIDE is not the CPU's")
	}
}
