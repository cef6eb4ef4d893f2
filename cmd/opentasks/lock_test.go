package main

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestSecondServeRefused: a second server on the same SQLite file exits
// non-zero with a message naming the file and the PID that holds it; once
// the first is killed with SIGKILL, the kernel drops its lock and a new
// server starts on the file.
func TestSecondServeRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real server processes")
	}
	path := filepath.Join(t.TempDir(), "tasks.db")
	first := startProcess(t, "--store", "sqlite:"+path)
	out, code := serveOnce(t, path)
	if code == 0 || !strings.Contains(out, path) || !strings.Contains(out, "process "+strconv.Itoa(first.cmd.Process.Pid)) {
		t.Fatalf("second serve exited %d with %q, want non-zero naming %s and PID %d", code, out, path, first.cmd.Process.Pid)
	}
	first.kill()
	startProcess(t, "--store", "sqlite:"+path)
}

// TestServesStartedTogether: two servers started at the same moment on a
// new file: one serves, the other is refused by the lock, never by a
// migration that collided.
func TestServesStartedTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real server processes")
	}
	path := filepath.Join(t.TempDir(), "tasks.db")
	var wg sync.WaitGroup
	outs, codes := make([]string, 2), make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], codes[i] = serveOnce(t, path)
		}()
	}
	wg.Wait()
	// Both exit (see serveOnce): the first to lock after migrating, when
	// it cannot listen; the other at the lock, or after the first, having
	// found the file migrated.
	locked := 0
	for i, out := range outs {
		if strings.Contains(out, "migration") {
			t.Fatalf("serve %d: %q: a migration collided", i, out)
		}
		if strings.Contains(out, "is held by process") {
			locked++
		}
		if codes[i] == 0 {
			t.Fatalf("serve %d exited 0", i)
		}
	}
	if locked > 1 {
		t.Fatalf("both servers refused by the lock: %q", outs)
	}
}

// serveOnce runs `opentasks serve` on path with an address already in
// use, so that it exits right after opening the store, and returns its
// stderr and exit code.
func serveOnce(t *testing.T, path string) (string, int) {
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cmd := exec.Command(bin, "serve", "--addr", taken.Addr().String(), "--store", "sqlite:"+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), code
}
