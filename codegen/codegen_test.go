package codegen

import (
	"bytes"
	"context"
	"errors"
	"go/format"
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/compiler"
)

func TestFirstFit(t *testing.T) {
	for _, c := range []struct {
		name     string
		ts       []interval
		want     []int
		wantPeak int
	}{
		{"one", []interval{{0, 1, 64}}, []int{0}, 64},
		{"chain reuses dead bytes", []interval{{0, 1, 64}, {1, 2, 64}, {2, 3, 64}}, []int{0, 64, 0}, 128},
		{"an input is alive while its reader writes", []interval{{0, 1, 128}, {1, 2, 64}}, []int{0, 128}, 192},
		// x -> expand e -> depthwise d -> add(x, d): x stays alive across the block,
		// the add's output goes where e was.
		{"residual block", []interval{{0, 3, 64}, {1, 2, 384}, {2, 3, 384}, {3, 4, 64}}, []int{0, 64, 448, 64}, 832},
		{"unread output", []interval{{0, 0, 64}, {1, 2, 64}}, []int{0, 0}, 64},
		{"first gap that fits", []interval{{0, 3, 64}, {1, 2, 64}, {2, 4, 64}, {3, 4, 128}, {4, 5, 64}}, []int{0, 64, 128, 192, 0}, 320},
	} {
		offs, peak := firstFit(c.ts)
		if diff := cmp.Diff(c.want, offs); diff != "" || peak != c.wantPeak {
			t.Errorf("%s: peak %d (want %d), offsets (-want +got):\n%s", c.name, peak, c.wantPeak, diff)
		}
	}
}

// TestPlanNoOverlap checks on random models that no tensor shares bytes with
// one alive at the same time.
func TestPlanNoOverlap(t *testing.T) {
	for seed := range uint64(8) {
		m := randomModel(t, seed)
		ls, err := layers(m)
		if err != nil {
			t.Fatal(err)
		}
		peak, err := plan(ls)
		if err != nil {
			t.Fatal(err)
		}
		last := map[int]int{}
		for i, l := range ls {
			for _, id := range l.Node.In {
				last[id] = i
			}
		}
		type span struct{ def, last, off, end int }
		var ss []span
		for i, l := range ls[:len(ls)-1] {
			ss = append(ss, span{i, max(i, last[l.Y.ID]), l.YOff, l.YOff + l.YD.elems()})
			if l.YOff%align != 0 || l.YOff+l.YD.elems() > peak {
				t.Errorf("model %d layer %d: offset %d size %d in an arena of %d", seed, i, l.YOff, l.YD.elems(), peak)
			}
		}
		for i, a := range ss {
			for _, b := range ss[i+1:] {
				if a.def <= b.last && b.def <= a.last && a.off < b.end && b.off < a.end {
					t.Errorf("model %d: tensors of layers %d and %d overlap while both alive", seed, a.def, b.def)
				}
			}
		}
	}
}

func TestPack(t *testing.T) {
	// 2 output channels, 3x3, 2 input channels (per group), weights numbered by
	// their OIHW index.
	w := make([]int8, 2*2*9)
	for i := range w {
		w[i] = int8(i)
	}
	conv := &compiler.Conv{InC: 2, OutC: 2, Kernel: 3, Groups: 1, Weight: w}
	gotW, gotB := packConv(conv, 3)
	// Quads (PackDense): one unit of 16 output channels, per tap one quad of
	// 16 x 4 bytes: channel o's inputs 0, 1 at o*4, zero elsewhere.
	wantW := make([]int8, 9*64)
	for tap := range 9 {
		for o := range 2 {
			for i := range 2 {
				wantW[tap*64+o*4+i] = int8((o*2+i)*9 + tap)
			}
		}
	}
	s0, s1 := int32(0), int32(0)
	for i := range 18 {
		s0 += int32(i)
		s1 += int32(18 + i)
	}
	wantB := []int32{-3 * s0, -3 * s1}
	if diff := cmp.Diff(wantW, gotW); diff != "" {
		t.Errorf("packConv weights (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantB, gotB); diff != "" {
		t.Errorf("packConv biases (-want +got):\n%s", diff)
	}
	// A grouped conv keeps OHWI: o, tap, i -> OIHW index (o*1+i)*9+tap.
	grouped := &compiler.Conv{InC: 2, OutC: 2, Kernel: 3, Groups: 2, Weight: w[:18]}
	gotW, _ = packConv(grouped, 0)
	wantW = nil
	for o := range 2 {
		for tap := range 9 {
			wantW = append(wantW, int8(o*9+tap))
		}
	}
	if diff := cmp.Diff(wantW, gotW); diff != "" {
		t.Errorf("packConv grouped (-want +got):\n%s", diff)
	}

	dw := &compiler.Conv{InC: 2, OutC: 2, Kernel: 3, Groups: 2, Weight: w[:18]}
	gotW, _ = packDepthwise(dw, 0)
	wantW = nil
	for tap := range 9 {
		for c := range 2 {
			wantW = append(wantW, int8(c*9+tap))
		}
	}
	if diff := cmp.Diff(wantW, gotW); diff != "" {
		t.Errorf("packDepthwise (-want +got):\n%s", diff)
	}

	pw := &compiler.Conv{InC: 3, OutC: 2, Kernel: 1, Groups: 1, Weight: []int8{1, -2, 3, -128, 127, 0}}
	gotW, gotB = packPointwise(pw, 255)
	wantPW := make([]int8, 64) // one unit of 16, one quad: channel o at o*4
	copy(wantPW, []int8{1, -2, 3, 0, -128, 127, 0, 0})
	if diff := cmp.Diff(wantPW, gotW); diff != "" {
		t.Errorf("packPointwise (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{-255 * 2, -255 * (-1)}, gotB); diff != "" {
		t.Errorf("packPointwise biases (-want +got):\n%s", diff)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	m := randomModel(t, 1)
	a, err := Generate(m, Options{Package: "net", Command: "ptqc build ..."})
	if err != nil {
		t.Fatal(err)
	}
	// The same model through the quantized-model file.
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := compiler.DecodeModel(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b, err := Generate(m2, Options{Package: "net", Command: "ptqc build ..."})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a.Files, b.Files); diff != "" {
			t.Fatalf("run %d differs (-first +this):\n%s", i, diff)
		}
	}
}

// TestGeneratedFiles checks the files' form: the header, gofmt, and imports.
func TestGeneratedFiles(t *testing.T) {
	for seed := range uint64(4) {
		p, err := Generate(randomModel(t, seed), Options{Package: "net"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"doc.go", "kernels.go", "model.go", "weights.bin"}, p.Names()); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
		if len(p.Files["weights.bin"]) != p.WeightsBytes {
			t.Errorf("WeightsBytes %d, weights.bin has %d", p.WeightsBytes, len(p.Files["weights.bin"]))
		}
		for name, b := range p.Files {
			if !bytes.HasPrefix(b, []byte(Header+"\n")) {
				t.Errorf("%s does not start with %q", name, Header)
			}
			if !strings.HasSuffix(name, ".go") {
				continue
			}
			if f, err := format.Source(b); err != nil || !bytes.Equal(f, b) {
				t.Errorf("%s is not gofmt'ed (%v)", name, err)
			}
			file, err := parser.ParseFile(token.NewFileSet(), name, b, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range file.Imports {
				path, _ := strconv.Unquote(im.Path.Value)
				if path != "github.com/ptqc/ptqc/runtime" && path != "golang.org/x/sys/cpu" && strings.Contains(path, ".") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	good := func() *compiler.Model {
		enc, err := randomModel(t, 0).Encode()
		if err != nil {
			t.Fatal(err)
		}
		m, err := compiler.DecodeModel(enc)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	firstConv := func(m *compiler.Model) *compiler.Conv {
		for _, n := range m.Nodes {
			if n.Conv != nil {
				return n.Conv
			}
		}
		t.Fatal("no conv")
		return nil
	}
	for _, c := range []struct {
		name   string
		pkg    string
		mutate func(m *compiler.Model) *compiler.Model
		want   string
	}{
		{"package keyword", "func", nil, "package name"},
		{"package main", "main", nil, "package name"},
		{"package not an identifier", "my-net", nil, "package name"},
		{"nil model", "net", func(*compiler.Model) *compiler.Model { return nil }, "no model"},
		{"no quantize", "net", func(m *compiler.Model) *compiler.Model { m.Nodes = m.Nodes[1:]; return m }, "start with a Quantize"},
		{"short weights", "net", func(m *compiler.Model) *compiler.Model {
			c := firstConv(m)
			c.Weight = c.Weight[1:]
			return m
		}, "weights"},
		{"NaN multiplier", "net", func(m *compiler.Model) *compiler.Model { firstConv(m).M[0] = float32(math.NaN()); return m }, "not finite"},
		{"bad zero point", "net", func(m *compiler.Model) *compiler.Model { m.Tensors[m.Nodes[0].Out].Zero = 256; return m }, "zero point"},
		{"tensor out of range", "net", func(m *compiler.Model) *compiler.Model { m.Nodes[1].In[0] = 1 << 20; return m }, "out of range"},
		{"reads a later tensor", "net", func(m *compiler.Model) *compiler.Model { m.Nodes[1].In[0] = m.Nodes[3].Out; return m }, ""},
		{"bad input shape", "net", func(m *compiler.Model) *compiler.Model { m.Desc.Input = []int{1, 2, 3}; return m }, "description input"},
	} {
		m := good()
		if c.mutate != nil {
			m = c.mutate(m)
		}
		_, err := Generate(m, Options{Package: c.pkg})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestWriteDir writes packages into a directory shared with user files.
func TestWriteDir(t *testing.T) {
	p, err := Generate(randomModel(t, 0), Options{Package: "net"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "net")
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// check: the package's files as generated, the user's as they were, nothing else.
	check := func(what string, user map[string]string) {
		t.Helper()
		want := map[string]string{}
		for name, b := range p.Files {
			want[name] = string(b)
		}
		for name, s := range user {
			want[name] = s
		}
		got := map[string]string{}
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			got[e.Name()] = string(b)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: directory (-want +got):\n%s", what, diff)
		}
	}
	if err := p.WriteDir(ctx, dir, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("new directory", nil)

	// User files stay; a generated file this build does not write and a
	// temporary file of a killed build go.
	user := map[string]string{
		"extra.go":    "package net\n",
		"ext_test.go": "package net_test\n",
		"gen.go":      "//go:build ignore\n\npackage main\n",
		"model.json":  "{}",
		"calib.npy":   "npy",
		"notes.bin":   Header + "\n", // ptqc's header, not a name ptqc writes
	}
	for name, s := range user {
		write(name, s)
	}
	write("kernels_amd64.s", Header+"\n")
	write(tempPrefix+"0123", "partial")
	if err := p.WriteDir(ctx, dir, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("beside user files", user)

	// A user file with a generated file's name: refused, or overwritten with Force (and said).
	write("model.go", "package net // mine\n")
	err = p.WriteDir(ctx, dir, WriteOptions{})
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite "+filepath.Join(dir, "model.go")+": ptqc did not generate it") {
		t.Errorf("over a user model.go: error %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.go")); string(b) != "package net // mine\n" {
		t.Error("the refused write touched model.go")
	}
	var log strings.Builder
	if err := p.WriteDir(ctx, dir, WriteOptions{Force: true, Log: &log}); err != nil {
		t.Fatal(err)
	}
	if want := "overwriting " + filepath.Join(dir, "model.go") + ", which ptqc did not generate (-force)\n"; log.String() != want {
		t.Errorf("-force log %q, want %q", log.String(), want)
	}
	check("forced", user)

	// Refused whatever Force says, leaving everything as it was.
	for _, c := range []struct {
		name   string
		setup  func() (undo func())
		inputs []string
		want   string
	}{
		{"an input named weights.bin", func() func() {
			return func() {}
		}, []string{filepath.Join(dir, "weights.bin")}, "refusing to write " + filepath.Join(dir, "weights.bin") + ": it is an input of this build"},
		{"an input through a symbolic link", func() func() {
			os.Symlink(filepath.Join(dir, "kernels.go"), filepath.Join(dir, "link"))
			return func() { os.Remove(filepath.Join(dir, "link")) }
		}, []string{filepath.Join(dir, "link")}, "kernels.go: it is an input of this build"},
		{"another package", func() func() {
			write("main.go", "package main\n")
			return func() { os.Remove(filepath.Join(dir, "main.go")) }
		}, nil, "main.go is package main"},
		{"a directory named doc.go", func() func() {
			os.Remove(filepath.Join(dir, "doc.go"))
			os.Mkdir(filepath.Join(dir, "doc.go"), 0o755)
			return func() { os.Remove(filepath.Join(dir, "doc.go")); write("doc.go", string(p.Files["doc.go"])) }
		}, nil, "doc.go: it is not a regular file"},
	} {
		undo := c.setup()
		for _, force := range []bool{false, true} {
			err := p.WriteDir(ctx, dir, WriteOptions{Force: force, Inputs: c.inputs})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, force %v: error %v, want one containing %q", c.name, force, err, c.want)
			}
		}
		undo()
		check(c.name, user)
	}
	// An input whose name ptqc writes only with assembly is not a stale file either.
	write("kernels_amd64.go", Header+"\n")
	if err := p.WriteDir(ctx, dir, WriteOptions{Inputs: []string{filepath.Join(dir, "kernels_amd64.go")}}); err != nil {
		t.Fatal(err)
	}
	check("stale input", map[string]string{"kernels_amd64.go": Header + "\n", "extra.go": user["extra.go"], "ext_test.go": user["ext_test.go"], "gen.go": user["gen.go"], "model.json": "{}", "calib.npy": "npy", "notes.bin": Header + "\n"})
	os.Remove(filepath.Join(dir, "kernels_amd64.go"))

	// An interrupted write (ctx ended) leaves the old files and no temporary one.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	write("model.go", Header+"\n")
	if err := p.WriteDir(cctx, dir, WriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted write: error %v, want context.Canceled", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.go")); string(b) != Header+"\n" {
		t.Error("interrupted write changed model.go")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*")); len(left) > 0 {
		t.Errorf("interrupted write left %v", left)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteDir(ctx, file, WriteOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "is a file, not a directory") {
		t.Errorf("writing over a file: error %v", err)
	}
}

// TestOddGraphKinds makes sure the hand-built graph reaches the general kernels.
func TestOddGraphKinds(t *testing.T) {
	ls, err := layers(randomModel(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, l := range ls {
		kinds = append(kinds, l.Kind.String())
	}
	want := []string{"quantize", "conv", "conv", "conv", "conv", "conv", "add", "conv", "dequantize"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
}

// TestHostileNames checks that strings from a model file cannot break out of
// the comments they appear in.
func TestHostileNames(t *testing.T) {
	m := randomModel(t, 0)
	m.Nodes[1].Name = "x\n}\nfunc init() { panic(1) }\n//"
	m.Nodes[2].Name = "/* open"
	m.Nodes[3].Name = "bad \xff utf-8 \ufeff"
	m.Meta.QConfig = "q\nvar Evil = 1"
	p, err := Generate(m, Options{Package: "net", Command: "ptqc build -model 'a\nb'"})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range p.Files {
		if !strings.HasSuffix(name, ".go") {
			continue
		}
		if _, err := format.Source(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if bytes.Contains(b, []byte("\nfunc init()")) || bytes.Contains(b, []byte("\nvar Evil")) {
			t.Errorf("%s: a name escaped its comment", name)
		}
	}
}
