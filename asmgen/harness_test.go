package asmgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/ptq"
	"github.com/ptqc/ptqc/runtime"
)

// The kernels run in a throwaway package: the test writes the generated .s and
// stubs next to a main that reads the input buffers from a file, runs a list
// of calls and writes every buffer back.

const canary = 64 // guard bytes after each buffer, to catch stray writes

// harness collects buffers and kernel calls for one throwaway package.
type harness struct {
	prog    *Program
	bufs    [][]byte
	calls   []string
	imports []string
}

func newHarness() *harness { return &harness{prog: NewProgram("main")} }

// kernelTest starts a kernel test on isa (skipped where it cannot run): its
// random source, seeded (s1, s2), and a harness.
func kernelTest(t *testing.T, isa Target, s1, s2 uint64) (*rand.Rand, *harness) {
	t.Helper()
	needISA(t, isa)
	return rand.New(rand.NewPCG(s1, s2)), newHarness()
}

// eachKernelTier runs f as a subtest on each tier the dense and depthwise
// kernels are tested on, with the harness and random source kernelTest
// gives (seeds s1 and the tier's position from 1, as when the tiers were
// numbered).
func eachKernelTier(t *testing.T, s1 uint64, f func(t *testing.T, isa Target, r *rand.Rand, h *harness)) {
	for i, isa := range []Target{avx2, avx512vnni, vnniEmulated, avx512, zmmEmulated} {
		t.Run(isa.String(), func(t *testing.T) {
			r, h := kernelTest(t, isa, s1, uint64(i+1))
			f(t, isa, r, h)
		})
	}
}

// kernelCall is one call a kernel test checks: its name, the layer, the
// input and the buffer of the output.
type kernelCall[L, X any] struct {
	name  string
	layer L
	x     []X
	out   int
}

// sameBytes compares got, pixels stride bytes apart, with want, pixels of c
// channels, byte for byte.
func sameBytes(t *testing.T, name string, got, want []uint8, c, stride int) {
	t.Helper()
	bad := 0
	for i, w := range want {
		p, o := i/c, i%c
		if g := got[p*stride+o]; g != w {
			if bad < 5 {
				t.Errorf("%s: pixel %d channel %d: got %d want %d", name, p, o, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d wrong bytes of %d", name, bad, len(want))
	}
}

// buf registers a buffer (copied) and returns its index.
func (h *harness) buf(b []byte) int {
	c := make([]byte, len(b)+canary)
	copy(c, b)
	for i := len(b); i < len(c); i++ {
		c[i] = 0xA5
	}
	h.bufs = append(h.bufs, c)
	return len(h.bufs) - 1
}

// call records a call of kernel with the given arguments: ints are buffer
// indices (passed as &b[0]) unless wrapped in lit.
func (h *harness) call(kernel string, args ...any) {
	var a []string
	for _, x := range args {
		switch v := x.(type) {
		case int:
			a = append(a, fmt.Sprintf("&b[%d][0]", v))
		case lit:
			a = append(a, string(v))
		default:
			panic(fmt.Sprintf("bad arg %T", x))
		}
	}
	h.calls = append(h.calls, fmt.Sprintf("\t%s(%s)\n", kernel, strings.Join(a, ", ")))
}

type lit string

func ilit(i int) lit { return lit(fmt.Sprint(i)) }

// The targets the tests generate: the tiers and their emulations.
var (
	avx2             = Target{Tier: runtime.AVX2}
	avx512vnni       = Target{Tier: runtime.AVX512VNNI}
	vnniEmulated     = Target{runtime.AVX512VNNI, emulAVX2}
	avx512           = Target{Tier: runtime.AVX512}
	zmmEmulated      = Target{runtime.AVX512, emulAVX2}
	amx              = Target{Tier: runtime.AMX}
	amxEmulated      = Target{runtime.AMX, emulAVX2}
	amxTilesEmulated = Target{runtime.AMX, emulTiles}
)

// needISA skips the test when the CPU cannot run the target's code.
func needISA(t testing.TB, isa Target) {
	t.Helper()
	if !runtime.TierNamed(isa.tier()).Supported() {
		t.Skipf("CPU without the %s tier: %s is generated but UNVERIFIED here", isa.tier(), isa)
	}
}

// run builds and runs the package, vets it, and returns the buffers as the
// kernels left them (canaries checked).
func (h *harness) run(t *testing.T) [][]byte {
	t.Helper()
	asm, stubs, err := h.prog.Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var in bytes.Buffer
	for _, b := range h.bufs {
		binary.Write(&in, binary.LittleEndian, uint64(len(b)))
		in.Write(b)
	}
	var m strings.Builder
	m.WriteString("package main\n\nimport (\n\t\"encoding/binary\"\n\t\"os\"\n")
	for _, im := range h.imports {
		fmt.Fprintf(&m, "\t%q\n", im)
	}
	m.WriteString(")\n\nfunc main() {\n")
	m.WriteString("\tdata, err := os.ReadFile(os.Args[1])\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\tvar b [][]byte\n")
	m.WriteString("\tfor len(data) > 0 {\n\t\tn := binary.LittleEndian.Uint64(data)\n\t\tb = append(b, data[8:8+n])\n\t\tdata = data[8+n:]\n\t}\n")
	for _, c := range h.calls {
		m.WriteString(c)
	}
	m.WriteString("\tvar out []byte\n\tfor _, x := range b {\n\t\tout = append(out, x...)\n\t}\n")
	m.WriteString("\tif err := os.WriteFile(os.Args[2], out, 0o644); err != nil {\n\t\tpanic(err)\n\t}\n}\n")
	files := map[string][]byte{
		"go.mod":           []byte("module kt\n\ngo 1.26\n"),
		"kernels_amd64.s":  asm,
		"kernels_amd64.go": stubs,
		"main.go":          []byte(m.String()),
		"in.bin":           in.Bytes(),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"vet", "."}, {"build", "-o", "kt", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cmd := exec.Command(filepath.Join(dir, "kt"), "in.bin", "out.bin")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kernels: %v\n%s", err, out)
	}
	out, err := os.ReadFile(filepath.Join(dir, "out.bin"))
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]byte, len(h.bufs))
	for i, b := range h.bufs {
		res[i], out = out[:len(b)], out[len(b):]
		for j := len(b) - canary; j < len(b); j++ {
			if res[i][j] != 0xA5 {
				t.Fatalf("buffer %d: kernel wrote past its end (byte %d)", i, j-(len(b)-canary))
			}
		}
		res[i] = res[i][:len(b)-canary]
	}
	return res
}

// quantizeTestdata quantizes testdata/dir's model (root is testdata/) with
// qconfig on the bundled calibration images.
func quantizeTestdata(t *testing.T, root, dir, qconfig string) *compiler.Model {
	t.Helper()
	if _, err := os.Stat(root + dir + "/model.json"); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	m, err := ptq.Quantize(ptq.Options{Model: root + dir + "/model.json", QConfig: qconfig,
		Calib: root + "mobilenetv2_fmnist/calib_images.npy"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// asmGen makes the assembly of a lowered model (Generate, or GenerateTiers
// for chosen tiers).
type asmGen func(m *lower.Model, pkg string) (*lower.Asm, error)

// generatePkg lowers m and writes package pkg with gen's assembly, as the
// driver (cmd/ptqc) does.
func generatePkg(m *compiler.Model, pkg string, gen asmGen) (*codegen.Package, error) {
	lm, err := lower.Lower(m)
	if err != nil {
		return nil, err
	}
	a, err := gen(lm, pkg)
	if err != nil {
		return nil, err
	}
	// Groups of 3 images in lockstep (whatever the weights) and pieces of
	// 512 bytes of weights: the batch tests run the lockstep functions.
	return codegen.Generate(lm, codegen.Options{Package: pkg, Asm: a, Lockstep: 3, PieceBytes: 512})
}

// workSplit draws the four calls the dense kernel tests make over a split of
// u units and cu column units, as workers would: {s0, s1, c0, c1} each, the
// later parts first, so that a stray write past an earlier part would show.
func workSplit(r *rand.Rand, u, cu int) [][4]int {
	mid, cmid := r.IntN(u+1), r.IntN(cu+1)
	var parts [][4]int
	for _, sr := range [][2]int{{mid, u}, {0, mid}} {
		for _, cr := range [][2]int{{cmid, cu}, {0, cmid}} {
			parts = append(parts, [4]int{sr[0], sr[1], cr[0], cr[1]})
		}
	}
	return parts
}

// callSplit calls kernel(args..., s0, s1, c0, c1) for each part.
func (h *harness) callSplit(kernel string, parts [][4]int, args ...any) {
	for _, p := range parts {
		h.call(kernel, append(args, ilit(p[0]), ilit(p[1]), ilit(p[2]), ilit(p[3]))...)
	}
}

// forTaps calls f with each tap (ky, kx) of window g at output pixel
// (oy, ox) that reads inside an h x w input, and the pixel iy*w+ix it reads:
// the reference arithmetic of the conv tests.
func forTaps(g ir.Window, h, w, oy, ox int, f func(ky, kx, px int)) {
	for ky := 0; ky < g.KH; ky++ {
		iy := oy*g.SH - g.PadT + ky*g.DH
		if iy < 0 || iy >= h {
			continue
		}
		for kx := 0; kx < g.KW; kx++ {
			ix := ox*g.SW - g.PadL + kx*g.DW
			if ix < 0 || ix >= w {
				continue
			}
			f(ky, kx, iy*w+ix)
		}
	}
}
