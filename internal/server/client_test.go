package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

const queueName = "projects/p/locations/l/queues/q"

// clients returns the official Go client over gRPC and over REST, both
// pointed at a fresh fake server.
func clients(t *testing.T) (*fakeAPI, map[string]*cloudtasks.Client) {
	t.Helper()
	api, ts := startFake(t)
	return api, dialClients(t, ts.URL)
}

// dialClients returns the official Go client over gRPC and over REST,
// keyed by transport, both pointed at base ("http://host:port"); the
// test's cleanup closes them.
func dialClients(t *testing.T, base string) map[string]*cloudtasks.Client {
	t.Helper()
	ctx := context.Background()
	g, err := cloudtasks.NewClient(ctx, option.WithEndpoint(strings.TrimPrefix(base, "http://")), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	r, err := cloudtasks.NewRESTClient(ctx, option.WithEndpoint(base), option.WithoutAuthentication())
	if err != nil {
		g.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close(); r.Close() })
	return map[string]*cloudtasks.Client{"grpc": g, "rest": r}
}

func TestClientsReachTheService(t *testing.T) {
	api, cs := clients(t)
	ctx := context.Background()
	for transport, c := range cs {
		t.Run(transport, func(t *testing.T) {
			q, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queueName})
			if err != nil || q.GetName() != queueName || q.GetState() != cloudtaskspb.Queue_PAUSED {
				t.Fatalf("GetQueue = %v, %v", q, err)
			}

			// RunTask's REST body repeats the path field "name".
			task, err := c.RunTask(ctx, &cloudtaskspb.RunTaskRequest{Name: queueName + "/tasks/t", ResponseView: cloudtaskspb.Task_FULL})
			if err != nil || task.GetView() != cloudtaskspb.Task_FULL {
				t.Fatalf("RunTask = %v, %v", task, err)
			}
			want := &cloudtaskspb.RunTaskRequest{Name: queueName + "/tasks/t", ResponseView: cloudtaskspb.Task_FULL}
			if got := api.lastRequest(); !proto.Equal(got, want) {
				t.Fatalf("RunTask request = %v, want %v", got, want)
			}

			// CreateTask sends enums as numbers and parent in the body too.
			in := &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
				Url: "https://example.com", HttpMethod: cloudtaskspb.HttpMethod_PUT, Body: []byte{0, 1, 2},
			}}}
			task, err = c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: in})
			if err != nil || !proto.Equal(task, in) {
				t.Fatalf("CreateTask = %v, %v; want %v", task, err, in)
			}

			it := c.ListTasks(ctx, &cloudtaskspb.ListTasksRequest{Parent: queueName, ResponseView: cloudtaskspb.Task_FULL, PageSize: 7})
			task, err = it.Next()
			if err != nil || task.GetView() != cloudtaskspb.Task_FULL {
				t.Fatalf("ListTasks = %v, %v", task, err)
			}
			if got := api.lastRequest().(*cloudtaskspb.ListTasksRequest); got.GetPageSize() != 7 || got.GetParent() != queueName {
				t.Fatalf("ListTasks request = %v", got)
			}

			if err := c.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: queueName}); err != nil {
				t.Fatalf("DeleteQueue: %v", err)
			}

			loc, err := c.GetLocation(ctx, &location.GetLocationRequest{Name: "projects/p/locations/l"})
			if err != nil || loc.GetLocationId() != "l" {
				t.Fatalf("GetLocation = %v, %v", loc, err)
			}
			locs := c.ListLocations(ctx, &location.ListLocationsRequest{Name: "projects/p"})
			if loc, err := locs.Next(); err != nil || loc.GetName() != "projects/p/locations/here" {
				t.Fatalf("ListLocations = %v, %v", loc, err)
			}
			op, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "projects/p/locations/l/operations/o"})
			if err != nil || !op.GetDone() || op.GetName() != "projects/p/locations/l/operations/o" {
				t.Fatalf("GetOperation = %v, %v", op, err)
			}
		})
	}
}

func TestClientsSeeGoogleErrors(t *testing.T) {
	_, cs := clients(t)
	ctx := context.Background()
	for transport, c := range cs {
		t.Run(transport, func(t *testing.T) {
			_, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: "projects/p/locations/l/queues/missing"})
			var ae *apierror.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("GetQueue error %v is not an APIError", err)
			}
			if ae.GRPCStatus().Code() != codes.NotFound || ae.GRPCStatus().Message() != "Queue does not exist." {
				t.Fatalf("status = %v", ae.GRPCStatus())
			}
			if transport == "rest" && ae.HTTPCode() != 404 {
				t.Fatalf("HTTP code = %d", ae.HTTPCode())
			}
			if help := ae.Details().Help; len(help.GetLinks()) != 1 || help.GetLinks()[0].GetUrl() != "https://example.com/q" {
				t.Fatalf("Help detail = %v", help)
			}

			_, err = c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: "projects/p/locations/l/queues/panic"})
			if !errors.As(err, &ae) || ae.GRPCStatus().Code() != codes.Internal {
				t.Fatalf("panic error = %v", err)
			}
		})
	}
}

// rawCodec sends and receives messages as wire bytes (*[]byte), so a test
// can send what no generated client would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)   { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error { *v.(*[]byte) = b; return nil }
func (rawCodec) Name() string                    { return "proto" }

// TestGRPCUndecodableRequest: a request that is not a valid message is the
// caller's INVALID_ARGUMENT, never INTERNAL, and reaches no method.
func TestGRPCUndecodableRequest(t *testing.T) {
	api, ts := startFake(t)
	cc, err := grpc.NewClient(strings.TrimPrefix(ts.URL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	badUTF8 := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), queueName+"\xff")
	for name, req := range map[string][]byte{
		"invalid UTF-8": badUTF8,
		"truncated":     {0x0a, 0x50},
		"bad wire type": {0xff, 0xff},
	} {
		var resp []byte
		err := cc.Invoke(context.Background(), "/google.cloud.tasks.v2.CloudTasks/GetQueue", &req, &resp, grpc.ForceCodec(rawCodec{}))
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "Invalid proto payload received: ") {
			t.Errorf("%s: %v; want INVALID_ARGUMENT", name, err)
		}
	}
	if got := api.lastRequest(); got != nil {
		t.Errorf("the service saw %v", got)
	}
	// A valid call on the same server still works.
	good, err := proto.Marshal(&cloudtaskspb.GetQueueRequest{Name: queueName})
	if err != nil {
		t.Fatal(err)
	}
	var resp []byte
	if err := cc.Invoke(context.Background(), "/google.cloud.tasks.v2.CloudTasks/GetQueue", &good, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		t.Fatalf("valid GetQueue: %v", err)
	}
}
