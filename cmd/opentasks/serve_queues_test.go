package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startServe runs `opentasks serve` in-process with args on a free port
// and returns its base URL; the server stops at the end of the test.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(deadline(t, time.Minute))
	out, stdout := io.Pipe()
	done := make(chan int, 1)
	args = append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)
	go func() {
		done <- run(ctx, args, stdout, io.Discard, nil)
		stdout.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no serving line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	base, _, _ := strings.Cut(strings.TrimPrefix(line, "opentasks: serving on "), " ")
	return base
}

// TestServeQueues: --queues (both formats, twice), --queue and
// --auto-create-queues, through the real subcommand.
func TestServeQueues(t *testing.T) {
	dir := t.TempDir()
	yamlFile := filepath.Join(dir, "queue.yaml")
	resFile := filepath.Join(dir, "queues.json")
	if err := os.WriteFile(yamlFile, []byte("queue:\n- name: mail\n  rate: 2/s\n  bucket_size: 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(resFile, []byte(`[{"name": "projects/x/locations/europe-west1/queues/hooks", "rateLimits": {"maxDispatchesPerSecond": 7}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startServe(t, "--store", "sqlite:"+filepath.Join(dir, "db"),
		"--queues", yamlFile, "--queues", resFile, "--queues-parent", "projects/p/locations/asia-northeast1",
		"--queue", "projects/p/locations/us-central1/queues/plain", "--auto-create-queues")
	ctx := context.Background()
	c := grpcClient(t, strings.TrimPrefix(base, "http://"))
	for name, rate := range map[string]float64{
		"projects/p/locations/asia-northeast1/queues/mail":    2,
		"projects/p/locations/asia-northeast1/queues/default": 5,
		"projects/x/locations/europe-west1/queues/hooks":      7,
		"projects/p/locations/us-central1/queues/plain":       500,
	} {
		q, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: name})
		if err != nil || q.RateLimits.MaxDispatchesPerSecond != rate {
			t.Errorf("%s: %v, %v; want rate %v", name, q, err, rate)
		}
	}
	task, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{
		Parent: "projects/p/locations/us-central1/queues/made-on-demand",
		Task: &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: "http://127.0.0.1:1/"}}, ScheduleTime: nil},
	})
	if err != nil || !strings.HasPrefix(task.GetName(), "projects/p/locations/us-central1/queues/made-on-demand/tasks/") {
		t.Fatalf("CreateTask on a missing queue with --auto-create-queues: %v, %v", task, err)
	}
	_, err = c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: "projects/p/locations/us-central1/queues/bad_name", Task: &cloudtaskspb.Task{}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad queue name with --auto-create-queues: %v", err)
	}
}

// TestServeQueuesWithoutAutoCreate: a missing queue stays NOT_FOUND.
func TestServeQueuesWithoutAutoCreate(t *testing.T) {
	base := startServe(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"))
	c := grpcClient(t, strings.TrimPrefix(base, "http://"))
	_, err := c.CreateTask(context.Background(), &cloudtaskspb.CreateTaskRequest{
		Parent: "projects/p/locations/us-central1/queues/missing",
		Task: &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: "http://127.0.0.1:1/"}}},
	})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("CreateTask on a missing queue: %v", err)
	}
}

// TestServeBadQueueFile: the start stops with FILE:LINE and changes nothing.
func TestServeBadQueueFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "queue.yaml")
	if err := os.WriteFile(file, []byte("queue:\n- name: a\n  rate: 1/s\n- name: b\n  rate: lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	code := run(context.Background(), []string{"serve", "--store", "sqlite:" + filepath.Join(dir, "db"), "--queues", file}, io.Discard, &stderr, nil)
	want := "opentasks serve: " + file + ":5: rate \"lots\""
	if code != 2 || !strings.HasPrefix(stderr.String(), want) {
		t.Fatalf("exit %d, stderr %q; want 2 and %s...", code, stderr.String(), want)
	}
	if _, err := os.Stat(filepath.Join(dir, "db")); !os.IsNotExist(err) {
		t.Errorf("the store was opened despite the bad file: %v", err)
	}
}
