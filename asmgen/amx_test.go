package asmgen

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/internal/testenv"
)

var allGP = []reg.GPPhysical{reg.RAX, reg.RCX, reg.RDX, reg.RBX, reg.RSP, reg.RBP, reg.RSI, reg.RDI,
	reg.R8, reg.R9, reg.R10, reg.R11, reg.R12, reg.R13, reg.R14, reg.R15}

// amxForms is every form the tile programs can emit: all tile registers, every
// base and index register and the displacement sizes (none, 8 and 32 bits).
func amxForms() []amxOp {
	var ops []amxOp
	disps := []int32{0, 8, -8, 127, -128, 128, 4096, -70000, 1 << 20}
	for _, b := range allGP {
		for _, d := range disps {
			ops = append(ops, amxOp{Kind: amxLdtilecfg, Base: b, Disp: d})
		}
	}
	for t := 0; t < 8; t++ {
		ops = append(ops, amxOp{Kind: amxTilezero, T: t})
		for a := 0; a < 8; a++ {
			for b := 0; b < 8; b++ {
				if t == a || t == b || a == b {
					continue // #UD
				}
				ops = append(ops, amxOp{Kind: amxTdpbusd, T: t, A: a, B: b})
			}
		}
		for _, k := range []amxKind{amxTileloadd, amxTilestored} {
			for _, base := range allGP {
				for _, index := range allGP {
					if index == reg.RSP {
						continue
					}
					for _, d := range []int32{0, 64, -64, 1024, 1 << 20} {
						ops = append(ops, amxOp{Kind: k, T: t, Base: base, Index: index, Disp: d})
					}
				}
			}
		}
	}
	return append(ops, amxOp{Kind: amxTilerelease})
}

// TestAMXEncodings checks every form's bytes against the GNU assembler.
func TestAMXEncodings(t *testing.T) {
	as, err := exec.LookPath("as")
	if err != nil {
		t.Skip("GNU as not found: the AMX encodings are UNVERIFIED here (install binutils)")
	}
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		t.Skip("objcopy not found: the AMX encodings are UNVERIFIED here (install binutils)")
	}
	ops := amxForms()
	var src strings.Builder
	var want [][]byte
	for _, o := range ops {
		b, err := o.encode()
		if err != nil {
			t.Fatalf("%s: %v", o.gnu(), err)
		}
		want = append(want, b)
		src.WriteString(o.gnu() + "\n")
	}
	dir := t.TempDir()
	s, obj, bin := filepath.Join(dir, "x.s"), filepath.Join(dir, "x.o"), filepath.Join(dir, "x.bin")
	if err := os.WriteFile(s, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(as, "--64", "-o", obj, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	if out, err := exec.Command(objcopy, "-O", "binary", "-j", ".text", obj, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for i, o := range ops {
		w := want[i]
		if off+len(w) > len(got) || !bytes.Equal(got[off:off+len(w)], w) {
			end := min(off+len(w)+2, len(got))
			t.Fatalf("%s: encoded % x, as gives % x... (at byte %d)", o.gnu(), w, got[off:end], off)
		}
		off += len(w)
	}
	if off != len(got) {
		t.Fatalf("as produced %d bytes, the encoder %d", len(got), off)
	}
	t.Logf("%d AMX instruction forms match GNU as byte for byte", len(ops))
}

// TestAMXBytesThroughGoAsm checks that the BYTE directives reach the binary
// verbatim: a function made of AMX instructions (never called) is built with
// Go's assembler and disassembled.
func TestAMXBytesThroughGoAsm(t *testing.T) {
	testenv.SkipShort(t, "builds a program")
	ops := []amxOp{
		{Kind: amxLdtilecfg, Base: reg.RDX, Disp: 0},
		{Kind: amxTilezero, T: 3},
		{Kind: amxTileloadd, T: 1, Base: reg.R8, Index: reg.R11, Disp: 64},
		{Kind: amxTdpbusd, T: 3, A: 1, B: 2},
		{Kind: amxTilestored, T: 3, Base: reg.R13, Index: reg.R12, Disp: 0},
		{Kind: amxTilerelease},
	}
	p := NewProgram("main")
	if err := p.function("amxbytes", "func()"); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, o := range ops {
		b, err := o.encode()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
		if err := emitAMX(p.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	p.ctx.RET()
	asm, stubs, err := p.Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":           "module kt\n\ngo 1.26\n",
		"kernels_amd64.s":  string(asm),
		"kernels_amd64.go": string(stubs),
		"main.go":          "package main\n\nimport \"os\"\n\nfunc main() {\n\tif len(os.Args) > 5 {\n\t\tamxbytes()\n\t}\n}\n",
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", "kt", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s\n%s", err, out, asm)
	}
	out, err := exec.Command("go", "tool", "objdump", "-s", "main.amxbytes", filepath.Join(dir, "kt")).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	// Lines: "file:line  0xADDR  HEXBYTES  TEXT".
	var got []byte
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[1], "0x") {
			continue
		}
		b, err := hex.DecodeString(f[2])
		if err != nil {
			t.Fatalf("objdump line %q: %v", line, err)
		}
		got = append(got, b...)
	}
	if !bytes.HasPrefix(got, want) {
		t.Fatalf("function bytes % x, want % x first\n%s", got, want, out)
	}
}

// TestAMXEncodeRejects checks the forms the CPU would fault on or that do not exist.
func TestAMXEncodeRejects(t *testing.T) {
	for _, o := range []amxOp{
		{Kind: amxTilezero, T: 8},
		{Kind: amxTdpbusd, T: 1, A: 1, B: 2},
		{Kind: amxTdpbusd, T: 0, A: 1, B: 1},
		{Kind: amxTileloadd, T: 0, Base: reg.RAX, Index: reg.RSP},
		{Kind: amxTileloadd, T: 0, Base: reg.RAX},
		{Kind: amxTilestored, T: 0, Index: reg.RAX},
		{Kind: amxLdtilecfg},
		{Kind: 99},
	} {
		if b, err := o.encode(); err == nil {
			t.Errorf("%+v: encoded % x, want an error", o, b)
		}
	}
}
