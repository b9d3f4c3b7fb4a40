// Command flagstudy asks whether -equalize and -bias-correct move top-1 by more
// than the choice of calibration images does. For each of several calibration
// sets drawn at random (seeded) from a pool of images, it quantizes the model
// plain, with -equalize, with -bias-correct and with both, evaluates each on the
// test set and prints, per set and on average over the sets:
//
//   - top-1, and top-1 with output ties broken at random (its expectation): the
//     int8 output is quantized, so two classes often share its largest value and
//     the first index wins, as with PyTorch's argmax;
//   - ties: test images whose int8 output has a tie at the top;
//   - flips: images whose top-1 differs from the float model's although their int8
//     output has no tie;
//   - MSE: the mean squared difference of the output logits from the float ones.
//
// Usage (Fashion-MNIST from Debian's dataset-fashion-mnist):
//
//	go run ./tools/flagstudy -model testdata/mobilenetv2_fmnist/model.json -qconfig fbgemm [-sets 4] [-n 300]
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
	"github.com/ptqc/ptqc/runtime"
)

const fmnist = "/usr/share/datasets/fashion-mnist/"

// variant is one setting of the two flags.
type variant struct {
	name                  string
	equalize, biasCorrect bool
}

var variants = []variant{
	{"plain", false, false},
	{"-equalize", true, false},
	{"-bias-correct", false, true},
	{"both", true, true},
}

// score is one quantized model's result on the test set.
type score struct {
	top1, expected float64
	ties, flips    int
	mse            float64
}

func main() {
	model := flag.String("model", "", "model description JSON")
	qconfig := flag.String("qconfig", "fbgemm", "qconfig name")
	pool := flag.String("pool", fmnist+"train-images-idx3-ubyte.gz", "IDX images to draw calibration sets from")
	test := flag.String("data", fmnist+"t10k-images-idx3-ubyte.gz", "labelled evaluation data")
	sets := flag.Int("sets", 4, "calibration sets")
	n := flag.Int("n", 300, "images per calibration set")
	limit := flag.Int("limit", 0, "evaluate at most N test images (0: all)")
	flag.Parse()
	if err := run(*model, *qconfig, *pool, *test, *sets, *n, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "flagstudy:", err)
		os.Exit(1)
	}
}

func run(model, qconfig, pool, test string, sets, n, limit int) error {
	if model == "" {
		return fmt.Errorf("-model is required")
	}
	d, g, ds, err := ptq.LoadFloatData(model, "", test, "")
	if err != nil {
		return err
	}
	classes := d.NumClasses
	labels, err := readLabels(ds, limit)
	if err != nil {
		return err
	}
	facc, flogits, err := ptq.Evaluate(ds, classes, 100, limit, func(x []float32, n int) ([]float32, error) { return ir.Run(g, x, n, nil) }, true, nil)
	if err != nil {
		return err
	}
	fmt.Printf("%s, qconfig %s, %d test images, %d calibration sets of %d from %s\n\nfloat top-1 %.2f\n\n",
		model, qconfig, facc.N, sets, n, filepath.Base(pool), facc.Top1)

	px, err := data.ReadIDX(pool)
	if err != nil {
		return err
	}
	if len(px.Dims) != 3 || px.Dims[0] < n {
		return fmt.Errorf("%s: want N x H x W images with N >= %d, have %v", pool, n, px.Dims)
	}
	tmp, err := os.MkdirTemp("", "flagstudy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	res := make([][]score, sets)
	fmt.Printf("| set | %s |\n|---|%s\n", names(" | "), strings.Repeat("---|", len(variants)))
	for s := range sets {
		calib := filepath.Join(tmp, fmt.Sprintf("calib%d.npy", s))
		if err := writeSubset(calib, px, n, uint64(s+1)); err != nil {
			return err
		}
		cells := make([]string, len(variants))
		var models []*compiler.Model
		for i, v := range variants {
			m, err := ptq.Quantize(ptq.Options{Model: model, QConfig: qconfig, Calib: calib, CalibLimit: n,
				Equalize: v.equalize, BiasCorrect: v.biasCorrect})
			if err != nil {
				return err
			}
			models = append(models, m)
			if j := same(models); j >= 0 {
				// -equalize dropped: the model is an earlier variant's.
				res[s] = append(res[s], res[s][j])
				cells[i] = cells[j]
				continue
			}
			_, q, err := ptq.Evaluate(ds, classes, 100, limit, func(x []float32, n int) ([]float32, error) { return compiler.Run(m, x, n, nil) }, true, nil)
			if err != nil {
				return err
			}
			sc := measure(q, flogits, labels, classes)
			res[s] = append(res[s], sc)
			cells[i] = fmt.Sprintf("%.2f (%.2f) t%d f%d %.3f", sc.top1, sc.expected, sc.ties, sc.flips, sc.mse)
		}
		fmt.Printf("| %d | %s |\n", s+1, strings.Join(cells, " | "))
	}
	fmt.Printf("\ncells: top-1 (top-1 with random tie-breaking) t<ties> f<flips without a tie> <logit MSE>\n\n")
	fmt.Printf("| mean over %d sets | %s |\n|---|%s\n", sets, names(" | "), strings.Repeat("---|", len(variants)))
	row := func(label string, f func(score) float64, diff bool, format string) {
		cells := make([]string, len(variants))
		for i := range variants {
			var xs []float64
			for s := range res {
				x := f(res[s][i])
				if diff {
					x -= f(res[s][0])
				}
				xs = append(xs, x)
			}
			mean, sd := meanSD(xs)
			cells[i] = fmt.Sprintf(format, mean, sd)
		}
		fmt.Printf("| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	row("top-1 ± sd", func(s score) float64 { return s.top1 }, false, "%.2f ± %.2f")
	row("top-1 - plain ± sd", func(s score) float64 { return s.top1 }, true, "%+.2f ± %.2f")
	row("random ties: top-1 - plain", func(s score) float64 { return s.expected }, true, "%+.2f ± %.2f")
	row("ties", func(s score) float64 { return float64(s.ties) }, false, "%.0f ± %.0f")
	row("flips without a tie", func(s score) float64 { return float64(s.flips) }, false, "%.0f ± %.0f")
	row("logit MSE", func(s score) float64 { return s.mse }, false, "%.3f ± %.3f")
	return nil
}

// same is the index of an earlier model equal to the last one, or -1.
func same(ms []*compiler.Model) int {
	last := ms[len(ms)-1]
	for j, m := range ms[:len(ms)-1] {
		if reflect.DeepEqual(m.Nodes, last.Nodes) && reflect.DeepEqual(m.Tensors, last.Tensors) {
			return j
		}
	}
	return -1
}

func names(sep string) string {
	var s []string
	for _, v := range variants {
		s = append(s, v.name)
	}
	return strings.Join(s, sep)
}

// writeSubset writes n images of px, drawn without replacement with seed, as a uint8 .npy.
func writeSubset(path string, px *data.IDX, n int, seed uint64) error {
	h, w := px.Dims[1], px.Dims[2]
	r := rand.New(rand.NewPCG(seed, 0))
	idx := r.Perm(px.Dims[0])[:n]
	out := make([]uint8, 0, n*h*w)
	for _, i := range idx {
		out = append(out, px.Data[i*h*w:(i+1)*h*w]...)
	}
	return data.WriteNpyU8(path, []int{n, h, w}, out)
}

func readLabels(ds data.Dataset, limit int) ([]int, error) {
	var labels []int
	err := data.Batches(ds, 500, limit, func(start int, _ []float32, l []int) error {
		for i, v := range l {
			if v < 0 {
				return fmt.Errorf("evaluation data: sample %d has no label", start+i)
			}
		}
		labels = append(labels, l...)
		return nil
	})
	return labels, err
}

func measure(q, f []float32, labels []int, classes int) score {
	var sc score
	for i, l := range labels {
		qs, fs := q[i*classes:(i+1)*classes], f[i*classes:(i+1)*classes]
		top, qa, fa := 0, runtime.TopK(qs, 1)[0], runtime.TopK(fs, 1)[0]
		for _, v := range qs {
			if v == qs[qa] {
				top++
			}
		}
		if qa == l {
			sc.top1++
		}
		if qs[l] == qs[qa] {
			sc.expected += 1 / float64(top)
		}
		if top > 1 {
			sc.ties++
		} else if qa != fa {
			sc.flips++
		}
		for c := range qs {
			e := float64(qs[c] - fs[c])
			sc.mse += e * e
		}
	}
	sc.top1 *= 100 / float64(len(labels))
	sc.expected *= 100 / float64(len(labels))
	sc.mse /= float64(len(labels) * classes)
	return sc
}

func meanSD(xs []float64) (float64, float64) {
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	if len(xs) < 2 {
		return mean, 0
	}
	return mean, math.Sqrt(sq / float64(len(xs)-1))
}
