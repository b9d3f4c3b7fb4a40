// Command speed times MobileNetV2-224 in one run on this machine: PyTorch int8
// (onednn and qnnpack engines, ../shared/peers/torch_speed.py), ONNX Runtime
// 1.30 float and int8 (../shared/peers/ort/run.sh) and ptqc's generated package
// (generated/mobilenetv2_224, benchmarks in generated/), taking the best of a few processes for every
// system alike, and prints a table with ratios to ptqc.
//
//	go run ./tools/speed [-repeats 3] [-peers ../shared/peers] [-md]
//
// Batch 1 runs on one thread (GOMAXPROCS=1 for ptqc), batch 16 on all cores.
// Needs /usr/bin/python3 with torch, node and npm (run.sh installs
// onnxruntime-node itself).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// result is one system's best numbers: batch-1 latency (ms) and batch-16 throughput (images/s).
type result struct {
	name     string
	b1, b16  float64
	b1Detail string
}

func main() {
	repeats := flag.Int("repeats", 3, "processes per system and setting (best kept)")
	peers := flag.String("peers", "../shared/peers", "the peers' directory")
	python := flag.String("python", "/usr/bin/python3", "python with torch 1.13")
	md := flag.Bool("md", false, "print a Markdown table")
	skip := flag.String("skip", "", "comma-separated systems to skip: torch, ort, ptqc")
	flag.Parse()
	skipped := map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		skipped[strings.TrimSpace(s)] = true
	}
	// Round robin: every system gets one process per round, so a slow spell of
	// the machine hits them alike; the best of the rounds is kept.
	var best bests
	keep := func(rs []result) {
		for _, r := range rs {
			best.add(r, r.b1 > 0, true)
		}
	}
	for round := 0; round < *repeats; round++ {
		if !skipped["ptqc"] {
			r, err := ptqc(1)
			check(err)
			keep(r)
		}
		if !skipped["ort"] {
			r, err := ort(*peers, 1)
			check(err)
			keep(r)
		}
		if !skipped["torch"] {
			r, err := torch(*python, *peers, 1)
			check(err)
			keep(r)
		}
	}
	report(best.list(), *md, *repeats)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "speed:", err)
		os.Exit(1)
	}
}

// run runs a command and returns its stdout; stderr passes through.
func run(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// ptqc builds the generated package's benchmark once and runs it repeats
// times per setting.
func ptqc(repeats int) ([]result, error) {
	dir, err := os.MkdirTemp("", "ptqc-speed")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bench.test")
	if _, err := run(".", nil, "go", "test", "-c", "-o", bin, "./generated"); err != nil {
		return nil, err
	}
	metric := func(out, unit string) (float64, error) {
		re := regexp.MustCompile(`([0-9.]+) ` + regexp.QuoteMeta(unit))
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
	r := result{b1: math.Inf(1)}
	for i := 0; i < repeats; i++ {
		out, err := run("generated", []string{"GOMAXPROCS=1"}, bin, "-test.run", "^$", "-test.bench", "^BenchmarkBatch1_224$", "-test.benchtime", "200x")
		if err != nil {
			return nil, err
		}
		if err := tierOf(out); err != nil {
			return nil, err
		}
		v, err := metric(out, "ms/image")
		if err != nil {
			return nil, err
		}
		r.b1 = min(r.b1, v)
		out, err = run("generated", nil, bin, "-test.run", "^$", "-test.bench", "^BenchmarkBatch16_224$", "-test.benchtime", "20x")
		if err != nil {
			return nil, err
		}
		if err := tierOf(out); err != nil {
			return nil, err
		}
		if v, err = metric(out, "images/s"); err != nil {
			return nil, err
		}
		r.b16 = max(r.b16, v)
	}
	r.name = "ptqc (" + tier + ")"
	return []result{r}, nil
}

// ort runs the peers' ONNX Runtime script, which keeps the best of REPEATS
// processes itself.
func ort(peers string, repeats int) ([]result, error) {
	out, err := run(filepath.Join(peers, "ort"), []string{fmt.Sprintf("REPEATS=%d", repeats), fmt.Sprintf("B16_THREADS=%d", runtime.NumCPU())}, "./run.sh")
	if err != nil {
		return nil, err
	}
	return parsePeer(out, "ort-", func(v string) string { return "ONNX Runtime " + v })
}

// torch runs torch_speed.py repeats times with one thread (batch 1) and
// with all cores (batch 16).
func torch(python, peers string, repeats int) ([]result, error) {
	var best bests
	for _, threads := range []int{1, runtime.NumCPU()} {
		for i := 0; i < repeats; i++ {
			out, err := run(peers, nil, python, "torch_speed.py", "--threads", strconv.Itoa(threads), "--iters", "30", "--variants", "onednn,qnnpack")
			if err != nil {
				return nil, err
			}
			rs, err := parsePeer(out, "torch-", func(v string) string { return "PyTorch int8 " + v })
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				best.add(r, threads == 1, threads != 1)
			}
		}
	}
	return best.list(), nil
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
		b.b1 = min(b.b1, r.b1)
	}
	if b16 {
		b.b16 = max(b.b16, r.b16)
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

func report(rs []result, md bool, repeats int) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].b1 < rs[j].b1 })
	var ref *result
	for i := range rs {
		if strings.HasPrefix(rs[i].name, "ptqc") {
			ref = &rs[i]
		}
	}
	var b bytes.Buffer
	if md {
		fmt.Fprintln(&b, "| system | batch 1, 1 thread (ms) | ptqc speed-up | batch 16, all cores (images/s) | ptqc speed-up |")
		fmt.Fprintln(&b, "| --- | ---: | ---: | ---: | ---: |")
	} else {
		fmt.Fprintf(&b, "%-26s %10s %8s %12s %8s\n", "system", "b1 ms", "x", "b16 img/s", "x")
	}
	for _, r := range rs {
		x1, x16 := "", ""
		if ref != nil {
			x1 = fmt.Sprintf("%.2f", r.b1/ref.b1)
			x16 = fmt.Sprintf("%.2f", ref.b16/r.b16)
		}
		if md {
			fmt.Fprintf(&b, "| %s | %.2f | %s | %.1f | %s |\n", r.name, r.b1, x1, r.b16, x16)
		} else {
			fmt.Fprintf(&b, "%-26s %10.2f %8s %12.1f %8s\n", r.name, r.b1, x1, r.b16, x16)
		}
	}
	cpu := "unknown CPU"
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(f); m != nil {
			cpu = string(m[1])
		}
	}
	fmt.Fprintf(&b, "\n%s, %d cores; best of %d rounds of one process per system; batch 1 is the median latency of a process (ptqc: mean), batch 16 its throughput.\n", cpu, runtime.NumCPU(), repeats)
	fmt.Fprintln(&b, "x: how many times faster ptqc is (the system's latency / ptqc's; ptqc's throughput / the system's).")
	os.Stdout.Write(b.Bytes())
}
