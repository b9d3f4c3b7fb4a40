package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ptq"
	"github.com/ptqc/ptqc/runtime"
)

// asPTQC makes the test binary run as ptqc itself (the kill test's builds).
const asPTQC = "PTQC_TEST_RUN_AS_PTQC"

func TestMain(m *testing.M) {
	if os.Getenv(asPTQC) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const fmnistDir = "../../testdata/mobilenetv2_fmnist"

// module is a throwaway downstream module that requires this checkout as
// ptqc, set up the way README says; go runs the go command in it.
type module struct {
	t    *testing.T
	dir  string
	root string // this checkout
}

// newModule runs README's steps in a temporary directory: go mod init, go mod
// edit -require -replace -tool, go mod tidy. With the checkout's go.sum and
// GOPROXY=off it needs nothing beyond the module cache (the checkout's own
// dependencies, which building it put there).
func newModule(t *testing.T) *module {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	m := &module{t: t, dir: t.TempDir(), root: root}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	m.write("go.sum", sum)
	m.goCmd("", "mod", "init", "example.com/app")
	m.goCmd("", "mod", "edit", "-require=github.com/ptqc/ptqc@v0.0.0", "-replace=github.com/ptqc/ptqc="+root, "-tool=github.com/ptqc/ptqc/cmd/ptqc")
	m.goCmd("", "mod", "tidy")
	return m
}

func (m *module) path(name string) string { return filepath.Join(m.dir, filepath.FromSlash(name)) }

func (m *module) write(name string, b []byte) {
	m.t.Helper()
	if err := os.MkdirAll(filepath.Dir(m.path(name)), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(m.path(name), b, 0o644); err != nil {
		m.t.Fatal(err)
	}
}

func (m *module) env() []string {
	return append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod")
}

// goCmd runs the go command in the module's directory sub and returns its output.
func (m *module) goCmd(sub string, args ...string) string {
	m.t.Helper()
	out, err := m.tryGo(sub, args...)
	if err != nil {
		m.t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (m *module) tryGo(sub string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = m.path(sub)
	cmd.Env = m.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDownstream plays a new user of ptqc: a module of its own that adds ptqc
// as a tool, keeps the model in the package that uses it and generates into
// that package (-o .), with and without -force; then runs a main that
// classifies test images. The user's files stay byte-identical.
func TestDownstream(t *testing.T) {
	testenv.SkipUnlessLong(t, "builds a downstream module with go generate and go run")
	if _, err := os.Stat(filepath.Join(fmnistDir, "model.safetensors")); err != nil {
		t.Skipf("the bundled model is missing: %v", err)
	}
	m := newModule(t)
	for _, name := range []string{"model.json", "model.safetensors", "calib_images.npy"} {
		b, err := os.ReadFile(filepath.Join(fmnistDir, name))
		if err != nil {
			t.Fatal(err)
		}
		m.write("fashion/"+name, b)
	}
	const line = "go tool ptqc build -model model.json -qconfig x86 -calib calib_images.npy -o . -pkg fashion"
	m.write("fashion/gen.go", []byte("// Package fashion classifies Fashion-MNIST images.\npackage fashion\n\n//go:generate "+line+"\n"))
	m.write("fashion/labels.go", []byte("package fashion\n\n// Labels name the classes.\nvar Labels = []string{\"T-shirt/top\", \"Trouser\", \"Pullover\", \"Dress\", \"Coat\", \"Sandal\", \"Shirt\", \"Sneaker\", \"Bag\", \"Ankle boot\"}\n"))
	m.write("main.go", []byte(downstreamApp))
	user := gentest.Files(t, m.path("fashion"))

	// Five test images as PNG files, and what the interpreter says of them.
	npy, err := data.ReadNpy(filepath.Join(fmnistDir, "test_images.npy"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	var pngs []string
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		copy(img.Pix, npy.U8[i*28*28:])
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("img%d.png", i)
		m.write(name, b.Bytes())
		pngs = append(pngs, name)
	}
	q, err := ptq.Quantize(ptq.Options{Model: filepath.Join(fmnistDir, "model.json"), QConfig: "x86", Calib: filepath.Join(fmnistDir, "calib_images.npy")})
	if err != nil {
		t.Fatal(err)
	}
	logits, err := compiler.Run(q, gentest.TestImages(t, q, n), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("%s %s", pngs[i], runtime.Top(logits[i*10:(i+1)*10], q.Desc.Classes, 1)[0]))
	}

	check := func(what string) {
		t.Helper()
		got := gentest.Files(t, m.path("fashion"))
		for name, s := range user {
			if got[name] != s {
				t.Errorf("%s: the user's %s changed or disappeared", what, name)
			}
		}
		for _, name := range codegen.FileNames(true) {
			if ok, err := codegen.Generated(m.path("fashion/" + name)); !ok || err != nil {
				t.Errorf("%s: fashion/%s not generated (%v)", what, name, err)
			}
		}
		if len(got) != len(user)+len(codegen.FileNames(true)) {
			t.Errorf("%s: fashion/ holds %d files, want %d", what, len(got), len(user)+len(codegen.FileNames(true)))
		}
		// doc.go records the go tool form: ptqc is a tool of this module.
		if doc := got["doc.go"]; !strings.Contains(doc, "\n//\t"+line+"\n") {
			t.Errorf("%s: doc.go does not record %q", what, line)
		}
		out := m.goCmd("", append([]string{"run", "."}, pngs...)...)
		classes := strings.Split(strings.TrimSpace(out), "\n")
		if diff := cmp.Diff(want, classes); diff != "" {
			t.Errorf("%s: classes (-interpreter +downstream app):\n%s", what, diff)
		}
	}
	m.goCmd("", "generate", "./...")
	check("go generate")
	if out, err := m.tryGo("", "run", "."); err == nil || !strings.Contains(out, "usage: app IMAGE") {
		t.Errorf("the app without an argument: %v\n%s", err, out)
	}
	built := gentest.Files(t, m.path("fashion"))
	m.goCmd("fashion", append(strings.Fields(line)[1:], "-force")...)
	check("-force")
	if diff := cmp.Diff(built, gentest.Files(t, m.path("fashion"))); diff != "" {
		t.Errorf("a rebuild changed the directory (-first +second):\n%s", diff)
	}
}

// TestBuildKilled kills ptqc build (SIGKILL) at random moments while it writes
// a package over an older build, next to the user's files and the build's
// inputs. Afterwards the user's files are intact, every generated file is its
// old or its new version, no temporary file is left, and the next build
// repairs the directory; where the kill left old and new files mixed, the
// package fails to build or New reports it (checked by compiling a few such
// states, and always for the mixes the loop cannot be relied on to hit).
func TestBuildKilled(t *testing.T) {
	testenv.SkipUnlessLong(t, "kills 40 builds")
	m := newModule(t)
	dir := m.path("net")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	model, x, _ := tinyModel(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "net.go"), []byte("package net\n\n// Greeting is the user's.\nconst Greeting = \"hello\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.write("main.go", []byte(`package main

import (
	"fmt"
	"os"

	"example.com/app/net"
)

func main() {
	m := net.New()
	out := make([]float32, net.NumClasses)
	if err := m.Forward(out, make([]float32, net.InputChannels*net.InputHeight*net.InputWidth)); err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	fmt.Println(net.Greeting, out)
}
`))
	user := gentest.Files(t, dir)
	// Old: with assembly; new: another qconfig, no assembly (four files fewer).
	oldQ, newQ := filepath.Join(t.TempDir(), "old.ptqm"), filepath.Join(t.TempDir(), "new.ptqm")
	for _, c := range []struct{ qconfig, path string }{{"fbgemm", oldQ}, {"onednn", newQ}} {
		q, err := ptq.Quantize(ptq.Options{Model: model, QConfig: c.qconfig, Calib: x})
		if err != nil {
			t.Fatal(err)
		}
		if err := compiler.WriteModel(c.path, q); err != nil {
			t.Fatal(err)
		}
	}
	oldArgs := []string{"build", "-qmodel", oldQ, "-o", dir, "-pkg", "net"}
	newArgs := []string{"build", "-qmodel", newQ, "-asm=false", "-o", dir, "-pkg", "net"}
	generated := func(files map[string]string) map[string]string {
		g := map[string]string{}
		for name, s := range files {
			if _, ok := user[name]; !ok {
				g[name] = s
			}
		}
		return g
	}
	build := func(args []string) map[string]string {
		t.Helper()
		if _, _, err := ptqc(args...); err != nil {
			t.Fatal(err)
		}
		return generated(gentest.Files(t, dir))
	}
	newFiles := build(newArgs)
	oldFiles := build(oldArgs)
	if len(oldFiles) != 8 || len(newFiles) != 4 {
		t.Fatalf("%d old and %d new files, want 8 and 4", len(oldFiles), len(newFiles))
	}
	// Every Go file records its build's id, weights.bin the hash of its
	// bytes that model.go expects.
	oldIDs, newIDs := buildIDs(oldFiles), buildIDs(newFiles)
	for _, ids := range []map[string]string{oldIDs, newIDs} {
		for name, id := range ids {
			if name != "weights.bin" && name != "weightsID" && id != ids["model.go"] {
				t.Errorf("build ids %v: want one id in every Go file", ids)
				break
			}
		}
		if ids["weights.bin"] != ids["weightsID"] || ids["weights.bin"] == ids["model.go"] {
			t.Errorf("build ids %v: want weights.bin's id in model.go's weightsID, not the build id", ids)
		}
	}
	if len(oldIDs) != 9 || len(newIDs) != 5 || oldIDs["model.go"] == newIDs["model.go"] || oldIDs["weights.bin"] == newIDs["weights.bin"] {
		t.Errorf("build ids: old %v, new %v", oldIDs, newIDs)
	}
	restoreOld := func() {
		t.Helper()
		for name := range newFiles {
			os.Remove(filepath.Join(dir, name))
		}
		for name, s := range oldFiles {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// runs reports whether the package as it is builds and runs (New accepts it).
	runs := func() (bool, string) {
		t.Helper()
		if out, err := m.tryGo("", "build", "-o", filepath.Join(t.TempDir(), "app"), "."); err != nil {
			return false, "does not build: " + out
		}
		out, err := m.tryGo("", "run", ".")
		return err == nil, out
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], newArgs...)
		cmd.Env = append(os.Environ(), asPTQC+"=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// How long a build takes: kills land anywhere in it, writing included.
	t0 := time.Now()
	if err := start().Wait(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	if diff := cmp.Diff(newFiles, generated(gentest.Files(t, dir))); diff != "" {
		t.Fatalf("ptqc build as a process wrote other files (-in process +process):\n%s", diff)
	}

	iters := 40
	if testing.Short() {
		iters = 10
	}
	counts := map[string]int{}
	compiled := map[string]bool{}
	for i := range iters {
		restoreOld()
		delay := time.Duration(rand.Int64N(int64(took) * 11 / 10))
		cmd := start()
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// A kill between naming a file and renaming it leaves the name to
		// the guard process that outlives the build (codegen's guard).
		for wait := 0; wait < 100; wait++ {
			if left, _ := filepath.Glob(filepath.Join(dir, ".ptqc-tmp-*")); len(left) == 0 {
				break
			}
			if wait == 0 {
				counts["temporary file, removed by the guard"]++
			}
			time.Sleep(50 * time.Millisecond)
		}

		files := gentest.Files(t, dir)
		var fromNew []string
		state := "old"
		for name, s := range files {
			_, isUser := user[name]
			switch {
			case isUser:
				if s != user[name] {
					t.Fatalf("kill %d after %v: the user's %s changed", i, delay, name)
				}
			case s == newFiles[name] && s != oldFiles[name]:
				fromNew = append(fromNew, name)
			case s == oldFiles[name]:
			default:
				var like []string
				for n, f := range newFiles {
					if f == s {
						like = append(like, n)
					}
				}
				t.Fatalf("kill %d after %v: %s (%d bytes, new %v) is neither ptqc's nor the user's, nor an old or new generated file", i, delay, name, len(s), like)
			}
		}
		for name := range user {
			if _, ok := files[name]; !ok {
				t.Fatalf("kill %d after %v: the user's %s is gone", i, delay, name)
			}
		}
		for name := range newFiles {
			if _, ok := files[name]; !ok {
				t.Fatalf("kill %d after %v: %s is missing", i, delay, name)
			}
		}
		slices.Sort(fromNew)
		switch {
		case len(fromNew) == 0:
		case len(fromNew) == len(newFiles) && len(files) == len(user)+len(newFiles):
			state = "new"
		default:
			state = "mixed " + strings.Join(fromNew, ",")
			if len(files) == len(user)+len(newFiles) {
				state += " (stale files removed)"
			}
		}
		counts[state]++
		if strings.HasPrefix(state, "mixed") && len(compiled) < 3 && !compiled[state] {
			compiled[state] = true
			if ok, out := runs(); ok {
				t.Errorf("kill %d after %v left %s, and the package runs:\n%s", i, delay, state, out)
			} else {
				t.Logf("%s: %s", state, firstLine(out))
			}
		}
		// The next build repairs it.
		if diff := cmp.Diff(newFiles, build(newArgs)); diff != "" {
			t.Fatalf("kill %d: the next build left (-want +got):\n%s", i, diff)
		}
	}
	t.Logf("build time %v; states after %d kills: %v", took, iters, counts)

	// Mixes the kills may not have hit: one file of the new build among the
	// old ones (the same length of weights.bin, the same layers), and the new
	// build with the old assembly files left as a kill between two removals
	// leaves them (WriteDir removes them in reverse name order).
	type mix struct {
		name string
		mix  func()
		want string
	}
	var stale []mix
	for i, name := range slices.Backward(slices.Sorted(maps.Keys(oldFiles))) {
		if _, ok := newFiles[name]; ok {
			continue
		}
		left := slices.DeleteFunc(slices.Sorted(maps.Keys(oldFiles))[:i+1], func(n string) bool { _, ok := newFiles[n]; return ok })
		stale = append(stale, mix{"new files, old " + strings.Join(left, ","), func() {
			build(newArgs)
			for _, n := range left {
				os.WriteFile(filepath.Join(dir, n), []byte(oldFiles[n]), 0o644)
			}
		}, "does not build"})
	}
	if len(stale) != 4 {
		t.Fatalf("%d stale mixes, want 4", len(stale))
	}
	for _, c := range append([]mix{
		{"old files, new weights.bin", func() {
			restoreOld()
			os.WriteFile(filepath.Join(dir, "weights.bin"), []byte(newFiles["weights.bin"]), 0o644)
		}, "weights.bin holds the weights"},
		{"old files, new kernels.go", func() {
			restoreOld()
			os.WriteFile(filepath.Join(dir, "kernels.go"), []byte(newFiles["kernels.go"]), 0o644)
		}, ""},
	}, stale...) {
		c.mix()
		ok, out := runs()
		if ok || !strings.Contains(out, c.want) {
			t.Errorf("%s: runs %v, output %q, want a failure saying %q", c.name, ok, out, c.want)
		}
	}
	if diff := cmp.Diff(newFiles, build(newArgs)); diff != "" {
		t.Fatalf("the repairing build left (-want +got):\n%s", diff)
	}
	if ok, out := runs(); !ok || !strings.HasPrefix(out, "hello [") {
		t.Errorf("the repaired package: runs %v, output %q", ok, out)
	}
	after := gentest.Files(t, dir)
	for name, s := range user {
		if after[name] != s {
			t.Errorf("the user's %s changed", name)
		}
	}
}

// buildIDs are the build ids a package's files record, and model.go's weightsID.
func buildIDs(files map[string]string) map[string]string {
	ids := map[string]string{}
	re := regexp.MustCompile(`(?:Build uint64 = |buildID uint64 = |TEXT ·asmBuild\(SB\), NOSPLIT, \$0-8\n\tMOVQ \$)0x([0-9a-f]{16})`)
	for name, s := range files {
		if name == "weights.bin" && len(s) >= 64 {
			ids[name] = fmt.Sprintf("%016x", binary.LittleEndian.Uint64([]byte(s[56:64])))
		} else if m := re.FindStringSubmatch(s); m != nil {
			ids[name] = m[1]
		}
		if m := regexp.MustCompile(`weightsID uint64 = 0x([0-9a-f]{16})`).FindStringSubmatch(s); m != nil {
			ids["weightsID"] = m[1]
		}
	}
	return ids
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// downstreamApp is the README's app, word for word (TestReadmeApp checks it).
const downstreamApp = `package main

import (
	"fmt"
	"image"
	_ "image/png"
	"log"
	"os"
	"path/filepath"
	"strings"

	"example.com/app/fashion"
	"github.com/ptqc/ptqc/runtime"
)

var model = fashion.New() // safe for concurrent use; Forward allocates nothing

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: app IMAGE.png|IMAGE.jpg ...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		var top []runtime.Prediction
		if ext := strings.ToLower(filepath.Ext(path)); ext == ".jpg" || ext == ".jpeg" {
			top, err = model.ClassifyJPEG(f, 1) // decoded as PIL decodes it
		} else {
			var img image.Image
			if img, _, err = image.Decode(f); err == nil {
				top, err = model.Classify(img, 1)
			}
		}
		f.Close()
		if err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		fmt.Println(path, top[0]) // "shirt.png Shirt 0.87"
	}
}
`
