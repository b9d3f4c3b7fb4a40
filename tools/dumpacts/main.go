// Command dumpacts writes the activations ptqc's calibration feeds to one
// observer: the output of a node of the fused float graph for every
// calibration batch, as a float32 .npy of shape [batches, batch*C*H*W] (NCHW,
// the batch's samples back to back, exactly what calibrate.Calibrate passes
// to Observe). tools/histogram_model_golden.py compares PyTorch's
// HistogramObserver fed these with the one fed PyTorch's own activations.
//
//	go run ./tools/dumpacts -node features.3.conv.0.0 -o /tmp/ptqc_acts.npy
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
)

func main() {
	model := flag.String("model", "testdata/mobilenetv2_fmnist/model.json", "model description `JSON`")
	calib := flag.String("calib", "testdata/mobilenetv2_fmnist/calib_images.npy", "calibration `data`")
	node := flag.String("node", "features.3.conv.0.0", "fused graph node `name` whose output to dump")
	batch := flag.Int("batch", 30, "calibration batch size")
	limit := flag.Int("limit", 300, "calibration samples")
	out := flag.String("o", "", "output `.npy`")
	flag.Parse()
	if err := run(*model, *calib, *node, *out, *batch, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "dumpacts:", err)
		os.Exit(1)
	}
}

func run(model, calib, node, out string, batch, limit int) error {
	if out == "" {
		return fmt.Errorf("-o is required")
	}
	_, g, ds, err := ptq.LoadFloatData(model, "", calib, "")
	if err != nil {
		return err
	}
	in := g.Tensors[g.Input].Elems()
	var acts [][]float32
	err = data.Batches(ds, batch, limit, func(_ int, x []float32, _ []int) error {
		found := false
		_, err := ir.Run(g, x, len(x)/in, func(n *ir.Node, o []float32, _ int) error {
			if n.Name == node {
				acts = append(acts, append([]float32(nil), o...))
				found = true
			}
			return nil
		})
		if err == nil && !found {
			err = fmt.Errorf("no node %q in the fused graph", node)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, a := range acts {
		if len(a) != len(acts[0]) {
			return fmt.Errorf("batches of different sizes (%d, %d): use a limit that is a multiple of the batch", len(acts[0]), len(a))
		}
	}
	return writeNpy(out, acts)
}

func writeNpy(path string, rows [][]float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(rows), len(rows[0]))
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	w.WriteString("\x93NUMPY\x01\x00")
	binary.Write(w, binary.LittleEndian, uint16(len(header)))
	w.WriteString(header)
	var b [4]byte
	for _, r := range rows {
		for _, v := range r {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			w.Write(b[:])
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
