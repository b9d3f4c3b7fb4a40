package gentest

import (
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/zoo"
)

// ZooModel is zoo.Graph calibrated with qconfig (zoo.Calibrated) and
// converted.
func ZooModel(tb testing.TB, qconfig string) *compiler.Model {
	tb.Helper()
	g, d, cal, _, err := zoo.Calibrated(qconfig)
	if err != nil {
		tb.Fatal(err)
	}
	return convert(tb, d, g, cal)
}
