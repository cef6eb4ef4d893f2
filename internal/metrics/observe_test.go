package metrics

import "testing"

// The ring keeps the last attempts, and a task's come back oldest first.
func TestRecentAttempts(t *testing.T) {
	r := newRecentAttempts(3)
	for i, task := range []string{"a", "b", "a", "a", "b"} {
		r.add(Attempt{Task: task, DispatchCount: int32(i)})
	}
	got := r.of("a")
	if len(got) != 2 || got[0].DispatchCount != 2 || got[1].DispatchCount != 3 {
		t.Errorf("of(a) = %+v, want attempts 2 and 3 (0 was overwritten)", got)
	}
	if got := r.of("b"); len(got) != 1 || got[0].DispatchCount != 4 {
		t.Errorf("of(b) = %+v, want attempt 4", got)
	}
	empty := newRecentAttempts(3)
	if got := empty.of("a"); len(got) != 0 {
		t.Errorf("of(a) on an empty ring = %+v", got)
	}
}
