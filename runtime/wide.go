package runtime

import "os"

// WideZMM says whether the zmm tiers run their layers of 9 to 31 output
// channels on the 512-bit design (the kernels asmgen writes for them beside
// the 256-bit ones): on CPUs whose 512-bit units are full width and whose
// epilogues have room to spare, AMD from Zen 5 (family 0x1A) on. Zen 4
// splits a zmm instruction in two and Sapphire Rapids spends more on the
// wider epilogue than it saves: there the 256-bit design is faster.
// PTQC_WIDE=1 or 0 decides instead of the CPU.
func WideZMM() bool {
	switch os.Getenv("PTQC_WIDE") {
	case "1":
		return true
	case "0":
		return false
	}
	return wideCPU
}

var wideCPU = wideFamily(cpuVendorFamily())

// wideFamily says whether a CPU of vendor (CPUID's 12 bytes) and family
// (base plus extended) runs zmm at full width with room for the epilogue.
func wideFamily(vendor string, family uint32) bool {
	return vendor == "AuthenticAMD" && family >= 0x1A
}

// family decodes CPUID leaf 1's EAX: the base family, plus the extended
// family where the base is 0xF.
func family(eax uint32) uint32 {
	f := eax >> 8 & 0xF
	if f == 0xF {
		f += eax >> 20 & 0xFF
	}
	return f
}
