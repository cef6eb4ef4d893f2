package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/cpubench"
	"github.com/opentasks/opentasks/internal/store"
)

// BenchmarkCreateTask measures durable task inserts from 64 concurrent
// callers into one queue and spread over 128: the store's share of a
// CreateTask. IDs rise with time within each queue, as the service's
// generated ones do. open returns a fresh store for each case.
func BenchmarkCreateTask(b *testing.B, open func(*testing.B) store.Store) {
	for _, queues := range []int{1, 128} {
		b.Run(fmt.Sprintf("queues=%d", queues), func(b *testing.B) { benchmarkCreateTask(b, open(b), queues) })
	}
}

func benchmarkCreateTask(b *testing.B, s store.Store, queues int) {
	ctx := context.Background()
	names := make([]string, queues)
	for i := range names {
		names[i] = fmt.Sprintf("projects/p/locations/l/queues/q%d", i)
		if err := s.CreateQueue(ctx, &cloudtaskspb.Queue{Name: names[i]}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	now := time.Now()
	b.SetParallelism(32) // 64 goroutines on 2 procs
	b.ResetTimer()
	report := cpubench.Start(b, "cpu-µs/task")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := s.CreateTask(ctx, benchTask(names[int(i)%queues], fmt.Sprintf("%020d", i), now)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// benchTask is a typical HTTP task as CreateTask stores it.
func benchTask(queue, id string, now time.Time) *store.Task {
	return &store.Task{Queue: queue, ID: id, Created: now, Task: &cloudtaskspb.Task{
		Name: queue + "/tasks/" + id,
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: "http://127.0.0.1:8080/work", HttpMethod: cloudtaskspb.HttpMethod_POST,
			Headers: map[string]string{"User-Agent": "Google-Cloud-Tasks"}, Body: []byte(`{"n":1}`),
		}},
		ScheduleTime:     timestamppb.New(now),
		CreateTime:       timestamppb.New(now.Truncate(time.Second)),
		DispatchDeadline: durationpb.New(10 * time.Minute),
	}}
}

// BenchmarkDispatch measures the store's share of delivering b.N tasks the
// way the dispatcher does under load: 64 queues are read in turn
// (DueTasks) while each still has its previous window of tasks leased,
// every task read is leased, and outcomes from all queues are completed
// (deleted and tombstoned) in batches. One op is one delivered task;
// cpu-µs/task is this process's CPU (a PostgreSQL server's is its own).
func BenchmarkDispatch(b *testing.B, s store.Store) {
	const queues, window, batch = 64, 64, 512
	ctx := context.Background()
	now := time.Now()
	names := make([]string, queues)
	var g errgroup.Group
	g.SetLimit(64)
	for i := range names {
		names[i] = fmt.Sprintf("projects/p/locations/l/queues/q%d", i)
		if err := s.CreateQueue(ctx, &cloudtaskspb.Queue{Name: names[i]}); err != nil {
			b.Fatal(err)
		}
		for j := range b.N/queues + 2*window {
			g.Go(func() error { return s.CreateTask(ctx, benchTask(names[i], fmt.Sprintf("%020d", j), now)) })
		}
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	inflight := make([][]store.Completion, queues)
	var outcomes []store.Completion
	complete := func() {
		ok, err := s.CompleteTasks(ctx, outcomes)
		if err != nil {
			b.Fatal(err)
		}
		for i, done := range ok {
			if !done {
				b.Fatalf("completing %s: lease lost", outcomes[i].ID)
			}
		}
		outcomes = outcomes[:0]
	}
	b.ResetTimer()
	cpu := cpubench.Start(b, "cpu-µs/task")
	for done := 0; done < b.N; {
		for i, q := range names {
			due, _, err := s.DueTasks(ctx, q, now, window)
			if err != nil {
				b.Fatal(err)
			}
			until := now.Add(time.Hour)
			ls := make([]store.Lease, len(due))
			for j, t := range due {
				ls[j] = store.Lease{Queue: q, ID: t.ID, Due: t.Due, Snapshot: t.Snapshot, Until: until, Task: t.Task}
			}
			if _, err := s.LeaseTasks(ctx, ls); err != nil {
				b.Fatal(err)
			}
			// The previous window's attempts end.
			outcomes = append(outcomes, inflight[i]...)
			done += len(inflight[i])
			inflight[i] = inflight[i][:0]
			for _, t := range due {
				inflight[i] = append(inflight[i], store.Completion{Queue: q, ID: t.ID, Lease: until, Delete: true,
					TombstoneUntil: until})
			}
			if len(outcomes) >= batch {
				complete()
			}
		}
	}
	complete()
	cpu()
}
