package metrics_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/metrics"
	"github.com/opentasks/opentasks/internal/store"
)

// nopStore takes every write at no cost, so that the benchmarks time the
// metrics' own work per task.
type nopStore struct{ store.Store }

func (nopStore) CountTasks(context.Context, []string) (map[string]int64, error) {
	return map[string]int64{loc + "/queues/q": 0}, nil
}
func (nopStore) CreateTask(context.Context, *store.Task) error { return nil }
func (nopStore) CompleteTasks(_ context.Context, cs []store.Completion) ([]bool, error) {
	ok := make([]bool, len(cs))
	for i := range ok {
		ok[i] = true
	}
	return ok, nil
}

func wrapNop(b *testing.B) (*metrics.Metrics, store.Store) {
	m := metrics.New(metrics.Config{})
	st, err := m.Wrap(context.Background(), nopStore{})
	if err != nil {
		b.Fatal(err)
	}
	return m, st
}

// The cost the metrics add to each CreateTask.
func BenchmarkCreateTask(b *testing.B) {
	_, st := wrapNop(b)
	t := &store.Task{Queue: loc + "/queues/q", ID: "t"}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.CreateTask(ctx, t); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The cost the metrics add to each completion, in batches of 256.
func BenchmarkCompleteTasks(b *testing.B) {
	_, st := wrapNop(b)
	cs := make([]store.Completion, 256)
	for i := range cs {
		cs[i] = store.Completion{Queue: loc + "/queues/q", ID: "t", Delete: true}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.CompleteTasks(ctx, cs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs)), "ns/task")
}

// The cost of observing one attempt (Dispatched is once per batch).
func BenchmarkAttempted(b *testing.B) {
	m, _ := wrapNop(b)
	now := time.Now()
	task := &cloudtaskspb.Task{
		Name: loc + "/queues/q/tasks/t", DispatchCount: 1, ResponseCount: 1,
		LastAttempt: &cloudtaskspb.Attempt{
			ScheduleTime: timestamppb.New(now), DispatchTime: timestamppb.New(now.Add(time.Millisecond)),
			ResponseTime: timestamppb.New(now.Add(2 * time.Millisecond)), ResponseStatus: &statuspb.Status{},
		},
	}
	o := dispatch.Outcome{Queue: loc + "/queues/q", TaskID: "t", Task: task, Result: deliver.Result{Status: 200},
		Deleted: true, Applied: true, QueueConfig: &cloudtaskspb.Queue{Name: loc + "/queues/q"}}
	b.ReportAllocs()
	for b.Loop() {
		m.Dispatched(o.Queue, 1)
		m.Attempted(&o)
	}
}
