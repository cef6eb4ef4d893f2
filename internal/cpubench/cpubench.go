// Package cpubench reports a benchmark's CPU time per op: on a machine
// whose cores are all busy (server, target and load generator share two),
// CPU per op, not wall time, is what sets throughput.
package cpubench

import (
	"syscall"
	"testing"
	"time"
)

// Start returns a function that reports, as metric unit, the user and
// system CPU time the process has used since Start, in microseconds per op.
func Start(b *testing.B, unit string) (report func()) {
	cpu0 := cpuTime(b)
	return func() {
		b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), unit)
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
