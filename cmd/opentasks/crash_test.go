package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// countingTarget answers 200 and counts each task's deliveries; once
// kill deliveries have arrived it calls onKill (once).
type countingTarget struct {
	mu     sync.Mutex
	got    map[string]int
	killed bool // set under mu when onKill ran: later deliveries came after it
	after  map[string]bool
}

func newCountingTarget(t *testing.T, kill int, onKill func()) (*countingTarget, string) {
	c := &countingTarget{got: map[string]int{}, after: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.Header.Get("X-CloudTasks-TaskName")
		c.mu.Lock()
		c.got[name]++
		if c.killed {
			c.after[name] = true
		}
		n := len(c.got)
		if n == kill && !c.killed {
			onKill()
			c.killed = true
		}
		c.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// TestKillMidDelivery: SIGKILL the server while it delivers 3,000 tasks
// over 8 queues, restart it on the same file: every acknowledged task is
// delivered, and a task delivered twice is one whose first delivery came
// before the kill (its attempt was in flight, its outcome not yet written).
func TestKillMidDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a real server")
	}
	ctx := deadline(t, 3*time.Minute)
	path := "sqlite:" + filepath.Join(t.TempDir(), "tasks.db")
	p := startProcess(t, "--store", path)
	c := grpcClient(t, p.addr)
	const queues, perQueue = 8, 375
	killed := make(chan struct{})
	target, url := newCountingTarget(t, 1000, func() { p.kill(); close(killed) })
	var qs []*cloudtaskspb.Queue
	for i := range queues {
		q := isoQueue(ctx, t, c, fmt.Sprintf("k%d", i), 0)
		if _, err := c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: q.Name}); err != nil {
			t.Fatal(err)
		}
		createTasks(ctx, t, c, q.Name, perQueue, func(j int) *cloudtaskspb.Task {
			return &cloudtaskspb.Task{
				Name:        fmt.Sprintf("%s/tasks/k%d-%03d", q.Name, i, j),
				MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: url}},
			}
		})
		qs = append(qs, q)
	}
	for _, q := range qs {
		if _, err := c.ResumeQueue(ctx, &cloudtaskspb.ResumeQueueRequest{Name: q.Name}); err != nil {
			select {
			case <-killed: // the first queues delivered 1,000 already
			case <-ctx.Done():
				t.Fatal(err)
			}
			break
		}
	}
	select {
	case <-killed: // by the target, at its 1,000th task
	case <-ctx.Done():
		t.Fatal("the server delivered fewer than 1,000 tasks")
	}
	p2 := startProcess(t, "--store", path)
	c2 := grpcClient(t, p2.addr)
	for _, q := range qs { // those the kill kept from being resumed
		if _, err := c2.ResumeQueue(ctx, &cloudtaskspb.ResumeQueueRequest{Name: q.Name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range qs {
		waitEmpty(ctx, t, c2, q.Name)
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	twice := 0
	for i := range queues {
		for j := range perQueue {
			name := fmt.Sprintf("k%d-%03d", i, j)
			switch n := target.got[name]; {
			case n == 0:
				t.Errorf("task %s acknowledged, never delivered", name)
			case n > 1:
				twice++
			}
		}
	}
	// A task delivered twice had its first delivery before the kill:
	// delivered before it, then again after.
	for name, n := range target.got {
		if n > 1 && !target.after[name] {
			t.Errorf("task %s delivered %d times, all before the kill", name, n)
		}
	}
	t.Logf("%d tasks: %d delivered before the kill, %d delivered twice (in flight or not yet written at the kill), none lost",
		queues*perQueue, 1000, twice)
}

// TestFullStore: a store on a 2 MB tmpfs that fills up answers CreateTask
// with a clear error (no crash), keeps serving what it holds, and every
// task acknowledged before is there after a restart. It needs to mount a
// tmpfs (root); it skips where it cannot.
func TestFullStore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real server on a tiny filesystem")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	ctx := deadline(t, 2*time.Minute)
	path := "sqlite:" + filepath.Join(dir, "tasks.db")
	p := startProcess(t, "--store", path)
	c := grpcClient(t, p.addr)
	q := isoQueue(ctx, t, c, "full", 0)
	if _, err := c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: q.Name}); err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("x", 8<<10))
	var acked []string
	var full error
	for i := 0; full == nil && i < 1000; i++ {
		name := fmt.Sprintf("%s/tasks/f%04d", q.Name, i)
		_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q.Name, Task: &cloudtaskspb.Task{
			Name:        name,
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: "http://127.0.0.1:9/", Body: body}},
		}})
		if err != nil {
			full = err
			break
		}
		acked = append(acked, name)
	}
	if full == nil {
		t.Fatalf("1,000 tasks of 8 KB fit on a 2 MB filesystem")
	}
	st := status.Convert(full)
	t.Logf("after %d tasks: %v", len(acked), full)
	if st.Code() != codes.ResourceExhausted && st.Code() != codes.Unavailable && st.Code() != codes.Internal {
		t.Fatalf("CreateTask on a full store: %v, want a clear error", full)
	}
	if !strings.Contains(strings.ToLower(st.Message()), "full") {
		t.Errorf("error %q does not say the store is full", st.Message())
	}
	// Still serving reads.
	if got := listAll(ctx, t, c, q.Name); len(got) != len(acked) {
		t.Errorf("ListTasks on the full store: %d tasks, want %d", len(got), len(acked))
	}
	p.kill()
	p2 := startProcess(t, "--store", path)
	c2 := grpcClient(t, p2.addr)
	if got := listAll(ctx, t, c2, q.Name); len(got) != len(acked) {
		t.Fatalf("after a restart: %d tasks, want the %d acknowledged", len(got), len(acked))
	}
}
