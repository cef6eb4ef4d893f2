package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
)

// BenchmarkCreateTask drives a real server process through the official
// gRPC client with 64 concurrent callers; every create is durable (fsync'd)
// before it is acknowledged. It reports creates/s and latency percentiles:
//
//	go test ./cmd/opentasks -run '^$' -bench CreateTask -benchtime 200000x
func BenchmarkCreateTask(b *testing.B) {
	ctx := context.Background()
	p := startProcess(b, "--store", "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
	c := grpcClient(b, p.addr)
	const parent = "projects/p/locations/us-central1"
	q, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{
		Parent: parent,
		Queue:  &cloudtaskspb.Queue{Name: fmt.Sprintf("%s/queues/bench-%d", parent, time.Now().UnixNano())},
	})
	if err != nil {
		b.Fatal(err)
	}
	// Paused: this measures creation, not dispatch.
	if _, err := c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: q.Name}); err != nil {
		b.Fatal(err)
	}
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		seq       atomic.Int64
	)
	b.SetParallelism(32) // 32 × GOMAXPROCS(2) = 64 callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			req := &cloudtaskspb.CreateTaskRequest{Parent: q.Name, Task: &cloudtaskspb.Task{
				MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
					Url:  "http://127.0.0.1:8080/work",
					Body: fmt.Appendf(nil, `{"n":%d}`, seq.Add(1)),
				}},
			}}
			start := time.Now()
			if _, err := c.CreateTask(ctx, req); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
