package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestSoakCommand runs a short `opentasks soak` against a real server: it
// must end with every acknowledged task delivered or deleted. The hung
// target's first attempts take the shortest deadline (15s) to end, so
// the queues need that long to empty.
func TestSoakCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real server process and loads it")
	}
	p := startProcess(t, "--store", "sqlite:"+t.TempDir()+"/soak.db")
	var out, errs bytes.Buffer
	code := runSoak(deadline(t, 3*time.Minute), []string{
		"--server", p.addr, "--duration", "3s", "--queues", "8", "--rate", "100", "--settle", "2m",
	}, &out, &errs)
	if code != 0 {
		t.Fatalf("soak exited %d: %s\n%s", code, errs.String(), out.String())
	}
	m := regexp.MustCompile(`acknowledged (\d+): delivered (\d+), deleted \d+, purged \d+, lost 0\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("report lacks the count with none lost:\n%s", out.String())
	}
	if acked, _ := strconv.Atoi(m[1]); acked < 100 {
		t.Errorf("only %d tasks acknowledged in 3s at 100/s", acked)
	}
	t.Log(out.String())
}
