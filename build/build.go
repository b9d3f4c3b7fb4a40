// Package build is ptqc's driver: the stages of a build, in order, each a
// call into the package that owns it. Read top to bottom, Package is the
// pipeline:
//
//	load      frontend (description + .pth/.safetensors) or frontend/onnx -> ir.Graph
//	fold/fuse ir.Fuse: BatchNorm folded into convs, ReLU/ReLU6 fused
//	equalize  ir.Equalize (-equalize), kept only if the int8 output gains
//	calibrate calibrate.Calibrate: observers over the float path
//	convert   compiler.Convert: frozen qparams, int8 weights, float biases
//	correct   compiler.BiasCorrect (-bias-correct)
//	lower     lower.Lower: layer kinds, packed weights, arena plan, layouts
//	emit asm  asmgen.Plan: per-layer assembly for every x86 tier
//	emit Go   codegen.Generate: the package's Go source and weights.bin,
//	          rendered while the assembly is written
//
// The first six stages are ptq.Quantize (ptq/pipeline.go runs them in this
// order; ptq sits before lower so that the back end's tests can quantize
// models); writing the files is codegen's Package.WriteDir.
package build

import (
	"fmt"

	"github.com/ptqc/ptqc/asmgen"
	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/ptq"
)

// Options says what to quantize (ptq.Options) and how to name and
// document the package.
type Options struct {
	ptq.Options
	Package string // Go package name
	Command string // the command that regenerates it, for doc.go
	Asm     bool   // add the assembly tiers next to the portable Go kernels
}

// Package runs the pipeline and returns the quantized model and the
// generated package, not yet written.
func Package(o Options) (*compiler.Model, *codegen.Package, error) {
	m, err := ptq.Quantize(o.Options)
	if err != nil {
		return nil, nil, err
	}
	p, err := Generate(m, o.Package, o.Command, o.Asm, nil)
	return m, p, err
}

// Generate is the back end: lower, emit assembly and Go side by side (the
// Go files need only the kernels' names). done, if not nil, is called as
// each stage ends ("lower", then "asm" and "codegen" in the order they
// end), for timing.
func Generate(m *compiler.Model, pkg, command string, asm bool, done func(stage string)) (*codegen.Package, error) {
	if done == nil {
		done = func(string) {}
	}
	lm, err := lower.Lower(m)
	if err != nil {
		return nil, err
	}
	done("lower")
	opts := codegen.Options{Package: pkg, Command: command}
	var wrote chan struct{}
	if asm {
		a, files, err := asmgen.Plan(lm, pkg)
		if err != nil {
			return nil, fmt.Errorf("assembly: %w", err)
		}
		var fs map[string][]byte
		var ferr error
		wrote = make(chan struct{})
		go func() {
			defer close(wrote)
			fs, ferr = files()
			done("asm")
		}()
		opts.Asm = a
		opts.AsmFiles = func() (map[string][]byte, error) {
			<-wrote
			return fs, ferr
		}
	}
	p, err := codegen.Generate(lm, opts)
	if wrote != nil {
		<-wrote // codegen may have failed before it waited
	}
	done("codegen")
	return p, err
}
