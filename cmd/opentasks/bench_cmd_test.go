package main

import (
	"bytes"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"
)

// TestBenchCommand runs `opentasks bench` with small figures against a
// real server process and checks that every phase reports a measurement.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real server process and loads it")
	}
	p := startProcess(t, "--store", "sqlite:"+t.TempDir()+"/bench.db")
	var out, errs bytes.Buffer
	code := runBench(deadline(t, 2*time.Minute), []string{
		"--server", p.addr, "--tasks", "400", "--queues", "4", "--callers", "8", "--create-queues", "1,3",
		"--ceiling-for", "200ms", "--lateness-rate", "200", "--lateness-for", "500ms",
		"--rate", "20", "--rate-tasks", "60",
	}, &out, &errs)
	if code != 0 {
		t.Fatalf("bench exited %d: %s", code, errs.String())
	}
	for _, want := range []string{
		`creates into 1 queue +([0-9.]+) /s`,
		`creates into 3 queues +([0-9.]+) /s`,
		`loopback HTTP ceiling +([0-9.]+) req/s`,
		`creates +([0-9.]+) /s`,
		`delivered, end to end +([0-9.]+) /s`,
	} {
		m := regexp.MustCompile(want).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
		if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
			t.Errorf("%s = %v, want a positive figure", want, v)
		}
	}
	m := regexp.MustCompile(`measured ([0-9.]+)/s`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("report lacks the measured rate:\n%s", out.String())
	}
	// 40 tasks after the burst of 20 at 20/s: two seconds, loosely judged
	// so a busy machine does not fail the test.
	if rate, _ := strconv.ParseFloat(m[1], 64); rate < 15 || rate > 25 {
		t.Errorf("measured rate %.2f/s, want about 20/s", rate)
	}
}

// TestBenchCreatesOnlyWithoutServerCPU measures creates alone with a
// server whose CPU cannot be read (a process ID no process can have, as a
// server elsewhere, or any server where there is no /proc): the run must
// still report its creates, without a server figure, not fail.
func TestBenchCreatesOnlyWithoutServerCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real server process and loads it")
	}
	p := startProcess(t, "--store", "sqlite:"+t.TempDir()+"/bench.db")
	var out, errs bytes.Buffer
	code := runBench(deadline(t, time.Minute), []string{
		"--server", p.addr, "--server-pid", strconv.Itoa(1 << 30), "--creates-only", "--create-queues", "2",
		"--tasks", "100", "--callers", "4", "--ceiling-for", "100ms",
	}, &out, &errs)
	if code != 0 {
		t.Fatalf("bench exited %d: %s", code, errs.String())
	}
	m := regexp.MustCompile(`creates into 2 queues +([0-9.]+) /s.*load generator [^,]*\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("report lacks the creates, or shows a server CPU it could not read:\n%s", out.String())
	}
	if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
		t.Errorf("creates = %v /s, want a positive figure", v)
	}
}

// TestProcMemory checks the reading of resident memory that the memory
// phase reports: 64 MB touched raise both figures, and ResetPeak brings
// the peak back down once they are given back.
func TestProcMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads Linux's /proc")
	}
	const mb = 1 << 20
	m := procMemory(os.Getpid())
	// Memory that earlier tests freed but the runtime still holds would
	// take the 64 MB without growing the resident set.
	debug.FreeOSMemory()
	if err := m.ResetPeak(); err != nil {
		t.Fatal(err)
	}
	now0, _, err := m.Resident()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64*mb)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	now1, peak1, err := m.Resident()
	if err != nil {
		t.Fatal(err)
	}
	if now1 < now0+48*mb {
		t.Fatalf("after touching 64 MB: resident %d MB (was %d MB), peak %d MB", now1/mb, now0/mb, peak1/mb)
	}
	runtime.KeepAlive(buf) // and no further: FreeOSMemory gives it back
	debug.FreeOSMemory()
	now2, peak2, err := m.Resident()
	if err != nil {
		t.Fatal(err)
	}
	if peak2 < peak1-4*mb || now2 > peak2-32*mb {
		t.Fatalf("after giving 64 MB back: resident %d MB, peak %d MB (was %d MB)", now2/mb, peak2/mb, peak1/mb)
	}
	if err := m.ResetPeak(); err != nil {
		t.Fatal(err)
	}
	if _, peak3, err := m.Resident(); err != nil || peak3 > peak2-32*mb {
		t.Fatalf("after ResetPeak: peak %d MB (was %d MB), err %v", peak3/mb, peak2/mb, err)
	}
}
