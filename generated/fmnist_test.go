package generated

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/generated/mobilenetv2_fmnist"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
	rt "github.com/ptqc/ptqc/runtime"
)

const (
	fmnistDir = "../testdata/mobilenetv2_fmnist"
	// The Debian package dataset-fashion-mnist.
	fmnistTest = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
)

// fmnistModel quantizes the bundled model as gen.go's go:generate line does.
var fmnistModel = sync.OnceValues(func() (*compiler.Model, error) {
	return ptq.Quantize(ptq.Options{
		Model:   fmnistDir + "/model.json",
		QConfig: "fbgemm",
		Calib:   fmnistDir + "/calib_images.npy",
	})
})

func refModel(t testing.TB) *compiler.Model {
	t.Helper()
	m, err := fmnistModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loadImages returns up to limit images of path (all if 0), preprocessed as
// the generated package says, and their labels.
func loadImages(t testing.TB, path, labels string, limit int) ([]float32, []int) {
	t.Helper()
	ds, err := data.Open(path, labels, mobilenetv2_fmnist.Transform())
	if err != nil {
		t.Fatal(err)
	}
	var x []float32
	var y []int
	if err := data.Batches(ds, 500, limit, func(_ int, b []float32, l []int) error {
		x = append(x, b...)
		y = append(y, l...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return x, y
}

// forwardAll runs the generated package on every image, split across
// GOMAXPROCS Models (one per goroutine).
func forwardAll(t testing.TB, x []float32) []float32 {
	t.Helper()
	const in, nc = mobilenetv2_fmnist.InputChannels * mobilenetv2_fmnist.InputHeight * mobilenetv2_fmnist.InputWidth, mobilenetv2_fmnist.NumClasses
	n := len(x) / in
	out := make([]float32, n*nc)
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = mobilenetv2_fmnist.New().Forward(out[lo*nc:hi*nc], x[lo*in:hi*in])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func argmax(v []float32) int {
	best := 0
	for i, s := range v {
		if s > v[best] {
			best = i
		}
	}
	return best
}

// TestBitExact1000 compares the logits of the first 1,000 test images bit for
// bit, on every kernel tier this CPU runs (PTQC_ISA), with images side by side
// on the workers and, for some, one image split across them.
func TestBitExact1000(t *testing.T) {
	testenv.SkipUnlessLong(t, "1,000 images through the interpreter and every tier")
	m := refModel(t)
	const n = 1000
	if diff := cmp.Diff(ptq.Transform(m.Desc), mobilenetv2_fmnist.Transform()); diff != "" {
		t.Errorf("Transform (-interpreter's +generated):\n%s", diff)
	}
	x, labels := loadImages(t, fmnistDir+"/test_images.npy", fmnistDir+"/test_labels.npy", n)
	want, err := compiler.Run(m, x, len(labels), nil)
	if err != nil {
		t.Fatal(err)
	}
	nc := mobilenetv2_fmnist.NumClasses
	eachTier(t, nil, func(t *testing.T, tier, _ string) {
		if got, err := mobilenetv2_fmnist.New().Tier(); err != nil || got != tier {
			t.Fatalf("New runs tier %q (%v), want %s", got, err, tier)
		}
		got := forwardAll(t, x)
		// One image at a time: every layer split across the Model's workers.
		one := mobilenetv2_fmnist.New()
		for i := 0; i < 50; i++ {
			if err := one.Forward(got[i*nc:(i+1)*nc], x[i*len(x)/n:(i+1)*len(x)/n]); err != nil {
				t.Fatal(err)
			}
		}
		sameLogits(t, "", got, want, nc)
		correct := 0
		for i, l := range labels {
			if argmax(got[i*nc:(i+1)*nc]) == l {
				correct++
			}
		}
		t.Logf("%d images bit-exact; top-1 %.1f%%", len(labels), 100*float64(correct)/float64(len(labels)))
	})
}

// TestTop1All10000 compares the top-1 class of every Fashion-MNIST test image.
func TestTop1All10000(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 images through the interpreter take a while")
	}
	if _, err := os.Stat(fmnistTest); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Fashion-MNIST test set is missing: %v", err)
		}
		t.Skipf("the Fashion-MNIST test set is missing (install dataset-fashion-mnist): %v", err)
	}
	m := refModel(t)
	ds, err := data.Open(fmnistTest, "", mobilenetv2_fmnist.Transform())
	if err != nil {
		t.Fatal(err)
	}
	nc := mobilenetv2_fmnist.NumClasses
	n, diff, correct := 0, 0, 0
	if err := data.Batches(ds, 1000, 0, func(start int, x []float32, labels []int) error {
		got := forwardAll(t, x)
		want, err := compiler.Run(m, x, len(labels), nil)
		if err != nil {
			return err
		}
		for i, l := range labels {
			g, w := argmax(got[i*nc:(i+1)*nc]), argmax(want[i*nc:(i+1)*nc])
			if g != w {
				if diff < 5 {
					t.Errorf("image %d: class %d, interpreter %d", start+i, g, w)
				}
				diff++
			}
			if g == l {
				correct++
			}
		}
		n += len(labels)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 10000 {
		t.Errorf("%d test images, want 10000", n)
	}
	if diff > 0 {
		t.Errorf("%d of %d top-1 classes differ from the interpreter's", diff, n)
	}
	t.Logf("top-1 equal on %d images; accuracy %.2f%%", n, 100*float64(correct)/float64(n))
}

// goGenerateLine returns the arguments of gen.go's go:generate line that writes dir.
func goGenerateLine(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		args := strings.Fields(strings.TrimPrefix(s.Text(), "//go:generate "))
		if strings.HasPrefix(s.Text(), "//go:generate ") && strings.Contains(s.Text(), " -o "+dir+" ") {
			return args
		}
	}
	t.Fatalf("gen.go has no go:generate line writing %s", dir)
	return nil
}

// TestRegenerate runs gen.go's go:generate line for the bundled example in a
// temporary copy of its layout (so the relative paths recorded in doc.go come
// out the same) and compares every file with the checked-in package. The 224
// packages are not checked in: TestPins224 checks them against their pins.
func TestRegenerate(t *testing.T) {
	testenv.SkipUnlessLong(t, "runs ptqc build")
	const pkg = "mobilenetv2_fmnist"
	args := goGenerateLine(t, pkg)
	if len(args) < 3 || args[0] != "go" || args[1] != "run" {
		t.Fatalf("gen.go's line for %s does not start with go run: %q", pkg, args)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "ptqc")
	if out, err := exec.Command("go", "build", "-o", bin, args[2]).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", args[2], err, out)
	}
	in := filepath.Join(tmp, "testdata", pkg)
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.json", "model.safetensors", "calib_images.npy"} {
		b, err := os.ReadFile(filepath.Join(fmnistDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	work := filepath.Join(tmp, "generated")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args[3:]...)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	want, got := gentest.Files(t, pkg), gentest.Files(t, filepath.Join(work, pkg))
	if diff := cmp.Diff(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("files (-checked in +regenerated):\n%s", diff)
	}
	for name, b := range want {
		if g, ok := got[name]; ok && g != b {
			t.Errorf("%s differs from a fresh build: run go generate in generated/", name)
		}
	}
}

func TestForwardAllocatesNothing(t *testing.T) {
	m := mobilenetv2_fmnist.New()
	in := make([]float32, 2*mobilenetv2_fmnist.InputChannels*mobilenetv2_fmnist.InputHeight*mobilenetv2_fmnist.InputWidth)
	out := make([]float32, 2*mobilenetv2_fmnist.NumClasses)
	if a := testing.AllocsPerRun(5, func() {
		if err := m.Forward(out, in); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Forward allocates %v times per call", a)
	}
}

func TestForwardRejectsBadLengths(t *testing.T) {
	const in, nc = mobilenetv2_fmnist.InputChannels * mobilenetv2_fmnist.InputHeight * mobilenetv2_fmnist.InputWidth, mobilenetv2_fmnist.NumClasses
	m := mobilenetv2_fmnist.New()
	for _, c := range []struct {
		name     string
		out, in  int
		wantFail bool
	}{
		{"one image", nc, in, false},
		{"three images, room to spare", 3*nc + 1, 3 * in, false},
		{"no input", nc, 0, true},
		{"partial image", nc, in - 1, true},
		{"one and a bit", 2 * nc, in + 1, true},
		{"output too short", nc - 1, in, true},
		{"output short for two", 2*nc - 1, 2 * in, true},
	} {
		err := m.Forward(make([]float32, c.out), make([]float32, c.in))
		if (err != nil) != c.wantFail {
			t.Errorf("%s: error %v, want failure %v", c.name, err, c.wantFail)
		}
	}
	var nilModel *mobilenetv2_fmnist.Model
	if nilModel.Forward(make([]float32, nc), make([]float32, in)) == nil {
		t.Error("nil Model: no error")
	}
}

// TestModelsInGoroutines runs separate Models concurrently (run with -race).
func TestModelsInGoroutines(t *testing.T) {
	x, _ := loadImages(t, fmnistDir+"/test_images.npy", "", 8)
	want := make([]float32, 8*mobilenetv2_fmnist.NumClasses)
	if err := mobilenetv2_fmnist.New().Forward(want, x); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([][]float32, 4)
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m mobilenetv2_fmnist.Model // the zero Model works too
			got[g] = make([]float32, len(want))
			for range 3 {
				if err := m.Forward(got[g], x); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for g := range got {
		if diff := cmp.Diff(want, got[g]); diff != "" {
			t.Errorf("goroutine %d (-want +got):\n%s", g, diff)
		}
	}
}

// TestClassify checks the image helpers against Forward on the data loader's
// preprocessing of the same pixels.
func TestClassify(t *testing.T) {
	npy, err := data.ReadNpy(fmnistDir + "/test_images.npy")
	if err != nil {
		t.Fatal(err)
	}
	const n, nc = 5, mobilenetv2_fmnist.NumClasses
	x, _ := loadImages(t, fmnistDir+"/test_images.npy", "", n)
	logits := make([]float32, n*nc)
	m := mobilenetv2_fmnist.New()
	if err := m.Forward(logits, x); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		copy(img.Pix, npy.U8[i*28*28:(i+1)*28*28])
		top, err := m.Classify(img, 3)
		if err != nil {
			t.Fatal(err)
		}
		if w := rt.Top(logits[i*nc:(i+1)*nc], mobilenetv2_fmnist.Classes, 3); !cmp.Equal(top, w) {
			t.Errorf("image %d: top-3 %v, want %v", i, top, w)
		}
		if top[0].Name != mobilenetv2_fmnist.Classes[top[0].Class] || top[0].Name == "" {
			t.Errorf("image %d: best class %d named %q", i, top[0].Class, top[0].Name)
		}
	}
	if _, err := m.Classify(nil, 1); err == nil {
		t.Error("nil image: no error")
	}
	if top, err := m.Classify(image.NewGray(image.Rect(0, 0, 28, 28)), 99); err != nil || len(top) != nc {
		t.Errorf("k = 99: %v, %v; want all %d classes", top, err, nc)
	}
}

// TestClassifyJPEG checks that ClassifyJPEG classifies what runtime.DecodeJPEG
// decodes, for gray and 4:2:0 color files, and reports bad files.
func TestClassifyJPEG(t *testing.T) {
	npy, err := data.ReadNpy(fmnistDir + "/test_images.npy")
	if err != nil {
		t.Fatal(err)
	}
	m := mobilenetv2_fmnist.New()
	for i := range 3 {
		gray := image.NewGray(image.Rect(0, 0, 28, 28))
		copy(gray.Pix, npy.U8[i*28*28:(i+1)*28*28])
		color := image.NewNRGBA(gray.Rect)
		for j, v := range gray.Pix {
			copy(color.Pix[4*j:], []uint8{v, 255 - v/2, v / 3, 255})
		}
		for name, img := range map[string]image.Image{"gray": gray, "color": color} {
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
				t.Fatal(err)
			}
			dec, err := rt.DecodeJPEG(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			want, err := m.Classify(dec, 3)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.ClassifyJPEG(bytes.NewReader(buf.Bytes()), 3)
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(got, want) {
				t.Errorf("image %d %s: ClassifyJPEG %v, Classify of DecodeJPEG %v", i, name, got, want)
			}
		}
	}
	if _, err := m.ClassifyJPEG(strings.NewReader("not a jpeg"), 1); err == nil || !strings.HasPrefix(err.Error(), "mobilenetv2_fmnist: jpeg: ") {
		t.Errorf("bad file: error %v", err)
	}
}

// Benchmarks: images/s of the generated package, the int8 interpreter and the
// float interpreter on the bundled model. Run with -cpu 1 to compare one core
// each (the interpreters spread a batch over GOMAXPROCS).

func benchImages(b *testing.B, n int) []float32 {
	x, _ := loadImages(b, fmnistDir+"/test_images.npy", "", n)
	return x
}

func report(b *testing.B, n int) {
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkGenerated(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) {
			x := benchImages(b, n)
			out := make([]float32, n*mobilenetv2_fmnist.NumClasses)
			m := mobilenetv2_fmnist.New()
			for b.Loop() {
				if err := m.Forward(out, x); err != nil {
					b.Fatal(err)
				}
			}
			report(b, n)
		})
	}
}

func BenchmarkInterpreter(b *testing.B) {
	const n = 16
	x := benchImages(b, n)
	m := refModel(b)
	for b.Loop() {
		if _, err := compiler.Run(m, x, n, nil); err != nil {
			b.Fatal(err)
		}
	}
	report(b, n)
}

func BenchmarkFloat(b *testing.B) {
	const n = 16
	x := benchImages(b, n)
	_, g, err := ptq.LoadFloat(fmnistDir+"/model.json", "")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ir.Run(g, x, n, nil); err != nil {
			b.Fatal(err)
		}
	}
	report(b, n)
}

// TestISAEnv checks that PTQC_ISA picks the tier, and that one the package or
// the CPU lacks is an error from Forward (New cannot return one).
func TestISAEnv(t *testing.T) {
	const in = mobilenetv2_fmnist.InputChannels * mobilenetv2_fmnist.InputHeight * mobilenetv2_fmnist.InputWidth
	x := make([]float32, in)
	out := make([]float32, mobilenetv2_fmnist.NumClasses)
	for _, c := range []struct {
		isa  string
		ok   bool
		tier string
	}{
		{"", true, ""},
		{"generic", true, "generic"},
		{"avx2", rt.AVX2.Supported(), "avx2"},
		{"avx512vnni", rt.AVX512VNNI.Supported(), "avx512vnni"},
		{"avx512", rt.AVX512.Supported(), "avx512"},
		{"amx", rt.AMX.Supported(), "amx"}, // an error naming why where the CPU or OS says no
		{"sse9", false, ""},
	} {
		t.Setenv("PTQC_ISA", c.isa)
		m := mobilenetv2_fmnist.New()
		err := m.Forward(out, x)
		tier, terr := m.Tier()
		switch {
		case c.ok && (err != nil || terr != nil):
			t.Errorf("PTQC_ISA=%q: Forward %v, Tier %v", c.isa, err, terr)
		case !c.ok && (err == nil || terr == nil):
			t.Errorf("PTQC_ISA=%q: no error", c.isa)
		case c.ok && c.tier != "" && tier != c.tier:
			t.Errorf("PTQC_ISA=%q: tier %q", c.isa, tier)
		}
	}
}
