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
	have := []string{TierGeneric, AVX2.Name, AVX512VNNI.Name, AVX512.Name}
	t.Setenv("PTQC_ISA", "")
	best, err := SelectTier(have)
	if err != nil || !TierNamed(best).Supported() {
		t.Fatalf("SelectTier = %q, %v", best, err)
	}
	for _, tier := range have {
		t.Setenv("PTQC_ISA", tier)
		got, err := SelectTier(have)
		switch supported := TierNamed(tier).Supported(); {
		case supported && (err != nil || got != tier):
			t.Errorf("PTQC_ISA=%s: %q, %v", tier, got, err)
		case !supported && err == nil:
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

func TestForcedTier(t *testing.T) {
	for _, c := range []struct {
		env     string
		want    *Tier
		float   *Tier
		wantErr bool
	}{
		{"", nil, nil, false},
		{"generic", Generic, Generic, false},
		{"avx2", AVX2, AVX2, false},
		{"avx512vnni", AVX512VNNI, AVX512, false},
		{"avx512", AVX512, AVX512, false},
		{"amx", AMX, AVX512, false},
		{"AVX2", nil, nil, true},
		{"sse9", nil, nil, true},
	} {
		t.Setenv("PTQC_ISA", c.env)
		got, err := ForcedTier()
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("PTQC_ISA=%q: %v, %v; want %v (error %v)", c.env, got, err, c.want, c.wantErr)
		}
		if got != nil && got.FloatTier() != c.float {
			t.Errorf("PTQC_ISA=%q: float tier %s, want %s", c.env, got.FloatTier().Name, c.float.Name)
		}
	}
}

// TestTierTable checks the table's invariants: names unique, the portable
// tier first, each tier's requirements implied by the next one's, and an amx
// tier's design that of its base.
func TestTierTable(t *testing.T) {
	seen := map[string]bool{}
	for i, tier := range Tiers {
		if seen[tier.Name] || TierNamed(tier.Name) != tier {
			t.Errorf("tier %q: name not unique", tier.Name)
		}
		seen[tier.Name] = true
		if i > 0 && tier.Supported() && !Tiers[i-1].Supported() {
			t.Errorf("this CPU runs %s but not %s", tier.Name, Tiers[i-1].Name)
		}
		if b := tier.Base; tier.AMX && (b == nil || b.Lanes != tier.Lanes || b.VNNI != tier.VNNI || b.ZMM != tier.ZMM) {
			t.Errorf("tier %s: design differs from its base", tier.Name)
		}
	}
	if Tiers[0] != Generic || !Generic.Supported() {
		t.Error("the generic tier must come first and run everywhere")
	}
}

func TestPadNHWC(t *testing.T) {
	// Pixel stride 4 for 3 channels (channel 3 left alone) and 4 for 4 (whole
	// rows copied at once), with borders 0, 1 and 2.
	for _, c := range []struct{ c, h, w, stride, border int }{
		{3, 2, 3, 4, 1}, {3, 2, 3, 4, 0}, {4, 2, 3, 4, 1}, {4, 3, 2, 4, 2}, {4, 2, 3, 4, 0}, {8, 1, 1, 8, 1},
	} {
		src := make([]byte, c.c*c.h*c.w)
		for i := range src {
			src[i] = byte(i + 1)
		}
		wp, hp := c.w+2*c.border, c.h+2*c.border
		dst := bytes.Repeat([]byte{0xEE}, wp*hp*c.stride)
		PadNHWC(dst, src, c.c, c.h, c.w, c.stride, c.border, 9)
		for y := range hp {
			for x := range wp {
				px := dst[(y*wp+x)*c.stride:][:c.stride]
				want := bytes.Repeat([]byte{0xEE}, c.stride)
				for ch := range c.c {
					want[ch] = 9
					if iy, ix := y-c.border, x-c.border; iy >= 0 && iy < c.h && ix >= 0 && ix < c.w {
						want[ch] = src[(iy*c.w+ix)*c.c+ch]
					}
				}
				if !bytes.Equal(px, want) {
					t.Errorf("%+v: (%d,%d) = %v, want %v", c, y, x, px, want)
				}
			}
		}
	}
}
