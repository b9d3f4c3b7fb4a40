package runtime

import (
	"bytes"
	"sync/atomic"
	"testing"
)

func TestTeam(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		const steps = 40
		tm := NewTeam(n, steps)
		if tm.Workers() != n {
			t.Fatalf("Workers() = %d, want %d", tm.Workers(), n)
		}
		// Step s fills buf[s] from buf[s-1]: every chunk must see the whole
		// previous step, and every cell is computed exactly once.
		const cells = 37
		var buf [steps][cells]int32
		var bad atomic.Int32
		fn := func(w int) {
			for s := 0; s < steps; s++ {
				nc := tm.Chunks(cells)
				for c := tm.Claim(s, 0); c < nc; c = tm.Claim(s, c+1) {
					lo, hi := Split(cells, c, nc)
					for i := lo; i < hi; i++ {
						prev := int32(0)
						if s > 0 {
							for _, v := range buf[s-1] {
								prev += v
							}
						}
						buf[s][i] += prev + 1
					}
					tm.Done(s)
				}
				tm.Wait(s, nc)
			}
		}
		for range 3 {
			buf = [steps][cells]int32{}
			tm.Run(fn)
			want := int32(1)
			for s := 0; s < steps; s++ {
				for i, v := range buf[s] {
					if v != want {
						bad.Add(1)
						if bad.Load() < 3 {
							t.Errorf("%d workers: step %d cell %d = %d, want %d", n, s, i, v, want)
						}
					}
				}
				want = want*cells + 1
			}
		}
		if a := testing.AllocsPerRun(5, func() { tm.Run(fn) }); a != 0 {
			t.Errorf("%d workers: Run allocates %v times", n, a)
		}
		tm.Close()
	}
	// A nil Team is one worker: Claim counts for it.
	var lone *Team
	n := 0
	for c := lone.Claim(0, 0); c < lone.Chunks(10); c = lone.Claim(0, c+1) {
		n++
		lone.Done(0)
	}
	lone.Wait(0, 1)
	if n != 1 || lone.Workers() != 1 {
		t.Errorf("nil Team: %d chunks, %d workers", n, lone.Workers())
	}
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
	have := []string{TierGeneric, TierAVX2, TierAVX512VNNI, TierAVX512}
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
