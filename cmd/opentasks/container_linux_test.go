package main

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryInEmptyRoot: the binary the Dockerfile builds (CGO_ENABLED=0)
// is static and runs in a root filesystem that holds nothing but itself
// and a queue file: no /etc, /tmp, /dev or /proc, no environment. It is
// started in a chroot of a temporary directory; where chroot is not
// permitted (not root), it runs from that directory as its working
// directory instead, which shows less (the host's files stay visible) and
// says so.
func TestBinaryInEmptyRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root := t.TempDir()
	bin := filepath.Join(root, "opentasks")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" && s.Value != "0" {
			t.Fatalf("built with CGO_ENABLED=%s", s.Value)
		}
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%v)", p.Type)
		}
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(root, "queue.yaml"), []byte("queue:\n- name: q\n  rate: 1/s\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	start := func(chroot bool, args ...string) *exec.Cmd {
		cmd := exec.Command("/opentasks", args...)
		cmd.Env = []string{}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		if !chroot {
			cmd = exec.Command(bin, args...)
			cmd.Env = []string{}
			cmd.Dir = root
		}
		return cmd
	}
	chroot := true
	probe := start(true, "version")
	if out, err := probe.CombinedOutput(); err != nil {
		if !errors.Is(err, syscall.EPERM) {
			t.Fatalf("version in the chroot: %v\n%s", err, out)
		}
		chroot = false
		t.Log("chroot is not permitted here: running from an empty working directory instead (host files stay visible)")
	} else if !strings.HasPrefix(string(out), "opentasks ") {
		t.Fatalf("version in the chroot: %q", out)
	}

	store, queues := "sqlite:/opentasks.db", "/queue.yaml"
	if !chroot {
		store, queues = "sqlite:opentasks.db", "queue.yaml"
	}
	srv := start(chroot, "serve", "--addr", "127.0.0.1:0", "--store", store, "--queues", queues)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	defer func() {
		_ = srv.Process.Kill()
		<-done
	}()
	lines := bufio.NewScanner(stdout)
	var base string
	for lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "serving on "); ok {
			base, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	go func() {
		for lines.Scan() {
		}
		done <- srv.Wait()
	}()
	if base == "" {
		t.Fatal("the server exited without serving")
	}

	// The CLI and the healthcheck run in the same empty root.
	for _, args := range [][]string{
		{"healthcheck", "--endpoint", base},
		{"queues", "describe", "q", "--endpoint", base},
		{"tasks", "create-http-task", "--queue", "q", "--url", base + "/healthz", "--endpoint", base},
	} {
		out, err := start(chroot, args...).CombinedOutput()
		if err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(root, "opentasks.db")); err != nil {
		t.Errorf("the store is not in the root: %v", err)
	}
}
