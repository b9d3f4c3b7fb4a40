//go:build ptqc224

package generated

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/generated/resnet50_224"
	rt "github.com/ptqc/ptqc/runtime"
)

// The ResNet-50 speed model (see gen.go): torchvision's ResNet-50 at 224x224
// with synthetic weights, calibrated with fbgemm on synthetic inputs.

// r50Dir holds the inputs go generate built resnet50_224 from.
const r50Dir = "../testdata/resnet50_224"

// TestBitExactResNet50 compares the logits of one image bit for bit with the
// interpreter's on every tier this CPU runs, with 1 and 2 workers (each layer
// split across them; the generic tier with 1 only, it takes seconds). One
// image: the interpreter too takes seconds on ResNet-50; a batch of five
// (lockstepped) against the same images run alone.
func TestBitExactResNet50(t *testing.T) {
	x, want := interpreted224(t, r50Dir, 1)
	// Logits that vary across classes make bit-exactness mean something
	// (the synthetic BatchNorm statistics keep activations input-dependent).
	distinct := map[float32]bool{}
	for _, v := range want {
		distinct[v] = true
	}
	if len(distinct) < 50 {
		t.Fatalf("the interpreter's 1000 logits take %d distinct values: a degenerate model", len(distinct))
	}
	eachTier(t, []string{"1", "2"}, func(t *testing.T, tier, threads string) {
		if tier == rt.TierGeneric && threads == "2" {
			t.Skip("slow, and mobilenetv2_224 splits the generic tier's layers")
		}
		g := resnet50_224.New()
		if got, err := g.Tier(); err != nil || got != tier {
			t.Fatalf("tier %q (%v), want %s", got, err, tier)
		}
		got := make([]float32, resnet50_224.NumClasses)
		if err := g.Forward(got, x); err != nil {
			t.Fatal(err)
		}
		sameLogits(t, "", got, want, resnet50_224.NumClasses)
		if tier == rt.TierGeneric {
			return
		}
		// Five images, x among them: lockstep groups (4 on one worker, 2
		// each on two) and one alone, each image as it runs by itself.
		const n, nc = 5, resnet50_224.NumClasses
		in := make([]float32, n*len(x))
		for i := range n {
			for j, v := range x {
				in[i*len(x)+j] = v * float32(n-i) / n
			}
		}
		batch := make([]float32, n*nc)
		if err := g.Forward(batch, in); err != nil {
			t.Fatal(err)
		}
		sameLogits(t, "image 0 of a batch: ", batch[:nc], want, nc)
		for i := range n {
			if err := g.Forward(got, in[i*len(x):][:len(x)]); err != nil {
				t.Fatal(err)
			}
			sameLogits(t, fmt.Sprintf("image %d of a batch against alone: ", i), batch[i*nc:][:nc], got, nc)
		}
	})
}

// r50Kind names what a ResNet-50 layer is, finer than its kernel kind: the
// stem, the 3x3 and 1x1 convs of the blocks, the downsample convs, fc.
func r50Kind(lt rt.LayerTime) string {
	switch {
	case lt.Layer == "conv1":
		return "stem 7x7 conv"
	case strings.Contains(lt.Layer, ".downsample."):
		return "downsample 1x1"
	case lt.Layer == "fc":
		return "fc"
	case lt.Kind == "conv":
		return "3x3 conv"
	case lt.Kind == "pointwise conv":
		return "1x1 conv"
	}
	return lt.Kind
}

// TestLayerTimesResNet50 prints where the time of one image goes, per layer
// and per kind (go test ./generated -run LayerTimesResNet50 -layers [-cpu 1]):
// each layer's fastest of 30 runs, which a loaded machine disturbs less than
// the mean.
func TestLayerTimesResNet50(t *testing.T) {
	logLayerTimes(t, "resnet50_224", func() layerTimer { return resnet50_224.New() }, 30, 1, r50Kind)
}

// BenchmarkResNet50Batch1 is the latency of one image (run it with -cpu 1 for
// one core: GOMAXPROCS workers split each layer).
func BenchmarkResNet50Batch1(b *testing.B) {
	benchModel(b, resnet50_224.New(), 1, resnet50_224.NumClasses)
}

// BenchmarkResNet50Batch16 is the throughput of batches of 16 images on every core.
func BenchmarkResNet50Batch16(b *testing.B) {
	benchModel(b, resnet50_224.New(), 16, resnet50_224.NumClasses)
}
