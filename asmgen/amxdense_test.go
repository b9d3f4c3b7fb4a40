package asmgen

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
	"golang.org/x/sys/cpu"
)

// TestAMXDense runs the amx kernels of the tile shapes with the tile
// instructions emulated (the kernels' loops, addressing, configuration and
// requantization as encoded), in four calls over a split of the work, against
// the interpreter's arithmetic. The real amx kernels of the same layers are
// built by the same harness (Go's assembler takes their bytes) and run where
// the CPU has AMX; elsewhere the test says they are UNVERIFIED.
func TestAMXDense(t *testing.T) {
	testenv.SkipShort(t, "builds a program")
	needISA(t, amxEmulated.base())
	r := rand.New(rand.NewPCG(16, 3))
	reps := 1 // cases a tile shape: the quick suite builds half the kernels
	if testenv.Long() {
		reps = 2
	}
	h, real, zmmEpilogue := newAMXHarness()
	var checks []kernelCall[*denseCase, uint8]
	for i, sh := range tileShapes() {
		for rep := range reps {
			c := randDense(r, sh)
			name := fmt.Sprintf("amx%d_%d", i, rep)
			x := h.buf(append(c.input(r, avx512vnni), make([]byte, lower.ReadSlack)...))
			w := h.buf(convert[byte](lower.PackDense(c.d.Weight, c.d.Cin, c.d.Cout, c.d.K)))
			checks = append(checks, amxVariants(t, h, name, c, x, w, workSplit(r, c.d.Units(), c.d.Cols()), real, zmmEpilogue)...)
		}
	}
	res := h.run(t)
	for _, ck := range checks {
		d := ck.layer.d
		sameBytes(t, fmt.Sprintf("%s %dx%d -> %d, %d pixels", ck.name, d.Cin, d.Cout, d.Cout, d.H*d.W), res[ck.out], ck.layer.want(), d.Cout, d.Cout)
	}
	if !real {
		t.Logf("CPU without AMX: the real amx kernels are assembled but UNVERIFIED here; %d emulated ones checked (zmm epilogue: %v)", len(checks), zmmEpilogue)
	}
}

// newAMXHarness is a harness for amx kernels. Where the CPU has AMX (real)
// the real kernels run too, after the program asks Linux for the tile state
// as runtime does; where it has AVX-512 (zmmEpilogue), the real kernels' zmm
// epilogue with the tile instructions emulated.
func newAMXHarness() (h *harness, real, zmmEpilogue bool) {
	h = newHarness()
	real = cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8
	if real {
		h.imports = append(h.imports, "syscall")
		h.calls = append(h.calls, "\tif _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, 0x1023, 18, 0); e != 0 {\n\t\tpanic(e)\n\t}\n")
	}
	return h, real, runtime.AVX512.Supported()
}

// amxVariants adds the amx kernels of c's layer named name: emulated, with
// the zmm epilogue and real (assembled everywhere); those that run here
// (zmmEpilogue, real) are called over parts on input x and packed weights w,
// and it returns their calls to check.
func amxVariants(t *testing.T, h *harness, name string, c *denseCase, x, w int, parts [][4]int, real, zmmEpilogue bool) []kernelCall[*denseCase, uint8] {
	t.Helper()
	var checks []kernelCall[*denseCase, uint8]
	for _, v := range []struct {
		fn  string
		isa Target
		run bool
	}{{name, amxEmulated, true}, {name + "_z", amxTilesEmulated, zmmEpilogue}, {name + "_real", amx, real}} {
		if err := h.prog.AMXDense(v.fn, c.d, v.isa); err != nil {
			t.Fatal(err)
		}
		if v.run {
			checks = append(checks, runDense(h, v.fn, c, x, w, c.d.amxScratchBytes(v.isa), parts))
		}
	}
	return checks
}

// TestAMXIm2col runs the amx kernels of random stems (im2colCases: their
// patches gathered per tile into the scratch) as TestAMXDense runs the
// tile shapes.
func TestAMXIm2col(t *testing.T) {
	testenv.SkipShort(t, "builds a program")
	needISA(t, amxEmulated.base())
	r := rand.New(rand.NewPCG(16, 7))
	h, real, zmmEpilogue := newAMXHarness()
	var checks []kernelCall[*denseCase, uint8]
	for i, c := range im2colCases(r, 24) {
		x := h.buf(append(c.input(r, avx512vnni), make([]byte, lower.ReadSlack)...))
		w := h.buf(convert[byte](lower.PackIm2col(c.d.Weight, c.d.Cin, c.d.Cout, c.d.taps())))
		checks = append(checks, amxVariants(t, h, fmt.Sprintf("stem%d", i), c, x, w, workSplit(r, c.d.Units(), c.d.Cols()), real, zmmEpilogue)...)
	}
	res := h.run(t)
	for _, ck := range checks {
		d := ck.layer.d
		sameBytes(t, fmt.Sprintf("%s %d -> %d, %s over %dx%d", ck.name, d.Cin, d.Cout, d.geomText(), d.H, d.W), res[ck.out], ck.layer.want(), d.Cout, d.OutStride)
	}
	if !real {
		t.Logf("CPU without AMX: the real amx stems are assembled but UNVERIFIED here; %d emulated ones checked", len(checks))
	}
}
