package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
)

// TestAcknowledgedCreatesSurviveKill9 kills a real server with SIGKILL
// while 32 clients create tasks, restarts it on the same file, and finds
// every task whose CreateTask had returned OK.
func TestAcknowledgedCreatesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real server process")
	}
	ctx := deadline(t, 2*time.Minute)
	db := "sqlite:" + filepath.Join(t.TempDir(), "tasks.db")
	p := startProcess(t, "--store", db)
	c := grpcClient(t, p.addr)
	const parent = "projects/p/locations/us-central1"
	q, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{
		Parent: parent,
		Queue:  &cloudtaskspb.Queue{Name: parent + "/queues/durable"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Pause the queue so that no acknowledged task is dispatched (and so
	// deleted) before the check.
	if _, err := c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: q.Name}); err != nil {
		t.Fatal(err)
	}

	const workers, killAfter = 32, 3000
	var (
		mu      sync.Mutex
		acked   []string
		killing = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("%s/tasks/w%d-%d", q.Name, w, i)
				_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q.Name, Task: &cloudtaskspb.Task{
					Name:        name,
					MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: "http://127.0.0.1:9/"}},
				}})
				if err != nil {
					select {
					case <-killing:
						return // calls in flight at the kill may fail either way
					default:
						t.Errorf("CreateTask before the kill: %v", err)
						return
					}
				}
				mu.Lock()
				acked = append(acked, name)
				n := len(acked)
				mu.Unlock()
				if n == killAfter {
					once.Do(func() {
						close(killing)
						p.kill()
					})
				}
			}
		}()
	}
	wg.Wait()
	if len(acked) < killAfter {
		t.Fatalf("only %d creates acknowledged before the clients stopped", len(acked))
	}

	p2 := startProcess(t, "--store", db)
	c2 := grpcClient(t, p2.addr)
	var lost []string
	for _, name := range acked {
		if _, err := c2.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: name}); err != nil {
			lost = append(lost, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged tasks lost after kill -9, e.g. %v", len(lost), len(acked), errors.New(lost[0]))
	}
	t.Logf("all %d acknowledged tasks found after kill -9 and restart", len(acked))
}
