package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ptq"
)

// TestFlagErrors: flags missing, out of range or not fitting together are
// refused, and no failed build leaves an output directory (the counts are
// issue 23's minor findings).
func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	model, x, y := tinyModel(t, dir)
	out := filepath.Join(dir, "net")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"build: no model", []string{"build", "-qconfig", "fbgemm", "-calib", x, "-o", out, "-pkg", "net"}, "-model is required"},
		{"build: no quantization", []string{"build", "-model", model, "-o", out, "-pkg", "net"}, "-qconfig NAME -calib DATA, or -qmodel"},
		{"build: no output", []string{"build", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-pkg", "net"}, "-o is required"},
		{"build: no package", []string{"build", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-o", out}, "-pkg is required"},
		{"build: bad package", []string{"build", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-calib-limit", "60", "-o", out, "-pkg", "my-net"}, `package name "my-net"`},
		{"build: package _", []string{"build", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-o", out, "-pkg", "_"}, `package name "_"`},
		{"build: package init", []string{"build", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-o", out, "-pkg", "init"}, `package name "init"`},
		{"build: no calibration data", []string{"build", "-model", model, "-qconfig", "fbgemm", "-o", out, "-pkg", "net"}, "needs -qconfig and -calib"},
		{"eval: calib-limit", []string{"eval", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-calib-limit", "-1", "-data", x, "-labels", y}, "eval: -calib-limit -1: must be 0 (the default count) or more"},
		{"eval: calib-batch", []string{"eval", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-calib-batch", "0", "-data", x, "-labels", y}, "eval: -calib-batch 0: must be positive"},
		{"eval: limit", []string{"eval", "-model", model, "-float", "-data", x, "-labels", y, "-limit", "-1"}, "eval: -limit -1: must be 0 (all) or more"},
		{"eval: batch", []string{"eval", "-model", model, "-float", "-data", x, "-labels", y, "-batch", "0"}, "eval: -batch 0: must be positive"},
		{"eval: max-image-pixels", []string{"eval", "-model", model, "-float", "-data", x, "-max-image-pixels", "0"}, "-max-image-pixels 0: must be positive"},
		{"report: limit", []string{"report", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-limit", "-2"}, "report: -limit -2"},
	} {
		hostileRun(t, c.name, c.want, c.args...)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed build left an output directory")
	}
}

// TestBuild builds a package, checks what it prints and records, that the
// recorded command rebuilds the same bytes, and that a directory holding a
// file ptqc did not write is only replaced with -force.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	model, x, _ := tinyModel(t, dir)
	out := filepath.Join(dir, "pkgs", "net")
	stdout, _, err := ptqc("build", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-calib-limit", "60", "-o", out, "-pkg", "net")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wrote package net", "weights.bin: ", "float model ", "peak activation memory: ", "kernel tiers: generic, avx2, avx512vnni"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout %q lacks %q", stdout, want)
		}
	}
	doc, err := os.ReadFile(filepath.Join(out, "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	const cmd = "go run github.com/ptqc/ptqc/cmd/ptqc build -model ../../model.json -qconfig fbgemm -calib ../../x.npy -calib-limit 60 -o . -pkg net"
	if !strings.Contains(string(doc), "\n//\t"+cmd+"\n") {
		t.Errorf("doc.go does not record %q:\n%s", cmd, doc)
	}

	// The recorded command, run for a sibling directory, gives the same bytes.
	args := strings.Fields(cmd)[4:]
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "../"):
			args[i] = filepath.Join(out, a)
		case a == ".":
			args[i] = filepath.Join(dir, "pkgs", "net2")
		}
	}
	if _, _, err := ptqc(append([]string{"build"}, args...)...); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"doc.go", "model.go", "kernels.go", "weights.bin", "kernels_amd64.s", "kernels_amd64.go", "forward_amd64.go", "forward_other.go"} {
		a, _ := os.ReadFile(filepath.Join(out, name))
		b, _ := os.ReadFile(filepath.Join(dir, "pkgs", "net2", name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs when rebuilt with the recorded command", name)
		}
	}

	// The same model from a quantized-model file.
	q := filepath.Join(dir, "net.ptqm")
	m, err := ptq.Quantize(ptq.Options{Model: model, QConfig: "fbgemm", Calib: x, CalibLimit: 60})
	if err != nil {
		t.Fatal(err)
	}
	if err := compiler.WriteModel(q, m); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ptqc("build", "-qmodel", q, "-o", out, "-pkg", "net"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(out, "model.go"))
	a, _ := os.ReadFile(filepath.Join(dir, "pkgs", "net2", "model.go"))
	if !bytes.Equal(a, b) {
		t.Error("model.go from -qmodel differs from the calibrated build")
	}

	// Without assembly: the portable kernels only.
	noasm := filepath.Join(dir, "pkgs", "noasm")
	if stdout, _, err = ptqc("build", "-qmodel", q, "-asm=false", "-o", noasm, "-pkg", "net"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "kernel tiers: generic\n") {
		t.Errorf("-asm=false: stdout %q", stdout)
	}
	if _, err := os.Stat(filepath.Join(noasm, "kernels_amd64.s")); err == nil {
		t.Error("-asm=false wrote kernels_amd64.s")
	}

	// A user file beside the package stays; -force changes nothing about it.
	user := filepath.Join(out, "extra_test.go")
	if err := os.WriteFile(user, []byte("package net\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, force := range []string{"-force=false", "-force"} {
		if _, _, err := ptqc("build", "-qmodel", q, "-o", out, "-pkg", "net", force); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(user); err != nil || string(b) != "package net\n" {
			t.Errorf("%s: the user file is %q, %v", force, b, err)
		}
	}
}

// TestBuildIgnoresGOMAXPROCS: calibration and conversion run in parallel, yet the
// package must not depend on how many threads did the work.
func TestBuildIgnoresGOMAXPROCS(t *testing.T) {
	dir := t.TempDir()
	model, x, _ := tinyModel(t, dir)
	build := func(procs int, out string) map[string]string {
		defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(procs))
		if _, _, err := ptqc("build", "-model", model, "-qconfig", "onednn", "-calib", x, "-calib-limit", "60", "-equalize", "-bias-correct", "-o", out, "-pkg", "net"); err != nil {
			t.Fatal(err)
		}
		return gentest.Files(t, out)
	}
	one := build(1, filepath.Join(dir, "a", "net"))
	many := build(4, filepath.Join(dir, "b", "net"))
	if len(one) == 0 {
		t.Fatal("no files built")
	}
	for name, b := range one {
		if b != many[name] {
			t.Errorf("%s differs between GOMAXPROCS=1 and 4", name)
		}
	}
}

// TestBuildSharedDir builds into the directory that holds the build's inputs
// and the user's files (-o . in a go:generate line): with or without -force
// they stay byte-identical, and a rebuild with other flags replaces exactly
// the generated files.
func TestBuildSharedDir(t *testing.T) {
	dir := t.TempDir()
	model, x, y := tinyModel(t, dir)
	gen := filepath.Join(dir, "gen.go")
	if err := os.WriteFile(gen, []byte("package net\n\n//go:generate ptqc build ...\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	user := gentest.Files(t, dir)
	var built map[string]string
	for _, force := range []string{"-force=false", "-force"} {
		if _, _, err := ptqc("build", "-model", model, "-qconfig", "fbgemm", "-calib", x, "-calib-labels", y, "-o", dir, "-pkg", "net", force); err != nil {
			t.Fatalf("%s: %v", force, err)
		}
		built = gentest.Files(t, dir)
		for name, s := range user {
			if built[name] != s {
				t.Errorf("%s: %s changed", force, name)
			}
		}
		for _, name := range codegen.FileNames(true) {
			if ok, err := codegen.Generated(filepath.Join(dir, name)); !ok || err != nil {
				t.Errorf("%s: %s not generated (%v)", force, name, err)
			}
		}
		if len(built) != len(user)+len(codegen.FileNames(true)) {
			t.Errorf("%s: %d files, want %d", force, len(built), len(user)+len(codegen.FileNames(true)))
		}
	}
	// Other flags: no assembly this time, and another qconfig.
	if _, _, err := ptqc("build", "-model", model, "-qconfig", "onednn", "-calib", x, "-asm=false", "-o", dir, "-pkg", "net"); err != nil {
		t.Fatal(err)
	}
	after := gentest.Files(t, dir)
	want := map[string]bool{}
	for name := range user {
		want[name] = true
	}
	for _, name := range codegen.FileNames(false) {
		want[name] = true
		if after[name] == built[name] && name != "kernels.go" {
			t.Errorf("-asm=false -qconfig onednn: %s unchanged", name)
		}
	}
	for name := range after {
		if !want[name] {
			t.Errorf("-asm=false: %s left behind", name)
		}
	}
	for name, s := range user {
		if after[name] != s {
			t.Errorf("-asm=false: %s changed", name)
		}
	}

	// Refusals, -force or not, that leave the directory as it was.
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mainGo := filepath.Join(dir, "main.go")
	if err := os.WriteFile(mainGo, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wbin := filepath.Join(dir, "weights.bin")
	before := gentest.Files(t, dir)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"a module root of package main", []string{"-model", model, "-qconfig", "fbgemm", "-calib", x, "-o", dir, "-pkg", "net"}, "main.go is package main"},
		{"a file", []string{"-model", model, "-qconfig", "fbgemm", "-calib", x, "-o", mainGo, "-pkg", "net"}, mainGo + " is a file, not a directory"},
		{"an input", []string{"-model", model, "-qconfig", "fbgemm", "-calib", wbin, "-o", dir, "-pkg", "net"}, "refusing to write " + wbin + ": it is an input of this build"},
	} {
		for _, force := range []string{"-force=false", "-force"} {
			_, _, err := ptqc(append(append([]string{"build"}, c.args...), force)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s: error %v, want one containing %q", c.name, force, err, c.want)
			}
		}
		if diff := cmp.Diff(before, gentest.Files(t, dir)); diff != "" {
			t.Errorf("%s: the directory changed (-before +after):\n%s", c.name, diff)
		}
	}
}

// TestBuildPthLikeSafeTensors builds the trained ResNet from its .pth and from
// its safetensors file, each named by a description beside it: every file of
// the two packages is the same, byte for byte (doc.go identifies the weights
// by their tensors, not their file). A third build, from another directory
// and with -weights, records another command in doc.go but the same build id
// and the same other files: nothing that computes depends on paths.
func TestBuildPthLikeSafeTensors(t *testing.T) {
	testenv.SkipUnlessLong(t, "calibrates three times and generates assembly")
	const src = "../../testdata/resnet_fmnist"
	desc, err := os.ReadFile(filepath.Join(src, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	calib, err := filepath.Abs(filepath.Join(fmnistDir, "calib_images.npy"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	build := func(sub, weights string, extra ...string) map[string]string {
		t.Helper()
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(src, weights))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, weights), b, 0o644); err != nil {
			t.Fatal(err)
		}
		j := bytes.Replace(desc, []byte(`"weights": "model.pth"`), []byte(`"weights": "`+weights+`"`), 1)
		if !bytes.Contains(j, []byte(weights)) {
			t.Fatalf("%s/model.json names no weights file model.pth", src)
		}
		if err := os.WriteFile(filepath.Join(d, "model.json"), j, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(d, "pkg")
		args := append([]string{"build", "-model", filepath.Join(d, "model.json"), "-qconfig", "fbgemm", "-calib", calib, "-calib-limit", "60", "-o", out, "-pkg", "resnet"}, extra...)
		if _, _, err := ptqc(args...); err != nil {
			t.Fatal(err)
		}
		return gentest.Files(t, out)
	}
	pth := build("a", "model.pth")
	st := build("b", "model.safetensors")
	if diff := cmp.Diff(names(pth), names(st)); diff != "" {
		t.Fatalf("file lists differ (-pth +safetensors):\n%s", diff)
	}
	for name := range pth {
		if pth[name] != st[name] {
			t.Errorf("%s differs between the .pth and the safetensors build%s", name, lineDiff(pth[name], st[name]))
		}
	}
	other := build(filepath.Join("c", "deeper"), "model.safetensors", "-weights", filepath.Join(dir, "a", "model.pth"))
	if diff := cmp.Diff(buildIDs(pth), buildIDs(other)); diff != "" {
		t.Errorf("build ids differ with another directory and -weights (-a +c):\n%s", diff)
	}
	for name := range pth {
		if name != "doc.go" && pth[name] != other[name] {
			t.Errorf("%s differs with another directory and -weights", name)
		}
	}
	if pth["doc.go"] == other["doc.go"] {
		t.Error("doc.go records the same command for another directory and -weights")
	}
}

func names(files map[string]string) []string {
	var ns []string
	for n := range files {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// lineDiff is the first differing line of two texts, for an error message.
func lineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return fmt.Sprintf(": line %d\n\t%.200q\n\t%.200q", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf(": %d and %d lines", len(la), len(lb))
}
