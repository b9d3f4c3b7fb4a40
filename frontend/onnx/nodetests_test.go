package onnx

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// TestNodeTests runs ONNX 1.12's backend node tests that
// tools/onnx_node_tests.py wrote into testdata/onnx_node (the imported ops'
// tests whose shapes ptqc's graph holds) through the import, with the
// checks on the graph's input and output lifted, and the float path: the
// reference interpreter and the fused, compiled program must give the
// test's output within 1e-5 of its largest magnitude. It logs the pass and
// skip counts per op (SKIPPED.txt gives the skips and why).
func TestNodeTests(t *testing.T) {
	dir := filepath.Join(testdata, "onnx_node")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pass, skip := map[string]int{}, map[string]int{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		m, err := ReadFile(filepath.Join(dir, name, "model.onnx"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		op := m.Proto.GetGraph().GetNode()[0].GetOpType()
		if err := runNodeTest(m, filepath.Join(dir, name)); err != nil {
			t.Errorf("%s (%s): %v", name, op, err)
			continue
		}
		pass[op]++
	}
	f, err := os.Open(filepath.Join(dir, "SKIPPED.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Split(sc.Text(), "\t"); len(fs) == 3 && !strings.HasPrefix(fs[0], "#") {
			skip[fs[1]]++
		}
	}
	var ops []string
	for op := range pass {
		ops = append(ops, op)
	}
	for op := range skip {
		if pass[op] == 0 {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	total := [2]int{}
	for _, op := range ops {
		t.Logf("%-20s pass %2d  skipped %2d", op, pass[op], skip[op])
		total[0] += pass[op]
		total[1] += skip[op]
	}
	t.Logf("%-20s pass %2d  skipped %2d", "all", total[0], total[1])
}

func readTensorPB(path string) (*tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, err
	}
	if err := checkTensor(tp, &externals{}); err != nil {
		return nil, err
	}
	return decodeTensor(tp)
}

func runNodeTest(m *Model, dir string) error {
	g, err := importGraph(m, nil, true)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	x, err := readTensorPB(filepath.Join(dir, "input_0.pb"))
	if err != nil {
		return err
	}
	want, err := readTensorPB(filepath.Join(dir, "output_0.pb"))
	if err != nil {
		return err
	}
	n := x.dims[0]
	ref, fast, err := runBoth(g, x.f, n)
	if err != nil {
		return err
	}
	scale := 1e-30
	for _, v := range want.f {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for _, r := range []struct {
		what string
		got  []float32
	}{{"reference", ref}, {"program", fast}} {
		if len(r.got) != len(want.f) {
			return fmt.Errorf("%s: %d values, want %d (%v)", r.what, len(r.got), len(want.f), want.dims)
		}
		for i, v := range r.got {
			if d := math.Abs(float64(v) - float64(want.f[i])); !(d <= 1e-5*scale) {
				return fmt.Errorf("%s: value %d is %g, want %g", r.what, i, v, want.f[i])
			}
		}
	}
	return nil
}
