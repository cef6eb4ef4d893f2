package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudtasksapi "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/cpubench"
)

// BenchmarkCreateTask drives a real server process through the official
// gRPC client with 64 concurrent callers; every create is durable (fsync'd)
// before it is acknowledged. It reports creates/s, latency percentiles and
// the server process's CPU per create (server-cpu-µs/task, read from /proc,
// which the other processes on a shared machine disturb less than the rate):
//
//	go test ./cmd/opentasks -run '^$' -bench CreateTask -benchtime 30000x
//
// queues=1 and queues=128 spread single creates over that many (paused)
// queues; batch=100 sends BatchCreateTasks of 100 tasks, one op per task,
// from 8 callers (800 tasks in flight; 64 callers' 6,400 only lengthen
// the wait for each commit). rest/... are the same through the REST
// client (REST's batch is BatchCreateTasks' tasks:batchCreate).
func BenchmarkCreateTask(b *testing.B) {
	for _, transport := range []string{"grpc", "rest"} {
		b.Run(transport+"/queues=1", func(b *testing.B) { benchCreate(b, transport, 64, 1, 1) })
		b.Run(transport+"/queues=128", func(b *testing.B) { benchCreate(b, transport, 64, 128, 1) })
		b.Run(transport+"/batch=100", func(b *testing.B) { benchCreate(b, transport, 8, 1, 100) })
	}
}

func benchCreate(b *testing.B, transport string, callers, queues, batch int) {
	ctx := context.Background()
	p := startProcess(b, "--store", "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
	c := grpcClient(b, p.addr)
	if transport == "rest" {
		c = restClient(b, p.addr)
	}
	const parent = "projects/p/locations/us-central1"
	names := make([]string, queues)
	for i := range names {
		q, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{
			Parent: parent,
			Queue:  &cloudtaskspb.Queue{Name: fmt.Sprintf("%s/queues/bench-%d-%d", parent, time.Now().UnixNano(), i)},
		})
		if err != nil {
			b.Fatal(err)
		}
		// Paused: this measures creation, not dispatch.
		if _, err := c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: q.Name}); err != nil {
			b.Fatal(err)
		}
		names[i] = q.Name
	}
	calls := (b.N + batch - 1) / batch
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, calls)
		seq, left atomic.Int64
	)
	left.Store(int64(calls))
	cpu0 := processCPU(p)
	b.ResetTimer()
	// The client's CPU: with the server's, what the two cores are shared by.
	clientCPU := cpubench.Start(b, "client-cpu-µs/task")
	idle0, total0 := machineIdle()
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			var mine []time.Duration
			for left.Add(-1) >= 0 {
				n := seq.Add(1)
				t0 := time.Now()
				if err := createCall(ctx, c, names[int(n)%queues], n, batch); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU(p) - cpu0
	clientCPU()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	tasks := float64(calls * batch)
	b.ReportMetric(tasks/elapsed.Seconds(), "creates/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if cpu >= 0 {
		b.ReportMetric(float64(cpu.Microseconds())/tasks, "server-cpu-µs/task")
	}
	// Idle cores mean the rate was bound by waiting (for the disk, or
	// for one goroutine), not by CPU.
	if idle, total := machineIdle(); total > total0 {
		b.ReportMetric(100*float64(idle-idle0)/float64(total-total0), "machine-idle-%")
	}
	b.ReportMetric(0, "ns/op")
}

// createCall creates one task, or a batch of them, on queue.
func createCall(ctx context.Context, c *cloudtasksapi.Client, queue string, n int64, batch int) error {
	task := func(i int) *cloudtaskspb.Task {
		return &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url:  "http://127.0.0.1:8080/work",
			Body: fmt.Appendf(nil, `{"n":%d,"i":%d}`, n, i),
		}}}
	}
	if batch == 1 {
		_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task(0)})
		return err
	}
	req := &cloudtaskspb.BatchCreateTasksRequest{Parent: queue}
	for i := range batch {
		req.Requests = append(req.Requests, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task(i)})
	}
	op, err := c.BatchCreateTasks(ctx, req)
	if err != nil {
		return err
	}
	resp, err := op.Wait(ctx)
	if err != nil {
		return err
	}
	if len(resp.Tasks) != batch {
		return fmt.Errorf("batch created %d tasks of %d", len(resp.Tasks), batch)
	}
	return nil
}

// processCPU is the user and system CPU time p has used, or -1 where
// /proc cannot tell.
func processCPU(p *process) time.Duration {
	cpu, err := procCPU(p.cmd.Process.Pid)()
	if err != nil {
		return -1
	}
	return cpu
}

// machineIdle returns the machine's idle and total CPU time, in ticks,
// from /proc/stat (zero where there is none).
func machineIdle() (idle, total int64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return idle, total
}
