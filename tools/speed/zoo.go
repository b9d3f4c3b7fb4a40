package main

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ptqc/ptqc/calibrate/data"
)

// The zoo archs are built from the ONNX Runtime peer's float export
// (make_models.py: torch_speed.py's synthetic weights), so ptqc and both
// peers time the same graph with the same weights. Their packages and bench
// programs live in generated/zoo224 (ignored by git).
var zooArchs = []struct{ arch, title string }{
	{"mobilenet_v3_large", "MobileNetV3-Large-224"},
	{"efficientnet_b0", "EfficientNet-B0-224"},
	{"shufflenet_v2_x1_0", "ShuffleNetV2-x1.0-224"},
	{"googlenet", "GoogLeNet-224"},
	{"resnext50_32x4d", "ResNeXt-50-32x4d-224"},
}

func init() {
	for _, z := range zooArchs {
		v := []string{"fbgemm"} // PyTorch int8: the x86 qconfig on the onednn engine
		if z.arch == "efficientnet_b0" {
			v = []string{"float"} // no eager int8 in torchvision
		}
		models[z.arch] = model{arch: z.arch, title: z.title, variants: v, suffix: "-" + z.arch, zoo: true}
	}
}

const zooDir = "generated/zoo224"

// zooBench builds m's package from the peer's float ONNX (when the ONNX file
// or ptqc changed) and the program that times it, and returns the program's
// path.
func zooBench(python, peers, modelDir string, m model) (string, error) {
	onnx := filepath.Join(modelDir, m.arch+"_224_float.onnx")
	if _, err := os.Stat(onnx); err != nil {
		fmt.Fprintf(os.Stderr, "speed: %s missing: making the peer's models (minutes)\n", onnx)
		// make_models.py calibrates in ONNX Runtime: run.sh's onnxruntime-node.
		cache := cmp.Or(os.Getenv("ORT_PEER_CACHE"), "/tmp/ortpeer")
		env := []string{"ORT_NODE_PATH=" + filepath.Join(cache, "node_modules")}
		if _, err := run(filepath.Join(peers, "ort"), env, python, "make_models.py", "--arch", m.arch, "--out", modelDir); err != nil {
			return "", err
		}
		if _, err := os.Stat(onnx); err != nil {
			return "", fmt.Errorf("make_models.py --arch %s --out %s made no %s (its output is above)", m.arch, modelDir, filepath.Base(onnx))
		}
	}
	calib := filepath.Join(zooDir, "calib16.npy")
	if _, err := os.Stat(calib); err != nil {
		if err := writeCalib(calib); err != nil {
			return "", err
		}
	}
	pkgDir := filepath.Join(zooDir, m.arch)
	// The package is rebuilt when the model or ptqc changed: the stamp is
	// their hashes (without the VCS stamp, Go builds the same binary from
	// the same source; the go command's cache makes the rebuild per model
	// free).
	ptqcBin, err := filepath.Abs(filepath.Join(zooDir, "ptqc"))
	if err != nil {
		return "", err
	}
	if _, err := run(".", nil, "go", "build", "-buildvcs=false", "-o", ptqcBin, "./cmd/ptqc"); err != nil {
		return "", err
	}
	hm, err := fileHash(onnx)
	if err != nil {
		return "", err
	}
	hp, err := fileHash(ptqcBin)
	if err != nil {
		return "", err
	}
	stamp := hm + " " + hp
	if old, _ := os.ReadFile(filepath.Join(zooDir, m.arch+".stamp")); string(old) != stamp {
		fmt.Fprintf(os.Stderr, "speed: building %s with ptqc\n", pkgDir)
		if _, err := run(".", nil, ptqcBin, "build", "-model", onnx, "-qconfig", "fbgemm",
			"-calib", calib, "-o", pkgDir, "-pkg", m.arch); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(zooDir, m.arch+".stamp"), []byte(stamp), 0o644); err != nil {
			return "", err
		}
	}
	benchDir := filepath.Join(zooDir, m.arch+"_bench")
	if err := os.MkdirAll(benchDir, 0o755); err != nil {
		return "", err
	}
	src := strings.ReplaceAll(benchMain, "PKG", m.arch)
	if err := os.WriteFile(filepath.Join(benchDir, "main.go"), []byte(src), 0o644); err != nil {
		return "", err
	}
	bin, err := filepath.Abs(filepath.Join(zooDir, m.arch+".bench"))
	if err != nil {
		return "", err
	}
	if _, err := run(".", nil, "go", "build", "-o", bin, "./"+benchDir); err != nil {
		return "", err
	}
	return bin, nil
}

// writeCalib writes 16 seeded noise images (uint8 HWC): speed does not
// depend on the calibration data.
func writeCalib(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]uint8, 16*224*224*3)
	for i := range b {
		b[i] = uint8(r.IntN(256))
	}
	return data.WriteNpyU8(path, []int{16, 224, 224, 3}, b)
}

func fileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// ptqcZoo runs m's bench program at batch 1 on one thread and batch 16 on
// every core; the batch-1 run also prints the time per layer kind.
func ptqcZoo(bin string) ([]result, map[string]float64, error) {
	out, err := run(".", []string{"GOMAXPROCS=1"}, bin, "-batch", "1", "-iters", "200", "-kinds")
	if err != nil {
		return nil, nil, err
	}
	v, kinds, err := parseBench(out)
	if err != nil {
		return nil, nil, err
	}
	out16, err := run(".", nil, bin, "-batch", "16", "-iters", "20")
	if err != nil {
		return nil, nil, err
	}
	v16, _, err := parseBench(out16)
	if err != nil {
		return nil, nil, err
	}
	r := result{name: "ptqc (" + v.tier + ")", b1: v.median, b16: v16.imgs,
		b1Detail: fmt.Sprintf("min %.2f; allocs/call %g, %g at b16", v.min, v.allocs, v16.allocs)}
	return []result{r}, kinds, nil
}

type benchOut struct {
	tier                      string
	median, min, imgs, allocs float64
}

// parseBench reads the bench program's "key value" lines and its
// "kind <name> <us>" lines.
func parseBench(out string) (benchOut, map[string]float64, error) {
	var v benchOut
	kinds := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if f[0] == "tier" {
			v.tier = f[1]
			continue
		}
		x, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return v, nil, fmt.Errorf("bench output %q: %w", sc.Text(), err)
		}
		switch f[0] {
		case "median-ms/image":
			v.median = x
		case "min-ms/image":
			v.min = x
		case "images/s":
			v.imgs = x
		case "allocs/call":
			v.allocs = x
		case "kind":
			kinds[strings.Join(f[1:len(f)-1], " ")] = x
		}
	}
	if v.tier == "" || v.median == 0 {
		return v, nil, fmt.Errorf("no tier or median in bench output:\n%s", out)
	}
	return v, kinds, nil
}

// benchMain times a generated package: Forward on batches of -batch images,
// -iters calls, and with -kinds the mean time of each layer kind per image
// (LayerTimes).
const benchMain = `// Code generated by tools/speed. DO NOT EDIT.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	rt "runtime"
	"slices"
	"time"

	"github.com/ptqc/ptqc/generated/zoo224/PKG"
	"github.com/ptqc/ptqc/runtime"
)

func main() {
	n := flag.Int("batch", 1, "images per Forward")
	iters := flag.Int("iters", 100, "Forward calls")
	kinds := flag.Bool("kinds", false, "print the time per layer kind")
	layers := flag.Int("layers", 0, "with -kinds: the slowest layers to print to stderr")
	flag.Parse()
	m := PKG.New()
	x := make([]float32, *n*PKG.InputChannels*PKG.InputHeight*PKG.InputWidth)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	out := make([]float32, *n*PKG.NumClasses)
	if err := m.Forward(out, x); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tier, err := m.Tier()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ts := make([]time.Duration, *iters)
	var ms0, ms1 rt.MemStats
	rt.ReadMemStats(&ms0)
	start := time.Now()
	for i := range ts {
		t := time.Now()
		if err := m.Forward(out, x); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ts[i] = time.Since(t)
	}
	total := time.Since(start)
	rt.ReadMemStats(&ms1)
	slices.Sort(ts)
	fmt.Println("tier", tier)
	fmt.Println("median-ms/image", ts[len(ts)/2].Seconds()*1e3/float64(*n))
	fmt.Println("min-ms/image", ts[0].Seconds()*1e3/float64(*n))
	fmt.Println("images/s", float64(*iters**n)/total.Seconds())
	// Heap allocations a call (issue 26: none), the integer mean as
	// testing.AllocsPerRun takes it: the runtime's odd wait-queue entry for
	// a worker that blocks after a GC is not Forward's.
	fmt.Println("allocs/call", (ms1.Mallocs-ms0.Mallocs)/uint64(*iters))
	if *kinds {
		lt, err := m.LayerTimes(x[:PKG.InputChannels*PKG.InputHeight*PKG.InputWidth], 20)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sum := map[string]time.Duration{}
		for _, l := range lt {
			sum[l.Kind] += l.Time
		}
		for k, d := range sum {
			fmt.Println("kind", k, float64(d.Nanoseconds())/1e3)
		}
		slices.SortFunc(lt, func(a, b runtime.LayerTime) int { return int(b.Time - a.Time) })
		for _, l := range lt[:min(*layers, len(lt))] {
			fmt.Fprintf(os.Stderr, "%-50s %-16s %9.1f us\n", l.Layer, l.Kind, float64(l.Time.Nanoseconds())/1e3)
		}
	}
}
`

func zooNames() string {
	var s []string
	for _, z := range zooArchs {
		s = append(s, z.arch)
	}
	return strings.Join(s, ", ")
}

// fastestPeer is the peer with the lowest batch-1 latency (rs is sorted by it).
func fastestPeer(rs []result) *result {
	for i := range rs {
		if !strings.HasPrefix(rs[i].name, "ptqc") && !math.IsInf(rs[i].b1, 1) && rs[i].b1 > 0 {
			return &rs[i]
		}
	}
	return nil
}

// reportKinds prints ptqc's batch-1 time per layer kind, largest first.
func reportKinds(kinds map[string]float64, md bool) {
	var ks []string
	var total float64
	for k, us := range kinds {
		ks = append(ks, k)
		total += us
	}
	sort.Slice(ks, func(i, j int) bool { return kinds[ks[i]] > kinds[ks[j]] })
	if md {
		fmt.Println("\n| layer kind (ptqc, batch 1) | us | share |\n| --- | ---: | ---: |")
	} else {
		fmt.Println("\nptqc's batch-1 time per layer kind (LayerTimes, one image at a time):")
	}
	for _, k := range ks {
		if md {
			fmt.Printf("| %s | %.1f | %.1f%% |\n", k, kinds[k], 100*kinds[k]/total)
		} else {
			fmt.Printf("  %-16s %9.1f us %5.1f%%\n", k, kinds[k], 100*kinds[k]/total)
		}
	}
}
