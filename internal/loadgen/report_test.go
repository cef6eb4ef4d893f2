package loadgen

import (
	"strings"
	"testing"
	"time"
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

// TestReportCreatesOnly checks that a run of the creates phase alone
// reports each queue count against its ceiling, and nothing it did not
// measure.
func TestReportCreatesOnly(t *testing.T) {
	r := Report{CreatesOnly: true, Creates: []Creates{
		{Queues: 1, PerSec: 10000, CeilingPerSec: 40000, LoadgenCPU: 50 * time.Microsecond, ServerCPU: 75 * time.Microsecond},
		{Queues: 128, PerSec: 8000, CeilingPerSec: 40000, LoadgenCPU: 55 * time.Microsecond},
	}}
	var b strings.Builder
	r.WriteTo(&b)
	out := b.String()
	for _, want := range []string{
		"creates into 1 queue ", "(0.25 of the ceiling, 40000 req/s)", "load generator 50µs, server 75µs\n",
		"creates into 128 queues", "(0.20 of the ceiling", "load generator 55µs\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "delivered") || strings.Contains(out, "rate limit") {
		t.Errorf("report shows phases that did not run:\n%s", out)
	}
}
