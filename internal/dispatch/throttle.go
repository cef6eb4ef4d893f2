package dispatch

import (
	"sync"
	"time"
)

// throttle is a queue's system throttling (spec 5.4): a 429 or 503 from a
// target halves the queue's effective rate, which then recovers by a tenth
// of the configured rate per second (AIMD). The configured RateLimits are
// never changed.
type throttle struct {
	mu      sync.Mutex
	cut     float64 // factor right after the last cut
	lastCut time.Time
}

const (
	minFactor   = 1.0 / 64
	recoverRate = 0.1 // of the configured rate, per second
	// cutEvery keeps a burst of concurrent 503s from cutting many times.
	cutEvery = time.Second
)

// factor is the share of the configured rate in force at now.
func (t *throttle) factor(now time.Time) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.factorLocked(now)
}

func (t *throttle) factorLocked(now time.Time) float64 {
	if t.lastCut.IsZero() {
		return 1
	}
	return min(1, t.cut+recoverRate*now.Sub(t.lastCut).Seconds())
}

// slowDown records a throttling response at now.
func (t *throttle) slowDown(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.lastCut.IsZero() && now.Sub(t.lastCut) < cutEvery {
		return
	}
	t.cut = max(minFactor, t.factorLocked(now)/2)
	t.lastCut = now
}
