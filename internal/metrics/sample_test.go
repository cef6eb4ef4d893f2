package metrics

import (
	"fmt"
	"testing"
)

// A ratio samples about that share of tasks, and a task's every attempt
// alike.
func TestSampled(t *testing.T) {
	n := 0
	for i := range 10000 {
		name := fmt.Sprintf("projects/p/locations/l/queues/q/tasks/%d", i)
		s := sampled(name, 0.3)
		if s != sampled(name, 0.3) {
			t.Fatalf("%s sampled one time, not the next", name)
		}
		if s {
			n++
		}
		if sampled(name, 0) || !sampled(name, 1) {
			t.Fatalf("%s: ratio 0 sampled it or ratio 1 did not", name)
		}
	}
	if n < 2800 || n > 3200 {
		t.Errorf("ratio 0.3 sampled %d of 10000 tasks", n)
	}
}
