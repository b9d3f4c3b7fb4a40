package main

import (
	"fmt"
	"io"
	goruntime "runtime"
	"strings"

	"github.com/ptqc/ptqc/compiler"
	rt "github.com/ptqc/ptqc/runtime"
)

// versionCmd prints ptqc's version, the Go toolchain that built it and the
// int8 kernel tiers this CPU (and OS) can run, best last.
func versionCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
		return fmt.Errorf("version: unexpected argument %q", args[0])
	}
	var tiers []string
	for _, t := range rt.Tiers {
		if t.Supported() {
			tiers = append(tiers, t.Name)
		}
	}
	fmt.Fprintf(stdout, "ptqc %s (%s %s/%s)\nkernel tiers on this CPU: %s\n",
		compiler.Version, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH, strings.Join(tiers, ", "))
	return nil
}
