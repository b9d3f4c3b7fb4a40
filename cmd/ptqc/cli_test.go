package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
)

// TestHelp: -h on every command prints its flags on stdout and is no error
// (main exits 0 on errHelp).
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"build", "-h"}, {"eval", "-h"}, {"inspect", "--help"}, {"report", "-h"}, {"version", "-h"}} {
		var out, errb bytes.Buffer
		err := run(args, &out, &errb)
		if err != nil && !errors.Is(err, errHelp) {
			t.Errorf("%q: %v", args, err)
		}
		if !strings.Contains(out.String(), "usage") && !strings.Contains(out.String(), "ptqc ") {
			t.Errorf("%q: stdout %q has no usage", args, out.String())
		}
		if errb.Len() > 0 {
			t.Errorf("%q: stderr %q", args, errb.String())
		}
	}
}

// TestBadFlag: a typo is one line naming the flag, the nearest valid one and
// where the rest is, with no usage dump pushing it off the screen.
func TestBadFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "-qconfg", "fbgemm"}, "build: flag provided but not defined: -qconfg (did you mean -qconfig?); 'ptqc build -h' lists the flags"},
		{[]string{"eval", "--calib-limt", "3"}, "(did you mean -calib-limit?)"},
		{[]string{"inspect", "-zzzzzz"}, "inspect: flag provided but not defined: -zzzzzz; 'ptqc inspect -h' lists the flags"},
		{[]string{"eval", "-limit", "x"}, `eval: invalid value "x" for flag -limit`},
		{[]string{"report", "stray"}, `report: unexpected argument "stray"`},
	} {
		var out, errb bytes.Buffer
		err := run(c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.args, err, c.want)
		}
		if strings.Count(err.Error(), "\n") > 0 || out.Len()+errb.Len() > 0 {
			t.Errorf("%q: more than one line: %q, stdout %q, stderr %q", c.args, err, out.String(), errb.String())
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"-version"}} {
		var out bytes.Buffer
		if err := run(args, &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		s := out.String()
		for _, want := range []string{"ptqc 0.", goruntime.Version(), "kernel tiers on this CPU: generic"} {
			if !strings.Contains(s, want) {
				t.Errorf("%q: %q lacks %q", args, s, want)
			}
		}
	}
}

// TestLauncher: doc.go's regenerate line uses go tool where the module has
// ptqc as a tool, go run elsewhere.
func TestLauncher(t *testing.T) {
	for _, c := range []struct{ gomod, want string }{
		{"module x\n\ngo 1.24\n\ntool github.com/ptqc/ptqc/cmd/ptqc\n", "go tool ptqc"},
		{"module x\n\ntool (\n\tgolang.org/x/tools/cmd/stringer\n\tgithub.com/ptqc/ptqc/cmd/ptqc // compiler\n)\n", "go tool ptqc"},
		{"module x\n\nrequire github.com/ptqc/ptqc v0.1.0\n", "go run github.com/ptqc/ptqc/cmd/ptqc"},
		{"module x\n\ntool golang.org/x/tools/cmd/stringer\n", "go run github.com/ptqc/ptqc/cmd/ptqc"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(c.gomod), 0o644); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, "pkg", "model")
		if got := strings.Join(launcher(sub), " "); got != c.want {
			t.Errorf("go.mod %q: %q, want %q", c.gomod, got, c.want)
		}
	}
}

// TestFileErrorsLabelled: every file the user names is labelled in errors.
func TestFileErrorsLabelled(t *testing.T) {
	const m = "../../testdata/mobilenetv2_fmnist"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "-model", m + "/model.json", "-data", m + "/test_images.npy", "-labels", m + "/test_labels.npy", "-qconfig", "fbgemm", "-calib", "no-calib.npy"}, "calibration data: "},
		{[]string{"eval", "-model", m + "/model.json", "-data", "no-data.npy", "-float"}, "evaluation data: "},
		{[]string{"eval", "-model", m + "/model.json", "-data", m + "/test_images.npy", "-labels", "no-labels.npy", "-float"}, "evaluation data: labels: "},
		{[]string{"eval", "-data", m + "/test_images.npy", "-qmodel", "no.ptqm"}, "quantized model: "},
		{[]string{"eval", "-model", "no-model.json", "-data", "x", "-float"}, "model description: "},
		{[]string{"eval", "-model", m + "/model.json", "-weights", "no-weights.safetensors", "-data", "x", "-float"}, "weights: "},
		{[]string{"eval", "-model", m + "/model.json", "-classes", "no-classes.txt", "-data", m + "/test_images.npy", "-labels", m + "/test_labels.npy", "-float"}, "class names no-classes.txt: "},
	} {
		err := run(c.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error starting %q", c.args, err, c.want)
		}
	}
}
