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
	"google.golang.org/protobuf/types/known/timestamppb"
)

// startServe runs `opentasks serve` in-process with args on a free port
// and returns its base URL; the server stops at the end of the test.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	return serveWith(t, io.Discard, nil, args...)
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
	// A deleted queue's name stays reserved: no auto-creation then.
	if err := c.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: "projects/p/locations/us-central1/queues/made-on-demand"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{
		Parent: "projects/p/locations/us-central1/queues/made-on-demand",
		Task:   &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: "http://127.0.0.1:1/"}}},
	})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("CreateTask on a just-deleted queue with --auto-create-queues: %v", err)
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

// TestServeQueuesRestart: a second start with the rate changed in the
// file updates the queue and keeps its task.
func TestServeQueuesRestart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "queue.yaml")
	store := "sqlite:" + filepath.Join(dir, "db")
	name := "projects/local-project/locations/us-central1/queues/mail"
	later := time.Now().Add(time.Hour)
	var taskName string
	for i, rate := range []string{"2/s", "4/s"} {
		if err := os.WriteFile(file, []byte("queue:\n- name: mail\n  rate: "+rate+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(deadline(t, time.Minute))
		out, stdout := io.Pipe()
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--store", store, "--queues", file}, stdout, io.Discard, nil)
			stdout.Close()
		}()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		go func() { _, _ = io.Copy(io.Discard, out) }()
		base, _, _ := strings.Cut(strings.TrimPrefix(line, "opentasks: serving on "), " ")
		c := grpcClient(t, strings.TrimPrefix(base, "http://"))
		q, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: name})
		if want := float64(2 * (i + 1)); err != nil || q.RateLimits.MaxDispatchesPerSecond != want {
			t.Fatalf("start %d: %v, %v; want rate %v", i+1, q, err, want)
		}
		if i == 0 {
			task, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: name, Task: &cloudtaskspb.Task{
				ScheduleTime: timestamppb.New(later),
				MessageType:  &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: "http://127.0.0.1:1/"}}}})
			if err != nil {
				t.Fatal(err)
			}
			taskName = task.Name
		} else if _, err := c.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: taskName}); err != nil {
			t.Errorf("the task after the second start: %v", err)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("start %d exited %d", i+1, code)
		}
	}
}
