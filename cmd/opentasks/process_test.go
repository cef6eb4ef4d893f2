package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cloudtasksapi "cloud.google.com/go/cloudtasks/apiv2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// binary builds the opentasks command once per test run, unless
// OPENTASKS_TEST_BINARY names one already built (to compare two builds
// with the same benchmark).
var binary = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("OPENTASKS_TEST_BINARY"); bin != "" {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "opentasks-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "opentasks")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is an opentasks server running as a real child process.
type process struct {
	cmd    *exec.Cmd
	addr   string
	done   chan error
	killed sync.Once
}

// startProcess runs `opentasks serve --addr 127.0.0.1:0 args...` and waits
// until it prints its address and answers /healthz.
func startProcess(t testing.TB, args ...string) *process {
	t.Helper()
	return startProcessLogging(t, os.Stderr, args...)
}

// startProcessLogging is startProcess with the server's log (its stderr)
// written to log.
func startProcessLogging(t testing.TB, log io.Writer, args ...string) *process {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "serving on http://"); ok {
			p.addr, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if p.addr == "" {
		cmd.Process.Kill()
		t.Fatalf("server exited without printing its address: %v", cmd.Wait())
	}
	go func() {
		for lines.Scan() {
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.kill() })
	res, err := http.Get("http://" + p.addr + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("healthz after start: %v %v", res, err)
	}
	res.Body.Close()
	return p
}

// terminate stops the process as SIGTERM does and returns how it exited.
func (p *process) terminate() error {
	err := errors.New("already killed")
	p.killed.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		err = <-p.done
	})
	return err
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	p.killed.Do(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
}

// grpcClient is the official Go client over gRPC to addr.
func grpcClient(t testing.TB, addr string) *cloudtasksapi.Client {
	t.Helper()
	c, err := cloudtasksapi.NewClient(context.Background(),
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// restClient is the official Go client over REST to addr.
func restClient(t testing.TB, addr string) *cloudtasksapi.Client {
	t.Helper()
	c, err := cloudtasksapi.NewRESTClient(context.Background(), option.WithEndpoint("http://"+addr), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// deadline bounds a test's waits so a hang fails instead of stalling CI.
func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
