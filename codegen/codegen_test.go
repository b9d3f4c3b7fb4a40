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
	"github.com/ptqc/ptqc/internal/gentest"
)

func TestGenerateIsDeterministic(t *testing.T) {
	m := randomModel(t, 1)
	a, err := generate(m, Options{Package: "net", Command: "ptqc build ..."})
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
		b, err := generate(m2, Options{Package: "net", Command: "ptqc build ..."})
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
		p, err := generate(randomModel(t, seed), Options{Package: "net"})
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
		_, err := generate(m, Options{Package: c.pkg})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestWriteDir writes packages into a directory shared with user files.
func TestWriteDir(t *testing.T) {
	p, err := generate(randomModel(t, 0), Options{Package: "net"})
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
		if diff := cmp.Diff(want, gentest.Files(t, dir)); diff != "" {
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

// TestHostileNames checks that strings from a model file cannot break out of
// the comments they appear in.
func TestHostileNames(t *testing.T) {
	m := randomModel(t, 0)
	m.Nodes[1].Name = "x\n}\nfunc init() { panic(1) }\n//"
	m.Nodes[2].Name = "/* open"
	m.Nodes[3].Name = "bad \xff utf-8 \ufeff"
	m.Meta.QConfig = "q\nvar Evil = 1"
	p, err := generate(m, Options{Package: "net", Command: "ptqc build -model 'a\nb'"})
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

// A kill between two removals of stale files must leave forward_amd64.go, the
// file that makes the mix fail to compile (TestBuildKilled builds each such mix).
func TestWriteDirStaleOrder(t *testing.T) {
	p, err := generate(randomModel(t, 0), Options{Package: "net"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range asmFileNames {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(Header+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	removeStale = func(path string) error {
		order = append(order, filepath.Base(path))
		return os.Remove(path)
	}
	defer func() { removeStale = os.Remove }()
	if err := p.WriteDir(context.Background(), dir, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"kernels_amd64.s", "kernels_amd64.go", "forward_other.go", "forward_amd64.go"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("stale files removed in the order (-want +got):\n%s", diff)
	}
}
