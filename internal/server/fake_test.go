package server_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/opentasks/opentasks/internal/server"
)

// fakeAPI answers a few methods in a fixed way and records the last
// request, so tests see exactly what the transport delivered.
type fakeAPI struct {
	cloudtaskspb.UnimplementedCloudTasksServer
	location.UnimplementedLocationsServer
	longrunningpb.UnimplementedOperationsServer

	mu   sync.Mutex
	last proto.Message
	buf  bufferCall
}

type bufferCall struct {
	queue, taskID, contentType string
	body                       []byte
}

func (f *fakeAPI) record(m proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = proto.Clone(m)
}

func (f *fakeAPI) lastRequest() proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeAPI) GetQueue(_ context.Context, req *cloudtaskspb.GetQueueRequest) (*cloudtaskspb.Queue, error) {
	f.record(req)
	switch {
	case strings.HasSuffix(req.GetName(), "/missing"):
		st, _ := status.New(codes.NotFound, "Queue does not exist.").WithDetails(&errdetails.Help{
			Links: []*errdetails.Help_Link{{Description: "Definition of queue name", Url: "https://example.com/q"}},
		})
		return nil, st.Err()
	case strings.HasSuffix(req.GetName(), "/gone"):
		return nil, status.Error(codes.FailedPrecondition, "gone")
	case strings.HasSuffix(req.GetName(), "/panic"):
		panic("boom")
	case strings.HasSuffix(req.GetName(), "/broken"):
		return nil, status.Error(codes.Internal, "getting queue: disk I/O error")
	}
	return &cloudtaskspb.Queue{Name: req.GetName(), State: cloudtaskspb.Queue_PAUSED}, nil
}

func (f *fakeAPI) CreateQueue(_ context.Context, req *cloudtaskspb.CreateQueueRequest) (*cloudtaskspb.Queue, error) {
	f.record(req)
	return req.GetQueue(), nil
}

func (f *fakeAPI) UpdateQueue(_ context.Context, req *cloudtaskspb.UpdateQueueRequest) (*cloudtaskspb.Queue, error) {
	f.record(req)
	return req.GetQueue(), nil
}

func (f *fakeAPI) DeleteQueue(_ context.Context, req *cloudtaskspb.DeleteQueueRequest) (*emptypb.Empty, error) {
	f.record(req)
	return &emptypb.Empty{}, nil
}

func (f *fakeAPI) ListTasks(_ context.Context, req *cloudtaskspb.ListTasksRequest) (*cloudtaskspb.ListTasksResponse, error) {
	f.record(req)
	return &cloudtaskspb.ListTasksResponse{Tasks: []*cloudtaskspb.Task{{Name: req.GetParent() + "/tasks/t", View: req.GetResponseView()}}}, nil
}

func (f *fakeAPI) CreateTask(_ context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	f.record(req)
	return req.GetTask(), nil
}

func (f *fakeAPI) RunTask(_ context.Context, req *cloudtaskspb.RunTaskRequest) (*cloudtaskspb.Task, error) {
	f.record(req)
	return &cloudtaskspb.Task{Name: req.GetName(), View: req.GetResponseView()}, nil
}

func (f *fakeAPI) GetLocation(_ context.Context, req *location.GetLocationRequest) (*location.Location, error) {
	f.record(req)
	return &location.Location{Name: req.GetName(), LocationId: req.GetName()[strings.LastIndexByte(req.GetName(), '/')+1:]}, nil
}

func (f *fakeAPI) ListLocations(_ context.Context, req *location.ListLocationsRequest) (*location.ListLocationsResponse, error) {
	f.record(req)
	return &location.ListLocationsResponse{Locations: []*location.Location{{Name: req.GetName() + "/locations/here", LocationId: "here"}}}, nil
}

func (f *fakeAPI) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	f.record(req)
	return &longrunningpb.Operation{Name: req.GetName(), Done: true}, nil
}

func (f *fakeAPI) BufferTask(_ context.Context, queue, taskID string, body []byte, contentType string) (*cloudtaskspb.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = bufferCall{queue: queue, taskID: taskID, contentType: contentType, body: body}
	if strings.HasSuffix(queue, "/panic") {
		panic("buffer boom")
	}
	if strings.HasSuffix(queue, "/broken") {
		return nil, status.Error(codes.Internal, "buffering task: disk I/O error")
	}
	return &cloudtaskspb.Task{Name: queue + "/tasks/" + taskID, View: cloudtaskspb.Task_BASIC}, nil
}

// startFake serves a fakeAPI on a real listener with h2c, as serve does.
// waitLimit bounds every wait on a signal, so that a hang fails with a
// message instead of stalling the run.
const waitLimit = 10 * time.Second

// recv returns the next value from ch, failing the test if none comes
// within waitLimit; what names the awaited value in the failure.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
	}
	t.Fatalf("no %s within %v", what, waitLimit)
	var zero T
	return zero
}

// send hands v to ch, failing the test if no one takes it within
// waitLimit; what names the value in the failure.
func send[T any](t *testing.T, ch chan<- T, v T, what string) {
	t.Helper()
	select {
	case ch <- v:
	case <-time.After(waitLimit):
		t.Fatalf("%s not taken within %v", what, waitLimit)
	}
}

func startFake(t *testing.T, opts ...server.Option) (*fakeAPI, *httptest.Server) {
	t.Helper()
	api := &fakeAPI{}
	h := server.New(api, opts...)
	ts := httptest.NewUnstartedServer(h)
	ts.Config = server.NewHTTPServer(h)
	ts.Start()
	t.Cleanup(ts.Close)
	return api, ts
}
