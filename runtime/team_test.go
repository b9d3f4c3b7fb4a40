package runtime

import (
	"bytes"
	"sync/atomic"
	"testing"
)

func TestTeam(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		tm := NewTeam(n)
		if tm.Workers() != n {
			t.Fatalf("Workers() = %d, want %d", tm.Workers(), n)
		}
		// Every step's writes are visible to every worker after Sync.
		const steps = 50
		var buf [steps][8]int32
		var bad atomic.Int32
		fn := func(w int) {
			for s := 0; s < steps; s++ {
				buf[s][w] = int32(s*10 + w)
				tm.Sync()
				for v := 0; v < n; v++ {
					if buf[s][v] != int32(s*10+v) {
						bad.Add(1)
					}
				}
			}
		}
		for range 3 {
			tm.Run(fn)
		}
		if bad.Load() != 0 {
			t.Errorf("%d workers: %d stale reads after Sync", n, bad.Load())
		}
		if a := testing.AllocsPerRun(5, func() { tm.Run(fn) }); a != 0 {
			t.Errorf("%d workers: Run allocates %v times", n, a)
		}
		tm.Close()
	}
	var nilTeam *Team
	nilTeam.Sync() // a worker alone: no-op
}

func TestSplitWork(t *testing.T) {
	for _, c := range []struct{ units, cols, workers int }{
		{100, 3, 2}, {9, 80, 2}, {1, 63, 3}, {3, 1, 2}, {0, 5, 2}, {7, 7, 1},
	} {
		// Every (unit, col) is covered exactly once.
		seen := make([]int, c.units*c.cols)
		for w := 0; w < c.workers; w++ {
			s0, s1, n0, n1 := SplitWork(c.units, c.cols, w, c.workers)
			for s := s0; s < s1; s++ {
				for n := n0; n < n1; n++ {
					seen[s*c.cols+n]++
				}
			}
		}
		for i, v := range seen {
			if v != 1 {
				t.Errorf("%+v: cell %d covered %d times", c, i, v)
			}
		}
	}
}

func TestSelectTier(t *testing.T) {
	have := []string{TierGeneric, TierAVX2, TierAVX512VNNI}
	t.Setenv("PTQC_ISA", "")
	best, err := SelectTier(have)
	if err != nil || !Supported(best) {
		t.Fatalf("SelectTier = %q, %v", best, err)
	}
	for _, tier := range have {
		t.Setenv("PTQC_ISA", tier)
		got, err := SelectTier(have)
		switch {
		case Supported(tier) && (err != nil || got != tier):
			t.Errorf("PTQC_ISA=%s: %q, %v", tier, got, err)
		case !Supported(tier) && err == nil:
			t.Errorf("PTQC_ISA=%s on a CPU without it: no error", tier)
		}
	}
	t.Setenv("PTQC_ISA", "avx2")
	if _, err := SelectTier([]string{TierGeneric}); err == nil {
		t.Error("PTQC_ISA=avx2 for a package without it: no error")
	}
	t.Setenv("PTQC_ISA", "sse9")
	if _, err := SelectTier(have); err == nil {
		t.Error("PTQC_ISA=sse9: no error")
	}
}

func TestPadNHWC(t *testing.T) {
	// 2x3 image of 3 channels into stride 4 with a border of 1.
	src := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	dst := bytes.Repeat([]byte{0xEE}, 4*5*4)
	PadNHWC(dst, src, 3, 2, 3, 4, 1, 9)
	for y := 0; y < 4; y++ {
		for x := 0; x < 5; x++ {
			px := dst[(y*5+x)*4:][:4]
			want := []byte{9, 9, 9, 0xEE}
			if y >= 1 && y <= 2 && x >= 1 && x <= 3 {
				i := ((y-1)*3 + x - 1) * 3
				want = []byte{src[i], src[i+1], src[i+2], 0xEE}
			}
			if !bytes.Equal(px, want) {
				t.Errorf("(%d,%d) = %v, want %v", y, x, px, want)
			}
		}
	}
}
