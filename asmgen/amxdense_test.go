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
	h := newHarness()
	var checks []kernelCall[*denseCase, uint8]
	// Where the CPU has AMX the real kernels run too, after the harness asks
	// Linux for the tile state as runtime does; where it has AVX-512, the
	// real kernels' zmm epilogue with the tile instructions emulated.
	real := cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8
	zmmEpilogue := runtime.AVX512.Supported()
	if real {
		h.imports = append(h.imports, "syscall")
		h.calls = append(h.calls, "\tif _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, 0x1023, 18, 0); e != 0 {\n\t\tpanic(e)\n\t}\n")
	}
	for i, sh := range tileShapes() {
		for rep := range reps {
			c := randDense(r, sh)
			name := fmt.Sprintf("amx%d_%d", i, rep)
			x := h.buf(append(c.input(r, avx512vnni), make([]byte, lower.ReadSlack)...))
			w := h.buf(convert[byte](lower.PackDense(c.d.Weight, c.d.Cin, c.d.Cout, c.d.K)))
			u, cu := c.d.Units(), c.d.Cols()
			mid, cmid := r.IntN(u+1), r.IntN(cu+1)
			// variant adds the kernel of the tier, and when run is set calls
			// it over the split of the work and checks its output.
			variant := func(fn string, isa Target, run bool) {
				if err := h.prog.AMXDense(fn, c.d, isa); err != nil {
					t.Fatal(err)
				}
				if !run {
					return
				}
				y := h.buf(make([]byte, c.d.OH*c.d.OW*c.d.OutStride))
				s := h.buf(make([]byte, amxScratch(isa)))
				for _, sr := range [][2]int{{mid, u}, {0, mid}} {
					for _, cr := range [][2]int{{cmid, cu}, {0, cmid}} {
						h.call(fn, x, w, y, s, ilit(sr[0]), ilit(sr[1]), ilit(cr[0]), ilit(cr[1]))
					}
				}
				checks = append(checks, kernelCall[*denseCase, uint8]{name: fn, layer: c, out: y})
			}
			variant(name, amxEmulated, true)
			variant(name+"_z", amxTilesEmulated, zmmEpilogue)
			variant(name+"_real", amx, real) // assembled everywhere, run where the CPU has AMX
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
