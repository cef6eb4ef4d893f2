package loadgen

import (
	"strings"
	"testing"
)

// TestReportMemory checks the memory line: the growth per task, and the
// peak only when it could be measured.
func TestReportMemory(t *testing.T) {
	r := Report{RateConfigured: 50, PendingTasks: 1000000, PendingRSSBytes: 70e6, PendingPeakBytes: 120e6}
	for _, known := range []bool{true, false} {
		r.PendingPeakKnown = known
		var b strings.Builder
		r.WriteTo(&b)
		_, line, ok := strings.Cut(b.String(), "memory for pending tasks")
		if !ok {
			t.Fatalf("report lacks the memory line:\n%s", b.String())
		}
		if !strings.Contains(line, " 1000000 tasks add 70.0 MB RSS (70 bytes each)") {
			t.Errorf("peak known %v: %q lacks the growth", known, line)
		}
		if got := strings.Contains(line, "peak +120.0 MB"); got != known {
			t.Errorf("peak known %v: %q shows the peak: %v", known, line, got)
		}
	}
}
