package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/cpubench"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/metrics"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// BenchmarkDeliver delivers b.N due tasks spread over 64 queues (rate 500/s
// each) from a real SQLite store to a real keep-alive HTTP target, and
// reports delivered tasks/s and the CPU time the process (target included)
// spent per task, which varies less than the rate on a shared machine. Its
// metrics case keeps the metrics (internal/metrics) as serve does.
func BenchmarkDeliver(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchmarkDeliver(b, false) })
	b.Run("metrics", func(b *testing.B) { benchmarkDeliver(b, true) })
}

func benchmarkDeliver(b *testing.B, withMetrics bool) {
	const queues = 64
	ctx := context.Background()
	opened, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer opened.Close()
	var st store.Store = opened
	cfg := dispatch.Config{}
	if withMetrics {
		m := metrics.New(metrics.Config{})
		if st, err = m.Wrap(ctx, opened); err != nil {
			b.Fatal(err)
		}
		cfg.Observer = m
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	now := time.Now()
	names := make([]string, queues)
	for i := range names {
		q := &cloudtaskspb.Queue{Name: fmt.Sprintf("%s/queues/q%02d", loc, i), State: cloudtaskspb.Queue_RUNNING,
			RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 500, MaxBurstSize: 100, MaxConcurrentDispatches: 1000}}
		if err := st.CreateQueue(ctx, q); err != nil {
			b.Fatal(err)
		}
		names[i] = q.Name
	}
	errs := make(chan error, b.N)
	for i := range b.N {
		q := names[i%queues]
		id := fmt.Sprintf("t%08d", i)
		go func() {
			errs <- st.CreateTask(ctx, &store.Task{Queue: q, ID: id, Created: now, Task: &cloudtaskspb.Task{
				Name:             q + "/tasks/" + id,
				MessageType:      &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: target.URL + "/", Body: []byte("x")}},
				ScheduleTime:     timestamppb.New(now),
				DispatchDeadline: durationpb.New(time.Minute),
			}})
		}()
	}
	for range b.N {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	done := make(chan struct{}, b.N)
	cfg.OnComplete = func(dispatch.Outcome) { done <- struct{}{} }
	d := dispatch.New(st, cfg)
	b.ResetTimer()
	cpu := cpubench.Start(b, "cpu-µs/task")
	start := time.Now()
	if err := d.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		<-done
	}
	el := time.Since(start)
	cpu()
	b.StopTimer()
	d.Stop()
	b.ReportMetric(float64(b.N)/el.Seconds(), "tasks/s")
}
