//go:build ptqc224

package generated

import (
	"testing"

	"github.com/ptqc/ptqc/generated/mobilenetv2_224"
	"github.com/ptqc/ptqc/generated/resnet50_224"
	rt "github.com/ptqc/ptqc/runtime"
)

// TestForwardAllocatesNothing224 counts the heap allocations of Forward on
// the two 224 speed packages, every tier this CPU runs, one image (a layer
// split across the workers) and two (side by side), after a first call that
// sets up the workers' arenas: issue 26's "0 allocations per Forward".
func TestForwardAllocatesNothing224(t *testing.T) {
	type model interface{ Forward(out, in []float32) error }
	const in = 3 * 224 * 224
	for _, c := range []struct {
		name string
		new  func() model
	}{
		{"mobilenetv2_224", func() model { return mobilenetv2_224.New() }},
		{"resnet50_224", func() model { return resnet50_224.New() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			eachTier(t, []string{"1", "2"}, func(t *testing.T, tier, threads string) {
				if tier == rt.TierGeneric {
					t.Skip("seconds a call; the bundled package's test covers the generic tier")
				}
				for _, n := range []int{1, 2} {
					m := c.new()
					x, out := make([]float32, n*in), make([]float32, n*1000)
					if err := m.Forward(out, x); err != nil {
						t.Fatal(err)
					}
					if a := testing.AllocsPerRun(3, func() {
						if err := m.Forward(out, x); err != nil {
							t.Fatal(err)
						}
					}); a != 0 {
						t.Errorf("%d images: Forward allocates %v times a call", n, a)
					}
				}
			})
		})
	}
}
