package runtime

import (
	"os"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Threads is the number of goroutines a Model uses: PTQC_THREADS when it is a
// positive number, else GOMAXPROCS.
func Threads() int {
	if n, err := strconv.Atoi(os.Getenv("PTQC_THREADS")); err == nil && n > 0 {
		return n
	}
	return goruntime.GOMAXPROCS(0)
}

// LayerTime is one layer's share of a profiled run.
type LayerTime struct {
	Layer string        // the PyTorch module path
	Kind  string        // kernel kind
	Time  time.Duration // mean wall time per image
}

// Split returns worker w's share [lo, hi) of n units among workers.
func Split(n, w, workers int) (lo, hi int) {
	return n * w / workers, n * (w + 1) / workers
}

// Team is a set of goroutines that run one function together: Run calls
// fn(0) on the caller's goroutine and fn(1) ... fn(n-1) on helpers that live
// as long as the Team. Inside fn the workers go through numbered steps (the
// layers of a network), each cut into chunks that any worker may Claim: a
// worker that the OS holds back (the cores are shared) then delays only the
// chunk it holds, not every step, as a barrier would. Run allocates nothing.
// Close (or the Team becoming unreachable) stops the helpers. A nil Team is
// one worker running alone.
type Team struct{ *team }

type team struct {
	n     int
	fn    func(int)
	start []chan struct{}
	done  sync.WaitGroup
	// Per step: chunks claimed and chunks done in this Run.
	claimed, finished []atomic.Int32
}

// NewTeam returns a Team of n workers (n >= 1) for functions of up to steps steps.
func NewTeam(n, steps int) *Team {
	t := &team{n: max(n, 1), claimed: make([]atomic.Int32, steps), finished: make([]atomic.Int32, steps)}
	for w := 1; w < t.n; w++ {
		c := make(chan struct{})
		t.start = append(t.start, c)
		go t.helper(w, c)
	}
	T := &Team{t}
	if t.n > 1 {
		goruntime.SetFinalizer(T, (*Team).Close)
	}
	return T
}

// Workers is the number of workers.
func (t *Team) Workers() int {
	if t == nil {
		return 1
	}
	return t.n
}

func (t *team) helper(w int, start chan struct{}) {
	for range start {
		t.fn(w)
		t.done.Done()
	}
}

// Run runs fn on every worker and returns when all have returned.
func (t *Team) Run(fn func(w int)) {
	for i := range t.claimed {
		t.claimed[i].Store(0)
		t.finished[i].Store(0)
	}
	if t.n == 1 {
		fn(0)
		return
	}
	t.fn = fn
	t.done.Add(t.n - 1)
	for _, c := range t.start {
		c <- struct{}{}
	}
	fn(0)
	t.done.Wait()
	t.fn = nil // the helpers must not keep fn's receiver alive
}

// Chunks is how many chunks a step of n units is cut into: a few per worker.
func (t *Team) Chunks(n int) int {
	if t == nil {
		return 1
	}
	return max(min(n, 4*t.n), 1)
}

// Claim returns the next chunk of step to compute (>= the step's chunk count
// when none is left). A nil Team returns next: a lone worker counts itself.
//
//	for c := team.Claim(i, 0); c < nc; c = team.Claim(i, c+1) { ...; team.Done(i) }
//	team.Wait(i, nc)
func (t *Team) Claim(step, next int) int {
	if t == nil {
		return next
	}
	return int(t.claimed[step].Add(1) - 1)
}

// Done records that the caller finished a chunk of step.
func (t *Team) Done(step int) {
	if t != nil {
		t.finished[step].Add(1)
	}
}

// Wait returns when nc chunks of step are done (their writes visible to the
// caller). It spins briefly, then yields.
func (t *Team) Wait(step, nc int) {
	if t == nil {
		return
	}
	for i := 0; t.finished[step].Load() < int32(nc); i++ {
		if i > 64 {
			goruntime.Gosched()
		}
	}
}

// Close stops the helpers; the Team must not be used afterwards.
func (t *Team) Close() {
	for _, c := range t.start {
		close(c)
	}
	t.start = nil
}

// SplitWork splits a layer of units (rows or strips) x cols (column blocks)
// among workers: along units when there are enough of them, else along cols.
// It returns worker w's units [s0, s1) and cols [n0, n1).
func SplitWork(units, cols, w, workers int) (s0, s1, n0, n1 int) {
	if units >= 4*workers || cols < workers {
		s0, s1 = Split(units, w, workers)
		return s0, s1, 0, cols
	}
	n0, n1 = Split(cols, w, workers)
	return 0, units, n0, n1
}

// PadNHWC copies an h x w image of c channels (NHWC, pixel stride c) into dst
// with pixel stride stride and border pixels of z on every side; dst's
// channels c..stride-1 are left alone.
func PadNHWC(dst, src []byte, c, h, w, stride, border int, z byte) {
	wp := w + 2*border
	if stride == c {
		// Whole rows: one copy per image row, the border filled around it
		// (the layout of ResNet's 3x3 convs, whose channels are multiples of 4).
		fill(dst[:(border*wp+border)*c], z)
		for y := range h {
			o := ((y+border)*wp + border) * c
			copy(dst[o:o+w*c], src[y*w*c:])
			fill(dst[o+w*c:o+(w+2*border)*c], z) // this row's right, the next one's left
		}
		fill(dst[((h+border)*wp+border)*c:(h+2*border)*wp*c], z)
		return
	}
	for y := 0; y < h+2*border; y++ {
		row := dst[y*wp*stride : (y+1)*wp*stride]
		iy := y - border
		for x := 0; x < wp; x++ {
			px := row[x*stride : x*stride+c]
			ix := x - border
			if iy < 0 || iy >= h || ix < 0 || ix >= w {
				for i := range px {
					px[i] = z
				}
				continue
			}
			copy(px, src[(iy*w+ix)*c:])
		}
	}
}

// fill sets b to z, doubling what it has set.
func fill(b []byte, z byte) {
	if len(b) == 0 {
		return
	}
	b[0] = z
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}
