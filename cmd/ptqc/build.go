package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ptqc/ptqc/build"
	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/ptq"
)

func buildCmd(args []string, stdout, stderr io.Writer) error {
	fs, q := newQuantFlags("build")
	out := fs.String("o", "", "output `directory` of the generated package")
	pkg := fs.String("pkg", "", "Go package `name` of the generated package")
	force := fs.Bool("force", false, "overwrite files in -o named like generated ones that ptqc did not generate (never the build's inputs)")
	asm := fs.Bool("asm", true, "add x86-64 assembly kernels (avx2, avx512vnni, avx512, amx) next to the portable Go ones")
	verbose := fs.Bool("v", false, "print each stage's wall and CPU seconds on stderr")
	if err := q.parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	switch {
	case q.Model == "" && q.QModel == "":
		return fmt.Errorf("build: -model is required")
	case !q.quantized():
		return fmt.Errorf("build: give -qconfig NAME -calib DATA, or -qmodel FILE")
	case *out == "":
		return fmt.Errorf("build: -o is required")
	case *pkg == "":
		return fmt.Errorf("build: -pkg is required")
	}
	// Fail before calibrating.
	if err := codegen.CheckPackageName(*pkg); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	wo := codegen.WriteOptions{Force: *force, Inputs: q.Inputs(), Log: stderr}
	if err := codegen.CheckOutputDir(*out, *pkg, codegen.FileNames(*asm), wo); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	start := time.Now()
	pages := heapPages()
	var log io.Writer = stderr
	var stage func(string)
	if *verbose {
		fmt.Fprintf(stderr, "pages: %s\n", pages)
		clock := newStageClock(stderr)
		log, stage = &logStages{s: clock, w: stderr}, clock.done
	}
	m, err := ptq.Quantize(q.withLog(log, stderr))
	if err != nil {
		return err
	}
	cmd, err := regenerate(fs, *out)
	if err != nil {
		return err
	}
	restore := backEndGC()
	p, err := build.Generate(m, *pkg, cmd, *asm, func(name string) {
		if name == "asm" {
			// The last kernels' IR is garbage once printed: collected, its
			// pages take the rest of codegen's allocations instead of fresh
			// ones (codegen renders the Go files while the kernels are
			// written).
			runtime.GC()
		}
		if stage != nil {
			stage(name)
		}
	})
	restore()
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	// An interrupt while the package is written removes the temporary files
	// (or, once the renames have started, lets them finish); before this
	// point nothing is on disk and the default handling stands.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = p.WriteDir(ctx, *out, wo)
	stop()
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if stage != nil {
		stage("write")
	}
	fmt.Fprintf(stdout, "wrote package %s to %s (%s) in %.1fs\n", p.Name, *out, strings.Join(p.Names(), ", "), time.Since(start).Seconds())
	fmt.Fprintf(stdout, "weights.bin: %d bytes (float model %d bytes, %.2fx smaller)\n", p.WeightsBytes, m.Meta.FloatBytes, float64(m.Meta.FloatBytes)/float64(p.WeightsBytes))
	fmt.Fprintf(stdout, "peak activation memory: %d bytes (one arena per worker)\n", p.ArenaBytes)
	fmt.Fprintf(stdout, "kernel tiers: %s\n", strings.Join(p.Tiers, ", "))
	return nil
}

// regenerate is the build command that gives the same package, to run from the
// package's directory: the flags that were set, in a fixed order, with paths
// relative to that directory.
func regenerate(fs *flag.FlagSet, out string) (string, error) {
	absOut, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	paths := map[string]bool{"model": true, "weights": true, "calib": true, "calib-labels": true, "qmodel": true}
	args := append(launcher(absOut), "build")
	for _, name := range []string{"model", "weights", "qconfig", "calib", "calib-labels", "calib-limit", "calib-batch", "qmodel", "equalize", "bias-correct", "asm"} {
		v, ok := set[name]
		switch {
		case !ok:
		case name == "equalize" || name == "bias-correct":
			if v == "true" {
				args = append(args, "-"+name)
			}
		case name == "asm":
			if v == "false" {
				args = append(args, "-asm=false")
			}
		case paths[name]:
			if a, err := filepath.Abs(v); err == nil {
				if r, err := filepath.Rel(absOut, a); err == nil {
					v = filepath.ToSlash(r)
				}
			}
			fallthrough
		default:
			args = append(args, "-"+name, shellQuote(v))
		}
	}
	args = append(args, "-o", ".", "-pkg", shellQuote(set["pkg"]))
	return strings.Join(args, " "), nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// launcher is the command that runs ptqc in the generated package's module:
// "go tool ptqc" where that module's go.mod has ptqc as a tool (go get -tool),
// else go run of ptqc's command package, which works in any module that
// requires ptqc.
func launcher(dir string) []string {
	const cmdPath = "github.com/ptqc/ptqc/cmd/ptqc"
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			inTool := false
			for _, l := range strings.Split(string(b), "\n") {
				f := strings.Fields(strings.SplitN(l, "//", 2)[0])
				switch {
				case len(f) == 2 && f[0] == "tool" && f[1] == "(":
					inTool = true
				case inTool && len(f) == 1 && f[0] == ")":
					inTool = false
				case len(f) == 2 && f[0] == "tool" && f[1] == cmdPath, inTool && len(f) == 1 && f[0] == cmdPath:
					return []string{"go", "tool", "ptqc"}
				}
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return []string{"go", "run", cmdPath}
}
