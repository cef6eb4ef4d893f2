package queuefile_test

import (
	"context"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/queuefile"
	"github.com/opentasks/opentasks/internal/store/postgres"
	"github.com/opentasks/opentasks/internal/store/postgres/pgtest"
)

// TestApplyConcurrentNodes: two nodes on one PostgreSQL database apply
// the same file at the same time, as docs/docker-compose.postgres.yaml
// starts them; both succeed and the queues are as declared.
func TestApplyConcurrentNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.SchemaURL(t)
	decls, err := queuefile.Parse("queue.yaml", []byte("queue:\n- name: a\n  rate: 3/s\n  bucket_size: 7\n- name: b\n  rate: 0\n"), parent)
	if err != nil {
		t.Fatal(err)
	}
	var svcs []*cloudtasks.Service
	for range 2 {
		st, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svcs = append(svcs, cloudtasks.New(st, cloudtasks.Config{}))
	}
	errs := make(chan error, len(svcs))
	for _, svc := range svcs {
		go func() {
			_, err := queuefile.Apply(ctx, svc, decls)
			errs <- err
		}()
	}
	for range svcs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	a, err := svcs[0].GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: parent + "/queues/a"})
	if err != nil || a.RateLimits.MaxDispatchesPerSecond != 3 || a.RateLimits.MaxBurstSize != 7 {
		t.Errorf("a: %v %v", a, err)
	}
	b, err := svcs[1].GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: parent + "/queues/b"})
	if err != nil || b.State != cloudtaskspb.Queue_PAUSED {
		t.Errorf("b: %v %v", b, err)
	}
}
