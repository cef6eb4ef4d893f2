package cloudtasks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/cpubench"
)

// BenchmarkCreateTask measures the service's create path on a real SQLite
// file (validation, encoding, the durable write; no transport) from 64
// callers, into one queue, spread over 128, and as BatchCreateTasks of
// 100 (one op per task). Its instruction count under callgrind is steady
// on a busy machine:
//
//	go test ./internal/cloudtasks -run '^$' -bench CreateTask -benchtime 20000x
func BenchmarkCreateTask(b *testing.B) {
	b.Run("queues=1", func(b *testing.B) { benchCreate(b, 1, 1) })
	b.Run("queues=128", func(b *testing.B) { benchCreate(b, 128, 1) })
	b.Run("batch=100", func(b *testing.B) { benchCreate(b, 1, 100) })
}

func benchCreate(b *testing.B, queues, batch int) {
	ctx := context.Background()
	s := newTestService(b)
	const parent = "projects/p/locations/us-central1"
	names := make([]string, queues)
	for i := range names {
		q, err := s.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{
			Parent: parent, Queue: &cloudtaskspb.Queue{Name: fmt.Sprintf("%s/queues/q%d", parent, i)},
		})
		if err != nil {
			b.Fatal(err)
		}
		names[i] = q.Name
	}
	task := func(n int64) *cloudtaskspb.Task {
		return &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: "http://127.0.0.1:8080/work", Body: fmt.Appendf(nil, `{"n":%d}`, n),
		}}}
	}
	var seq, left atomic.Int64
	left.Store(int64((b.N + batch - 1) / batch))
	b.SetParallelism(32) // 64 callers on 2 procs
	b.ResetTimer()
	report := cpubench.Start(b, "cpu-µs/task")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if left.Add(-1) < 0 {
				continue
			}
			n := seq.Add(1)
			queue := names[int(n)%queues]
			var err error
			if batch == 1 {
				_, err = s.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task(n)})
			} else {
				req := &cloudtaskspb.BatchCreateTasksRequest{Parent: queue}
				for i := range batch {
					req.Requests = append(req.Requests, &cloudtaskspb.CreateTaskRequest{Task: task(n*int64(batch) + int64(i))})
				}
				_, err = s.BatchCreateTasks(ctx, req)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	report()
}
