package main

import (
	"fmt"
	"io"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
)

func inspectCmd(args []string, stdout, stderr io.Writer) error {
	fs, q := newQuantFlags("inspect")
	fused := fs.Bool("fused", false, "print the graph after BatchNorm folding and ReLU fusion")
	if err := q.parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if q.quantized() {
		if q.Model == "" && q.QModel == "" {
			return fmt.Errorf("inspect: -model is required")
		}
		m, err := ptq.Quantize(q.withLog(stderr, stderr))
		if err != nil {
			return err
		}
		return compiler.Print(stdout, m)
	}
	if q.Model == "" {
		return fmt.Errorf("inspect: -model is required")
	}
	_, g, err := ptq.LoadModel(q.Model, q.Weights)
	if err != nil {
		return err
	}
	if *fused {
		g = ir.Fuse(g)
	}
	return ir.PrintMACs(stdout, g)
}
