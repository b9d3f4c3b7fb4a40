package gentest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot is this checkout's module root: the first directory up from the
// test's that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Files reads every file of dir (not its subdirectories), by name.
func Files(t testing.TB, dir string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range es {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

// Pkg is a generated package: its name and files.
type Pkg struct {
	Name  string
	Files map[string][]byte
}

// TempModule makes a module in a temporary directory that requires this
// checkout through a replace directive.
func TempModule(t testing.TB, name string) string {
	t.Helper()
	dir := t.TempDir()
	root := RepoRoot(t)
	mod := fmt.Sprintf("module %s\n\ngo 1.26\n\nrequire github.com/ptqc/ptqc v0.0.0\n\nreplace github.com/ptqc/ptqc => %s\n", name, root)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	if sum, err := os.ReadFile(filepath.Join(root, "go.sum")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// GoCmd runs the go command in dir and returns its combined output.
func GoCmd(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return GoCmdEnv(t, dir, nil, args...)
}

// GoCmdEnv is GoCmd with extra environment variables.
func GoCmdEnv(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// writePackage writes p's files into dir.
func writePackage(t testing.TB, dir string, p Pkg) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name := range p.Files {
		if err := os.WriteFile(filepath.Join(dir, name), p.Files[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeF32(t testing.TB, path string, v []float32) {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// harness is a main that runs each generated package p<i> on in<i>.f32 and
// writes out<i>.f32, and checks what a test of the package itself would: no
// allocations in Forward, errors (not panics) for bad lengths, the zero Model
// and a second Model agreeing.
const harness = `package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
%s)

type model interface {
	Forward(out, in []float32) error
	Tier() (string, error)
}

type pkg struct {
	name       string
	new        func() model
	zero       model
	inLen, out int
}

func main() {
	dir := os.Args[1]
	fail := false
	for _, p := range []pkg{
%s	} {
		if err := run(dir, p); err != nil {
			fmt.Printf("%%s: %%v\n", p.name, err)
			fail = true
		}
	}
	if fail {
		os.Exit(1)
	}
}

func run(dir string, p pkg) error {
	b, err := os.ReadFile(filepath.Join(dir, p.name+".in"))
	if err != nil {
		return err
	}
	in := make([]float32, len(b)/4)
	for i := range in {
		in[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	n := len(in) / p.inLen
	out := make([]float32, n*p.out)
	m := p.new()
	if err := m.Forward(out, in); err != nil {
		return err
	}
	if want := os.Getenv("PTQC_ISA"); want != "" {
		if tier, err := m.Tier(); err != nil || tier != want {
			return fmt.Errorf("ran on tier %%q (%%v), want %%s", tier, err, want)
		}
	}
	if a := testing.AllocsPerRun(3, func() { m.Forward(out, in) }); a != 0 {
		return fmt.Errorf("Forward allocates %%v times per call", a)
	}
	if m.Forward(out, in[:len(in)-1]) == nil || m.Forward(out[:len(out)-1], in) == nil || m.Forward(out, nil) == nil {
		return fmt.Errorf("Forward accepts a wrong length")
	}
	one := make([]float32, p.out)
	z := p.zero
	for i := range n {
		if err := z.Forward(one, in[i*p.inLen:(i+1)*p.inLen]); err != nil {
			return err
		}
		if !slices.Equal(f32bits(one), f32bits(out[i*p.out:(i+1)*p.out])) {
			return fmt.Errorf("image %%d alone in a zero Model differs from the batch", i)
		}
	}
	ob := make([]byte, 4*len(out))
	for i, v := range out {
		binary.LittleEndian.PutUint32(ob[4*i:], math.Float32bits(v))
	}
	return os.WriteFile(filepath.Join(dir, p.name+".out"), ob, 0o644)
}

func f32bits(v []float32) []uint32 {
	b := make([]uint32, len(v))
	for i, f := range v {
		b[i] = math.Float32bits(f)
	}
	return b
}
`

// RunHarness writes pkgs with their inputs into a temporary module, builds
// one program that runs them all, runs it once per environment (each a list
// of variables, such as PTQC_ISA=avx2; none given: one run as is), and
// returns each run's outputs per package.
func RunHarness(t testing.TB, pkgs []Pkg, inputs [][]float32, inLens, outs []int, envs ...[]string) [][][]float32 {
	t.Helper()
	dir := TempModule(t, "ptqcprop")
	var imports, entries strings.Builder
	for i, p := range pkgs {
		writePackage(t, filepath.Join(dir, p.Name), p)
		writeF32(t, filepath.Join(dir, p.Name+".in"), inputs[i])
		fmt.Fprintf(&imports, "\t%q\n", "ptqcprop/"+p.Name)
		fmt.Fprintf(&entries, "\t\t{%q, func() model { return %s.New() }, &%s.Model{}, %d, %d},\n", p.Name, p.Name, p.Name, inLens[i], outs[i])
	}
	src := fmt.Sprintf(harness, imports.String(), entries.String())
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	GoCmd(t, dir, "vet", "./...")
	GoCmd(t, dir, "build", "-o", "harness", ".")
	if len(envs) == 0 {
		envs = [][]string{nil}
	}
	var res [][][]float32
	for _, env := range envs {
		cmd := exec.Command(filepath.Join(dir, "harness"), dir)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("harness %v: %v\n%s", env, err, out)
		}
		r := make([][]float32, len(pkgs))
		for i, p := range pkgs {
			r[i] = readF32(t, filepath.Join(dir, p.Name+".out"))
		}
		res = append(res, r)
	}
	return res
}
