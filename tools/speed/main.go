// Command speed times models at 224x224 in one run on this machine: PyTorch
// int8 (../shared/peers/torch_speed.py: the onednn and qnnpack engines for
// MobileNetV2; for ResNet-50 the onednn engine with the onednn and the fbgemm
// qconfig; torchvision's quantizable variants with the fbgemm qconfig for the
// zoo, EfficientNet-B0 float), ONNX Runtime 1.30 float and int8
// (../shared/peers/ort/run.sh) and ptqc's generated package: for MobileNetV2
// and ResNet-50 generated/mobilenetv2_224 and generated/resnet50_224 (made by
// go generate ./generated when missing; benchmarks in generated/, build tag
// ptqc224), for the zoo archs a package built from the ONNX Runtime peer's
// float export (zoo.go). It takes the best of a few processes for every
// system alike, and prints a table per model with ratios to ptqc, the
// fastest peer, and for the zoo ptqc's time per layer kind.
//
//	go run ./tools/speed [-arch mobilenetv2,resnet50,googlenet,...] [-repeats 3] [-peers ../shared/peers] [-ort-models DIR] [-md]
//
// Batch 1 runs on one thread (GOMAXPROCS=1 for ptqc), batch 16 on all cores.
// A peer that fails (PyTorch's onednn engine cannot run ResNet-50 at batch 16
// on 2 threads here) gets a row saying why instead of a number.
// Needs /usr/bin/python3 with torch and torchvision, node and npm (run.sh
// installs onnxruntime-node itself).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// model is what one table times: ptqc's benchmarks and the peers' names for it.
type model struct {
	arch     string   // torch_speed.py --arch, run.sh ARCH
	pkg      string   // ptqc's package in generated/
	title    string   // the table's
	b1, b16  string   // ptqc's benchmarks in generated/
	variants []string // torch_speed.py's
	suffix   string   // the peers' label suffix
	zoo      bool     // built from the ONNX Runtime peer's float export (zoo.go)
}

var models = map[string]model{
	"mobilenetv2": {"mobilenetv2", "mobilenetv2_224", "MobileNetV2-224", "BenchmarkBatch1_224", "BenchmarkBatch16_224", []string{"onednn", "qnnpack"}, "", false},
	// fbgemm: the x86 qconfig ptqc's package was calibrated with, on the onednn engine.
	"resnet50": {"resnet50", "resnet50_224", "ResNet-50-224", "BenchmarkResNet50Batch1", "BenchmarkResNet50Batch16", []string{"onednn", "fbgemm"}, "-resnet50", false},
}

// result is one system's best numbers: batch-1 latency (ms) and batch-16
// throughput (images/s), or why a setting has none (b1 is +Inf, b16 0).
type result struct {
	name          string
	b1, b16       float64
	b1Detail      string // printed under the table
	b1Err, b16Err string
}

func main() {
	archs := flag.String("arch", "mobilenetv2", "comma-separated models to time: mobilenetv2, resnet50, "+zooNames())
	repeats := flag.Int("repeats", 3, "processes per system and setting (best kept)")
	peers := flag.String("peers", "../shared/peers", "the peers' directory")
	ortModels := flag.String("ort-models", "", "the peers' ONNX models, made there when missing (run.sh's MODELS; default $PTQC_CACHE/ortzoo or ptqc/ortzoo in the user's cache directory)")
	python := flag.String("python", "/usr/bin/python3", "python with torch 1.13")
	md := flag.Bool("md", false, "print a Markdown table")
	skip := flag.String("skip", "", "comma-separated systems to skip: torch, ort, ptqc")
	flag.Parse()
	release, err := lockMachine()
	check(err)
	defer release()
	if *ortModels == "" {
		// Not the peers' own directory: it may be read-only.
		dir, err := modelsDir()
		if err != nil {
			fmt.Fprintf(os.Stderr, "speed: %v (pass -ort-models DIR)\n", err)
			os.Exit(1)
		}
		*ortModels = dir
	}
	skipped := map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		skipped[strings.TrimSpace(s)] = true
	}
	var ms []model
	for _, a := range strings.Split(*archs, ",") {
		m, ok := models[strings.TrimSpace(a)]
		if !ok {
			check(fmt.Errorf("-arch %q: want mobilenetv2, resnet50 or one of %s", a, zooNames()))
		}
		ms = append(ms, m)
	}
	var bin string
	if !skipped["ptqc"] && slices.ContainsFunc(ms, func(m model) bool { return !m.zoo }) {
		dir, err := os.MkdirTemp("", "ptqc-speed")
		check(err)
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "bench.test")
		// The 224 packages are not checked in: go generate makes them once
		// (generated/pins224.sha256 pins their bytes).
		for _, m := range ms {
			if m.zoo {
				continue
			}
			if _, err := os.Stat(filepath.Join("generated", m.pkg, "model.go")); err != nil {
				fmt.Fprintf(os.Stderr, "speed: generated/%s missing: running go generate ./generated (minutes)\n", m.pkg)
				_, err = run(".", nil, "go", "generate", "./generated")
				check(err)
				break
			}
		}
		_, err = run(".", nil, "go", "test", "-tags", "ptqc224", "-c", "-o", bin, "./generated")
		check(err)
	}
	for i, m := range ms {
		// Round robin: every system gets one process per round, so a slow
		// spell of the machine hits them alike; the best of the rounds is kept.
		var best bests
		keep := func(rs []result) {
			for _, r := range rs {
				best.add(r, true, true)
			}
		}
		var zooBin string
		var kinds map[string]float64 // ptqc's per-kind times in its fastest batch-1 round
		if m.zoo && !skipped["ptqc"] {
			var err error
			zooBin, err = zooBench(*python, *peers, *ortModels, m)
			check(err)
		}
		fastest := math.Inf(1)
		for round := 0; round < *repeats; round++ {
			switch {
			case skipped["ptqc"]:
			case m.zoo:
				r, k, err := ptqcZoo(zooBin)
				check(err)
				if r[0].b1 < fastest {
					fastest, kinds = r[0].b1, k
				}
				keep(r)
			default:
				r, err := ptqc(bin, m)
				check(err)
				keep(r)
			}
			if !skipped["ort"] {
				keep(ort(*peers, *ortModels, m))
			}
			if !skipped["torch"] {
				keep(torch(*python, *peers, m))
			}
		}
		if i > 0 {
			fmt.Println()
		}
		report(m, best.list(), *md, *repeats)
		if kinds != nil {
			reportKinds(kinds, *md)
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "speed:", err)
		os.Exit(1)
	}
}

// run runs a command and returns its stdout; stderr passes through, and a
// command that fails gives a *runError.
func run(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
	out, err := cmd.Output()
	if err != nil {
		return "", &runError{cmd: name + " " + strings.Join(args, " "), err: err, stderr: stderr.String()}
	}
	return string(out), nil
}

type runError struct {
	cmd, stderr string
	err         error
}

func (e *runError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.cmd, e.err, lastLine(e.stderr))
}

// lastLine is the last non-empty line of s: the exception of a Python traceback.
func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(ls[len(ls)-1])
}

// failed is why a peer's process gave no number, for the notes under its
// table: the last line it wrote to stderr, else how it ended.
func failed(err error) string {
	var re *runError
	if errors.As(err, &re) {
		if l := lastLine(re.stderr); l != "" {
			return fmt.Sprintf("%s (%v)", l, re.err)
		}
		err = re.err
	}
	return err.Error()
}

// ptqc runs the test binary's benchmarks of m once per setting.
func ptqc(bin string, m model) ([]result, error) {
	metric := func(out, unit string) (float64, error) {
		re := regexp.MustCompile(`([0-9.]+) ` + regexp.QuoteMeta(unit) + `\b`)
		m := re.FindStringSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("no %q in benchmark output:\n%s", unit, out)
		}
		return strconv.ParseFloat(m[1], 64)
	}
	// The benchmarks log the kernel tier New picked (PTQC_ISA may force one).
	tierRe := regexp.MustCompile(`tier: (\S+)`)
	var tier string
	tierOf := func(out string) error {
		m := tierRe.FindStringSubmatch(out)
		switch {
		case m == nil:
			return fmt.Errorf("no kernel tier in benchmark output:\n%s", out)
		case tier != "" && m[1] != tier:
			return fmt.Errorf("the benchmarks ran on tiers %s and %s", tier, m[1])
		}
		tier = m[1]
		return nil
	}
	out, err := run("generated", []string{"GOMAXPROCS=1"}, bin, "-test.run", "^$", "-test.bench", "^"+m.b1+"$", "-test.benchtime", "200x")
	if err != nil {
		return nil, err
	}
	if err := tierOf(out); err != nil {
		return nil, err
	}
	var r result
	if r.b1, err = metric(out, "median-ms/image"); err != nil {
		return nil, err
	}
	out, err = run("generated", nil, bin, "-test.run", "^$", "-test.bench", "^"+m.b16+"$", "-test.benchtime", "20x")
	if err != nil {
		return nil, err
	}
	if err := tierOf(out); err != nil {
		return nil, err
	}
	if r.b16, err = metric(out, "images/s"); err != nil {
		return nil, err
	}
	r.name = "ptqc (" + tier + ")"
	return []result{r}, nil
}

// modelsDir is the default directory of the peers' ONNX models, made if
// missing: ortzoo in $PTQC_CACHE, else in ptqc/ under the user's cache
// directory.
func modelsDir() (string, error) {
	base := os.Getenv("PTQC_CACHE")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for the peers' models (set PTQC_CACHE): %w", err)
		}
		base = filepath.Join(c, "ptqc")
	}
	dir := filepath.Join(base, "ortzoo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("peers' models: %w", err)
	}
	return dir, nil
}

// ort runs the peers' ONNX Runtime script once (one process per setting); if
// it fails, its rows say why.
func ort(peers, modelDir string, m model) []result {
	env := []string{"REPEATS=1", fmt.Sprintf("B16_THREADS=%d", runtime.NumCPU()), "ARCH=" + m.arch}
	if modelDir != "" {
		env = append(env, "MODELS="+modelDir)
	}
	name := func(v string) string { return "ONNX Runtime " + strings.TrimSuffix(v, m.suffix) }
	out, err := run(filepath.Join(peers, "ort"), env, "./run.sh")
	if err == nil {
		var rs []result
		if rs, err = parsePeer(out, "ort-", name); err == nil {
			return rs
		}
	}
	why := failed(err)
	return []result{{name: name("float"), b1: math.Inf(1), b1Err: why, b16Err: why}, {name: name("int8"), b1: math.Inf(1), b1Err: why, b16Err: why}}
}

// torch runs torch_speed.py once per variant with one thread (batch 1) and
// once with all cores (batch 16): a variant that fails at one setting keeps
// its numbers at the other, and its row says why.
func torch(python, peers string, m model) []result {
	var best bests
	for _, threads := range []int{1, runtime.NumCPU()} {
		for _, v := range m.variants {
			name := func(v string) string { return "PyTorch int8 " + strings.TrimSuffix(v, m.suffix) }
			out, err := run(peers, nil, python, "torch_speed.py", "--arch", m.arch, "--threads", strconv.Itoa(threads), "--iters", "30", "--variants", v)
			var rs []result
			if err == nil {
				rs, err = parsePeer(out, "torch-", name)
			}
			if err != nil {
				r := result{name: name(v), b1: math.Inf(1)}
				fmt.Fprintf(os.Stderr, "speed: %v\n", err)
				if threads == 1 {
					r.b1Err = failed(err)
				} else {
					r.b16Err = failed(err)
				}
				rs = []result{r}
			}
			for _, r := range rs {
				best.add(r, threads == 1, threads != 1)
			}
		}
	}
	return best.list()
}

// bests keeps each system's best numbers (lowest batch-1 latency, highest
// batch-16 throughput), systems in the order first seen.
type bests struct {
	by    map[string]*result
	order []string
}

// add merges r's batch-1 number if b1 is set and its batch-16 one if b16 is.
func (bs *bests) add(r result, b1, b16 bool) {
	b, ok := bs.by[r.name]
	if !ok {
		if bs.by == nil {
			bs.by = map[string]*result{}
		}
		b = &result{name: r.name, b1: math.Inf(1)}
		bs.by[r.name] = b
		bs.order = append(bs.order, r.name)
	}
	if b1 {
		if r.b1 < b.b1 {
			b.b1Detail = r.b1Detail // the fastest round's
		}
		b.b1 = min(b.b1, r.b1)
		if b.b1Err == "" {
			b.b1Err = r.b1Err
		}
	}
	if b16 {
		b.b16 = max(b.b16, r.b16)
		if b.b16Err == "" {
			b.b16Err = r.b16Err
		}
	}
}

func (bs *bests) list() []result {
	var rs []result
	for _, n := range bs.order {
		rs = append(rs, *bs.by[n])
	}
	return rs
}

// parsePeer reads lines "<prefix><variant> batch1_median_ms X batch1_min_ms Y batch16_img_s Z".
func parsePeer(out, prefix string, name func(string) string) ([]result, error) {
	var rs []result
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 7 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		v := map[string]float64{}
		for i := 1; i+1 < len(f); i += 2 {
			x, err := strconv.ParseFloat(f[i+1], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", sc.Text(), err)
			}
			v[f[i]] = x
		}
		rs = append(rs, result{name: name(strings.TrimPrefix(f[0], prefix)), b1: v["batch1_median_ms"], b16: v["batch16_img_s"],
			b1Detail: fmt.Sprintf("min %.2f", v["batch1_min_ms"])})
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no %s lines in:\n%s", prefix, out)
	}
	return rs, nil
}

func report(m model, rs []result, md bool, repeats int) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].b1 < rs[j].b1 })
	var ref *result
	for i := range rs {
		if strings.HasPrefix(rs[i].name, "ptqc") {
			ref = &rs[i]
		}
	}
	var b bytes.Buffer
	// cell is a number, or a reference to the note saying why there is none
	// (a number from another round wins).
	var notes []string
	cell := func(r result, v float64, ok bool, why, setting, format string) string {
		if ok {
			return fmt.Sprintf(format, v)
		}
		if why == "" {
			why = "not measured"
		}
		notes = append(notes, fmt.Sprintf("[%d] %s, %s: %s", len(notes)+1, r.name, setting, why))
		return fmt.Sprintf("failed [%d]", len(notes))
	}
	if md {
		fmt.Fprintf(&b, "%s\n\n", m.title)
		fmt.Fprintln(&b, "| system | batch 1, 1 thread (ms) | ptqc speed-up | batch 16, all cores (images/s) | ptqc speed-up |")
		fmt.Fprintln(&b, "| --- | ---: | ---: | ---: | ---: |")
	} else {
		fmt.Fprintf(&b, "%s\n%-26s %10s %8s %12s %8s\n", m.title, "system", "b1 ms", "x", "b16 img/s", "x")
	}
	for _, r := range rs {
		ok1, ok16 := !math.IsInf(r.b1, 1) && r.b1 > 0, r.b16 > 0
		x1, x16 := "", ""
		if ref != nil && ok1 {
			x1 = fmt.Sprintf("%.2f", r.b1/ref.b1)
		}
		if ref != nil && ok16 {
			x16 = fmt.Sprintf("%.2f", ref.b16/r.b16)
		}
		c1, c16 := cell(r, r.b1, ok1, r.b1Err, "batch 1", "%.2f"), cell(r, r.b16, ok16, r.b16Err, "batch 16", "%.1f")
		if md {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.name, c1, x1, c16, x16)
		} else {
			fmt.Fprintf(&b, "%-26s %10s %8s %12s %8s\n", r.name, c1, x1, c16, x16)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, "\n%s\n", strings.Join(notes, "\n"))
	}
	var details []string
	for _, r := range rs {
		if r.b1Detail != "" {
			details = append(details, fmt.Sprintf("%s: batch 1 %s", r.name, r.b1Detail))
		}
	}
	if len(details) > 0 {
		fmt.Fprintf(&b, "\n%s\n", strings.Join(details, "\n"))
	}
	if p := fastestPeer(rs); ref != nil && p != nil {
		fmt.Fprintf(&b, "\nfastest peer at batch 1: %s, %.2f ms; ptqc / it = %.2f\n", p.name, p.b1, ref.b1/p.b1)
	}
	cpu := "unknown CPU"
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(f); m != nil {
			cpu = string(m[1])
		}
	}
	fmt.Fprintf(&b, "\n%s, %d cores; best of %d rounds of one process per system; batch 1 is the median latency of a process, batch 16 its throughput.\n", cpu, runtime.NumCPU(), repeats)
	fmt.Fprintln(&b, "x: how many times faster ptqc is (the system's latency / ptqc's; ptqc's throughput / the system's).")
	os.Stdout.Write(b.Bytes())
}
