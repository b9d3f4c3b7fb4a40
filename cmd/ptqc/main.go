// Command ptqc compiles PyTorch-trained CNNs into int8 Go packages with
// post-training static quantization.
//
//	ptqc inspect -model M.json [-weights W] [-fused] [-qconfig NAME -calib DATA | -qmodel Q]
//	ptqc eval    -model M.json -data DATA [-labels Y.npy] [-limit N] [-batch B] (-float | -qconfig NAME -calib DATA | -qmodel Q) [-json] [-save-logits F]
//	ptqc build   -model M.json (-qconfig NAME -calib DATA | -qmodel Q) -o DIR -pkg NAME
//	ptqc report  -model M.json -qconfig NAME -calib DATA [-data DATA -limit N] [-json]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/frontend/onnx"
	"github.com/ptqc/ptqc/ptq"
	"github.com/ptqc/ptqc/runtime"
)

const usage = `usage: ptqc <command> [flags]

commands:
  inspect  print the model graph (float, fused, or quantized with its scales and zero points)
  eval     evaluate the float or quantized model: Acc@1, Acc@5, size
  build    generate a standalone quantized Go package
  report   per-layer quantization error report
  version  print ptqc's version, its Go version and the kernel tiers this CPU runs

Run 'ptqc <command> -h' for a command's flags.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintln(os.Stderr, "ptqc:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command")
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"inspect": inspectCmd,
		"eval":    evalCmd,
		"report":  reportCmd,
		"build":   buildCmd,
		"version": versionCmd,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		switch args[0] {
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, usage)
			return nil
		case "-version", "--version":
			return versionCmd(nil, stdout, stderr)
		}
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return withFlagHint(cmd(args[1:], stdout, stderr))
}

// withFlagHint adds to a library error the flag that is the way out, which
// the libraries do not know by name.
func withFlagHint(err error) error {
	var fv *compiler.FormatVersionError
	var nl *ptq.NoLabelError
	var se *runtime.SizeError
	switch {
	case errors.As(err, &se):
		eg := ""
		if se.Height == se.Width {
			eg = fmt.Sprintf(", such as \"preprocess\": {\"resize\": %d, \"crop\": %d}", se.Height, se.Height)
		}
		return fmt.Errorf("%w: the model description's \"preprocess\" (resize, crop, pad) says how images become the input%s (an ONNX model takes it from a JSON {\"graph\": \"model.onnx\", ...}; README, Model description)", err, eg)
	case errors.As(err, &fv):
		return fmt.Errorf("%w: re-run the build or eval with -save-qmodel to write it again", err)
	case errors.As(err, &nl):
		return fmt.Errorf("%w (give -labels)", err)
	}
	return err
}

// quantFlags are the flags that say where a quantized model comes from.
type quantFlags struct {
	ptq.Options
}

// newQuantFlags is a command's flag set, starting with the quantization
// flags.
func newQuantFlags(cmd string) (*flag.FlagSet, *quantFlags) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	q := &quantFlags{}
	q.register(fs)
	return fs, q
}

// parse parses the command's flags (parse) and checks the quantization ones.
func (q *quantFlags) parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	return q.check(fs.Name())
}

// withLog is the options with stage messages to log and progress to stderr.
func (q *quantFlags) withLog(log, stderr io.Writer) ptq.Options {
	o := q.Options
	o.Log, o.Progress = log, passProgress(stderr)
	return o
}

func (q *quantFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&q.Model, "model", "", "model: description `JSON` file, or an ONNX graph (.onnx, or a JSON with \"graph\" naming one)")
	fs.StringVar(&q.Weights, "weights", "", "weights `file`: torch.save .pth/.pt or safetensors (default: the description's \"weights\")")
	fs.StringVar(&q.QConfig, "qconfig", "", "quantization config `name`: "+strings.Join(qconfigNames(), ", "))
	fs.StringVar(&q.Calib, "calib", "", "calibration `data`: ImageFolder directory, .npy, or IDX images file")
	fs.StringVar(&q.CalibLabels, "calib-labels", "", "labels `.npy` for -calib (optional)")
	fs.IntVar(&q.CalibLimit, "calib-limit", 0, fmt.Sprintf("calibration `samples`, an error if the data has fewer (default: the first %d, or all if fewer)", ptq.DefaultCalibLimit))
	fs.IntVar(&q.CalibBatch, "calib-batch", 30, "calibration batch `size` (observers see one batch per forward call)")
	fs.StringVar(&q.Classes, "classes", "", "class names `file`, one a line (default: the description's \"classes\")")
	fs.StringVar(&q.QModel, "qmodel", "", "load a saved quantized model `file` instead of calibrating")
	fs.BoolVar(&q.Equalize, "equalize", false, "cross-layer equalization before calibration, kept if it brings the int8 output closer to the float one on the calibration images")
	fs.BoolVar(&q.BiasCorrect, "bias-correct", false, "sequential bias correction after conversion")
	fs.IntVar(&data.MaxImagePixels, "max-image-pixels", data.DefaultMaxImagePixels, "refuse ImageFolder images of more than `N` pixels, from their header, before decoding them")
}

// check says which flag is missing or misplaced, before the library sees
// the options (its errors speak of models and data, not flags).
func (q *quantFlags) check(cmd string) error {
	switch {
	case q.quantized() && q.QModel == "" && (q.QConfig == "" || q.Calib == ""):
		return fmt.Errorf("%s: quantization needs -qconfig and -calib (or -qmodel)", cmd)
	case q.Weights != "" && q.Model != "" && onnx.IsModel(q.Model):
		return fmt.Errorf("%s: -weights does not apply to an ONNX model (%s): its weights are in the graph", cmd, q.Model)
	}
	return nil
}

// quantized reports whether the flags ask for a quantized model.
func (q *quantFlags) quantized() bool { return q.QConfig != "" || q.Calib != "" || q.QModel != "" }

// errHelp is a -h the user asked for: usage printed, exit status 0.
var errHelp = errors.New("help requested")

// parse parses a command's flags. -h prints the flags on stdout; a bad flag is
// one line naming it, the nearest valid flag and where the rest is.
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "usage: ptqc %s [flags]\n\nflags:\n", fs.Name())
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return errHelp
		}
		msg := err.Error()
		if name := badFlag(msg); name != "" {
			if near := nearestFlag(fs, name); near != "" {
				msg += fmt.Sprintf(" (did you mean -%s?)", near)
			}
		}
		return fmt.Errorf("%s: %s; 'ptqc %s -h' lists the flags", fs.Name(), msg, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q; 'ptqc %s -h' lists the flags", fs.Name(), fs.Arg(0), fs.Name())
	}
	return checkCounts(fs)
}

// countFlags are the integer flags with a lower bound: a negative limit
// once silently meant "all", a zero batch silently became 30.
var countFlags = []struct {
	name string
	min  int
	what string
}{
	{"limit", 0, "0 (all) or more"},
	{"calib-limit", 0, "0 (the default count) or more"},
	{"batch", 1, "positive"},
	{"calib-batch", 1, "positive"},
	{"max-image-pixels", 1, "positive"},
}

// checkCounts refuses a count flag of fs below its bound, naming the flag.
func checkCounts(fs *flag.FlagSet) error {
	for _, c := range countFlags {
		f := fs.Lookup(c.name)
		if f == nil {
			continue
		}
		if g, ok := f.Value.(flag.Getter); ok {
			if v, ok := g.Get().(int); ok && v < c.min {
				return fmt.Errorf("%s: -%s %d: must be %s", fs.Name(), c.name, v, c.what)
			}
		}
	}
	return nil
}

// badFlag is the flag an error of flag.Parse names as undefined, or "".
func badFlag(msg string) string {
	const undefined = "flag provided but not defined: -"
	if i := strings.Index(msg, undefined); i >= 0 {
		return strings.TrimLeft(msg[i+len(undefined):], "-")
	}
	return ""
}

// nearestFlag is fs's flag closest to name in edit distance, if close enough
// to be a typo of it (at most a third of its letters off).
func nearestFlag(fs *flag.FlagSet, name string) string {
	best, bestD := "", len(name)/3+1
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestD || d == bestD && best != "" && f.Name < best {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// progress draws a one-line counter on stderr when it is a terminal.
func progress(stderr io.Writer, label string) func(done, total int) {
	p := passProgress(stderr)
	if p == nil {
		return nil
	}
	return func(done, total int) { p(label, done, total) }
}

// passProgress returns a progress line on a terminal stderr (nil elsewhere)
// for passes over samples, named by pass: once a pass has run for a second,
// the samples done, the rate and the time left, erased when it ends.
func passProgress(stderr io.Writer) func(pass string, done, total int) {
	f, ok := stderr.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	var cur string
	var start time.Time
	shown := false
	return func(pass string, done, total int) {
		if pass != cur {
			cur, start, shown = pass, time.Now(), false
		}
		el := time.Since(start)
		if done >= total {
			if shown {
				fmt.Fprint(f, "\r\033[K")
			}
			cur = "" // a pass of the same name may follow
			return
		}
		if el < time.Second || done == 0 {
			return
		}
		shown = true
		rate := float64(done) / el.Seconds()
		left := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(f, "\r\033[K%s %d/%d images, %.1f images/s, %v left", pass, done, total, rate, left)
	}
}
