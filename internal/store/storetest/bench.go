package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
)

// BenchmarkCreateTask measures durable task inserts into s from 64
// concurrent callers: the store's share of a CreateTask. Each backend's
// BenchmarkCreateTask calls it with a fresh store.
func BenchmarkCreateTask(b *testing.B, s store.Store) {
	ctx := context.Background()
	q := &cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/q"}
	if err := s.CreateQueue(ctx, q); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	now := time.Now()
	b.SetParallelism(32) // 64 goroutines on 2 procs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("%020d", n.Add(1))
			t := &store.Task{Queue: q.Name, ID: id, Created: now, Task: &cloudtaskspb.Task{
				Name: q.Name + "/tasks/" + id,
				MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
					Url: "http://127.0.0.1:8080/work", HttpMethod: cloudtaskspb.HttpMethod_POST,
					Headers: map[string]string{"User-Agent": "Google-Cloud-Tasks"}, Body: []byte(`{"n":1}`),
				}},
				ScheduleTime:     timestamppb.New(now),
				CreateTime:       timestamppb.New(now.Truncate(time.Second)),
				DispatchDeadline: durationpb.New(10 * time.Minute),
			}}
			if err := s.CreateTask(ctx, t); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}
