package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
)

func inspectCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	var q quantFlags
	q.register(fs)
	fused := fs.Bool("fused", false, "print the graph after BatchNorm folding and ReLU fusion")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if err := q.check("inspect"); err != nil {
		return err
	}
	if q.quantized() {
		if q.Model == "" && q.QModel == "" {
			return fmt.Errorf("inspect: -model is required")
		}
		q.Log = stderr
		q.Progress = passProgress(stderr)
		m, err := ptq.Quantize(q.Options)
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
	return ir.Print(stdout, g)
}
