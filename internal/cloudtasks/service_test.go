package cloudtasks

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/opentasks/opentasks/internal/store/sqlite"
)

func newTestService(t testing.TB) *Service {
	t.Helper()
	now := func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), sqlite.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, Config{Now: now})
}

// TestNilRequests: every RPC refuses a nil (empty) request with
// INVALID_ARGUMENT instead of panicking.
func TestNilRequests(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	calls := map[string]func() error{
		"ListQueues":         func() error { _, err := s.ListQueues(ctx, nil); return err },
		"GetQueue":           func() error { _, err := s.GetQueue(ctx, nil); return err },
		"CreateQueue":        func() error { _, err := s.CreateQueue(ctx, nil); return err },
		"UpdateQueue":        func() error { _, err := s.UpdateQueue(ctx, nil); return err },
		"DeleteQueue":        func() error { _, err := s.DeleteQueue(ctx, nil); return err },
		"PurgeQueue":         func() error { _, err := s.PurgeQueue(ctx, nil); return err },
		"PauseQueue":         func() error { _, err := s.PauseQueue(ctx, nil); return err },
		"ResumeQueue":        func() error { _, err := s.ResumeQueue(ctx, nil); return err },
		"GetIamPolicy":       func() error { _, err := s.GetIamPolicy(ctx, nil); return err },
		"SetIamPolicy":       func() error { _, err := s.SetIamPolicy(ctx, nil); return err },
		"TestIamPermissions": func() error { _, err := s.TestIamPermissions(ctx, nil); return err },
		"ListTasks":          func() error { _, err := s.ListTasks(ctx, nil); return err },
		"GetTask":            func() error { _, err := s.GetTask(ctx, nil); return err },
		"CreateTask":         func() error { _, err := s.CreateTask(ctx, nil); return err },
		"BatchCreateTasks":   func() error { _, err := s.BatchCreateTasks(ctx, nil); return err },
		"DeleteTask":         func() error { _, err := s.DeleteTask(ctx, nil); return err },
		"BatchDeleteTasks":   func() error { _, err := s.BatchDeleteTasks(ctx, nil); return err },
		"RunTask":            func() error { _, err := s.RunTask(ctx, nil); return err },
		"UpdateCmekConfig":   func() error { _, err := s.UpdateCmekConfig(ctx, nil); return err },
		"GetCmekConfig":      func() error { _, err := s.GetCmekConfig(ctx, nil); return err },
		"ListLocations":      func() error { _, err := s.ListLocations(ctx, nil); return err },
		"GetLocation":        func() error { _, err := s.GetLocation(ctx, nil); return err },
		"GetOperation":       func() error { _, err := s.GetOperation(ctx, nil); return err },
		"WaitOperation":      func() error { _, err := s.WaitOperation(ctx, nil); return err },
		"CancelOperation":    func() error { _, err := s.CancelOperation(ctx, nil); return err },
		"DeleteOperation":    func() error { _, err := s.DeleteOperation(ctx, nil); return err },
		"BufferTask":         func() error { _, err := s.BufferTask(ctx, "", "", nil, ""); return err },
	}
	for name, call := range calls {
		if code := status.Code(call()); code != codes.InvalidArgument {
			t.Errorf("%s(nil) = %v, want INVALID_ARGUMENT", name, code)
		}
	}
	if code := status.Code(func() error { _, err := s.ListOperations(ctx, nil); return err }()); code != codes.Unimplemented {
		t.Errorf("ListOperations = %v, want UNIMPLEMENTED", code)
	}
}

func TestBufferTask(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	loc := "projects/p/locations/l"
	plain, routed := loc+"/queues/plain", loc+"/queues/routed"
	for _, q := range []*cloudtaskspb.Queue{
		{Name: plain},
		{Name: routed, HttpTarget: &cloudtaskspb.HttpTarget{
			HttpMethod: cloudtaskspb.HttpMethod_PUT,
			UriOverride: &cloudtaskspb.UriOverride{Host: proto.String("example.com"), Port: proto.Int64(8080),
				PathOverride: &cloudtaskspb.PathOverride{Path: "/in"}, Scheme: cloudtaskspb.UriOverride_HTTP.Enum()},
		}},
	} {
		if _, err := s.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: q}); err != nil {
			t.Fatal(err)
		}
	}
	task, err := s.BufferTask(ctx, routed, "b1", []byte("raw"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	r := task.GetHttpRequest()
	if task.Name != routed+"/tasks/b1" || r.Url != "http://example.com:8080/in" || r.HttpMethod != cloudtaskspb.HttpMethod_PUT ||
		r.Body != nil || r.Headers["Content-Type"] != "text/plain" || task.View != cloudtaskspb.Task_BASIC {
		t.Fatalf("BufferTask = %v", task)
	}
	full, err := s.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: task.Name, ResponseView: cloudtaskspb.Task_FULL})
	if err != nil || string(full.GetHttpRequest().Body) != "raw" {
		t.Fatalf("stored buffered task = %v, %v", full, err)
	}
	if _, err := s.BufferTask(ctx, routed, "", nil, ""); err != nil {
		t.Fatalf("BufferTask with generated ID: %v", err)
	}
	_, err = s.BufferTask(ctx, plain, "", []byte("x"), "")
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("BufferTask without http_target = %v", err)
	}
	_, err = s.BufferTask(ctx, loc+"/queues/missing", "", nil, "")
	wantStatus(t, "missing queue", err, codes.NotFound, msgQueueNotFound)
	_, err = s.BufferTask(ctx, routed, "bad id", nil, "")
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad task ID = %v", err)
	}
}

// TestMalformedInput: odd but well-typed input is refused, not crashed on.
func TestMalformedInput(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	loc := "projects/p/locations/l"
	calls := map[string]func() error{
		"NaN rate": func() error {
			_, err := s.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{
				Name: loc + "/queues/q", RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: math.NaN()}}})
			return err
		},
		"bad view": func() error {
			_, err := s.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: loc + "/queues/q/tasks/t", ResponseView: 9})
			return err
		},
		"bad policy version": func() error {
			_, err := s.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: loc + "/queues/q", Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 2}})
			return err
		},
		"bad operation name": func() error {
			_, err := s.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: loc + "/operations/x y"})
			return err
		},
		"bad location filter": func() error {
			_, err := s.ListLocations(ctx, &location.ListLocationsRequest{Name: "projects/p", Filter: "labels:x"})
			return err
		},
		"bad request id": func() error {
			_, err := s.BatchDeleteTasks(ctx, &cloudtaskspb.BatchDeleteTasksRequest{Parent: loc + "/queues/q", Names: []string{"x"}, RequestId: "nope"})
			return err
		},
		"bad mask on cmek": func() error {
			_, err := s.UpdateCmekConfig(ctx, &cloudtaskspb.UpdateCmekConfigRequest{CmekConfig: &cloudtaskspb.CmekConfig{Name: loc + "/cmekConfig"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"bogus"}}})
			return err
		},
	}
	for name, call := range calls {
		if code := status.Code(call()); code != codes.InvalidArgument {
			t.Errorf("%s = %v, want INVALID_ARGUMENT", name, code)
		}
	}
	if _, err := s.ListQueues(ctx, &cloudtaskspb.ListQueuesRequest{Parent: loc, PageSize: 1 << 30}); err != nil {
		t.Errorf("huge page size: %v", err)
	}
}
