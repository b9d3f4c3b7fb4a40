package ir

import "sync"

// pool recycles node outputs. A node's output takes the smallest free
// buffer that holds it, of any length: the buffers freed last, the inputs
// of the nodes just run, are in the caches, where a buffer kept for one
// length was last written a whole image earlier (MobileNetV2-224's
// activations, ~13 MB an image, and its 14 MB of weights leave little of
// the last level cache to them). The cores running groups share one: a
// pool each took 4% longer (calibrating MobileNetV2-224 on two cores).
type pool struct {
	mu   sync.Mutex
	free [][]float32
}

// get returns a buffer of n floats (contents undefined).
func (pl *pool) get(n int) []float32 {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	best := -1
	for i, b := range pl.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(pl.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := pl.free[best]
	pl.free = append(pl.free[:best], pl.free[best+1:]...)
	return b[:n]
}

func (pl *pool) put(bufs [][]float32) {
	if len(bufs) == 0 {
		return
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.free = append(pl.free, bufs...)
}

// poolIf is p's pool if recycle, else nil (outputs the hooks may keep).
func (p *Program) poolIf(recycle bool) *pool {
	if recycle {
		return &p.pool
	}
	return nil
}
