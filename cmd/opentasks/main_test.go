package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/option"
)

func TestServeFlagsBeatEnvironment(t *testing.T) {
	env := []string{"OPENTASKS_ADDR=10.0.0.1:1", "OPENTASKS_STORE=sqlite:/env.db", "OPENTASKS_TASK_TOMBSTONE=5m", "PATH=/bin"}
	f, err := parseServeFlags([]string{"--addr", "127.0.0.1:9"}, io.Discard, env)
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != "127.0.0.1:9" || f.store != "sqlite:/env.db" || f.taskTombstone != 5*time.Minute || f.queueTombstone != 7*24*time.Hour {
		t.Fatalf("flags = %+v", f)
	}
	if _, err := parseServeFlags(nil, io.Discard, []string{"OPENTASKS_QUEUE_TOMBSTONE=soon"}); err == nil ||
		!strings.Contains(err.Error(), "OPENTASKS_QUEUE_TOMBSTONE") {
		t.Fatalf("bad env value: err = %v", err)
	}
	f, err = parseServeFlags(nil, io.Discard, nil)
	if err != nil || f.addr != "127.0.0.1:8123" || f.store != "sqlite:./opentasks.db" || f.leaseTTL != 6*time.Second {
		t.Fatalf("defaults = %+v, %v", f, err)
	}
	if _, err := parseServeFlags(nil, io.Discard, []string{"OPENTASKS_LEASE_TTL=0s"}); err == nil || !strings.Contains(err.Error(), "--lease-ttl") {
		t.Fatalf("zero lease TTL: err = %v", err)
	}
	if _, err := parseServeFlags([]string{"--max-in-flight", "0"}, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "--max-in-flight") {
		t.Fatalf("no attempts in flight: err = %v", err)
	}
}

func TestOpenStoreSchemes(t *testing.T) {
	ctx := context.Background()
	for url, want := range map[string]string{
		"postgres://u@127.0.0.1:1/db": "opening postgres store", // nothing listens on port 1
		"mysql://x":                   "unknown scheme",
		"sqlite:":                     "needs a path",
	} {
		if _, err := openStore(ctx, url); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("openStore(%q) = %v, want error containing %q", url, err, want)
		}
	}
	st, err := openStore(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRunUnknownCommand(t *testing.T) {
	var stderr strings.Builder
	if code := run(context.Background(), []string{"frobnicate"}, io.Discard, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Fatalf("code %d, stderr %q", code, stderr.String())
	}
}

// TestServe runs the real subcommand on a free port, calls it over gRPC,
// REST and /healthz, then stops it as SIGTERM would.
func TestServe(t *testing.T) {
	// The deadline also ends a serve that hangs before its serving line.
	ctx, cancel := context.WithCancel(deadline(t, time.Minute))
	defer cancel()
	out, stdout := io.Pipe()
	done := make(chan int, 1)
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "serve.db")
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, stdout, io.Discard, []string{"OPENTASKS_STORE=" + dbURL})
		stdout.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no serving line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	base, _, ok := strings.Cut(strings.TrimPrefix(line, "opentasks: serving on "), " ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.Contains(line, dbURL) {
		t.Fatalf("serving line %q", line)
	}

	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	g := grpcClient(t, strings.TrimPrefix(base, "http://"))
	r, err := cloudtasks.NewRESTClient(ctx, option.WithEndpoint(base), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const name = "projects/p/locations/us-central1/queues/q"
	if _, err := g.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: "projects/p/locations/us-central1", Queue: &cloudtaskspb.Queue{Name: name}}); err != nil {
		t.Fatalf("CreateQueue over gRPC: %v", err)
	}
	q, err := r.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: name})
	if err != nil || q.GetState() != cloudtaskspb.Queue_RUNNING {
		t.Fatalf("GetQueue over REST = %v, %v", q, err)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
	}
}
