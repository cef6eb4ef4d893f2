package auth_test

import (
	"context"
	"reflect"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	locationpb "google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/opentasks/opentasks/internal/auth"
)

// unimplemented is an API whose every method answers UNIMPLEMENTED.
type unimplemented struct {
	cloudtaskspb.UnimplementedCloudTasksServer
	locationpb.UnimplementedLocationsServer
	longrunningpb.UnimplementedOperationsServer
}

func (*unimplemented) BufferTask(context.Context, string, string, []byte, string) (*cloudtaskspb.Task, error) {
	return nil, status.Error(codes.Unimplemented, "BufferTask")
}

type noPolicies struct{}

func (noPolicies) QueuePolicy(context.Context, string) (*iampb.Policy, error) {
	return &iampb.Policy{}, nil
}

// TestEveryMethodGuarded: every method of the three services refuses a
// caller without roles before reaching the API (which would answer
// UNIMPLEMENTED), except TestIamPermissions, which needs no permission.
func TestEveryMethodGuarded(t *testing.T) {
	authz := auth.NewAuthorizer(func() *iampb.Policy { return &iampb.Policy{} }, noPolicies{})
	g := auth.NewGuard(&unimplemented{}, authz)
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Member: "user:nobody@example.com"})
	anon := context.Background()
	services := []protoreflect.ServiceDescriptor{
		cloudtaskspb.File_google_cloud_tasks_v2_cloudtasks_proto.Services().ByName("CloudTasks"),
		locationpb.File_google_cloud_location_locations_proto.Services().ByName("Locations"),
		longrunningpb.File_google_longrunning_operations_proto.Services().ByName("Operations"),
	}
	n := 0
	checkEveryMethod(t, g, services, ctx, anon, &n)
	if n < 25 {
		t.Fatalf("checked %d methods", n)
	}
	if _, err := g.BufferTask(ctx, "projects/p/locations/l/queues/q", "", nil, ""); status.Code(err) != codes.PermissionDenied {
		t.Errorf("BufferTask: %v", err)
	}

	// The same of WorkflowsGuard over the Workflows and Executions APIs.
	n = 0
	checkEveryMethod(t, auth.NewWorkflowsGuard(&unimplementedWorkflows{}, authz), []protoreflect.ServiceDescriptor{
		workflowspb.File_google_cloud_workflows_v1_workflows_proto.Services().ByName("Workflows"),
		executionspb.File_google_cloud_workflows_executions_v1_executions_proto.Services().ByName("Executions"),
	}, ctx, anon, &n)
	if n != 10 {
		t.Fatalf("checked %d Workflows and Executions methods; want 10", n)
	}
}

// unimplementedWorkflows is a WorkflowsAPI whose every method answers
// UNIMPLEMENTED.
type unimplementedWorkflows struct {
	workflowspb.UnimplementedWorkflowsServer
	executionspb.UnimplementedExecutionsServer
}

// checkEveryMethod calls g's method of each method of services with an
// empty request, as a caller with no roles (ctx) and as none (anon), and
// counts them in n.
func checkEveryMethod(t *testing.T, g any, services []protoreflect.ServiceDescriptor, ctx, anon context.Context, n *int) {
	t.Helper()
	for _, sd := range services {
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			name := string(md.Name())
			if name == "TestIamPermissions" {
				continue
			}
			m := reflect.ValueOf(g).MethodByName(name)
			if !m.IsValid() {
				t.Errorf("Guard has no method %s", name)
				continue
			}
			req := reflect.New(m.Type().In(1).Elem())
			for c, want := range map[context.Context]codes.Code{ctx: codes.PermissionDenied, anon: codes.Unauthenticated} {
				out := m.Call([]reflect.Value{reflect.ValueOf(c), req})
				err, _ := out[1].Interface().(error)
				if status.Code(err) != want {
					t.Errorf("%s: %v; want %v", name, err, want)
				}
			}
			*n++
		}
	}
}

// countingPolicies counts reads of queue policies.
type countingPolicies struct{ reads int }

func (c *countingPolicies) QueuePolicy(context.Context, string) (*iampb.Policy, error) {
	c.reads++
	return &iampb.Policy{}, nil
}

// TestQueuePolicyCached: calls on one queue read its policy once, until
// a SetIamPolicy through the Guard makes it read again.
func TestQueuePolicyCached(t *testing.T) {
	pols := &countingPolicies{}
	owner := auth.OwnerPolicy()
	authz := auth.NewAuthorizer(func() *iampb.Policy { return owner }, pols)
	g := auth.NewGuard(&unimplemented{}, authz)
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Member: "user:a@example.com"})
	const q = "projects/p/locations/l/queues/q"
	for range 3 {
		if _, err := g.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: q}); status.Code(err) != codes.Unimplemented {
			t.Fatalf("GetQueue: %v", err)
		}
	}
	if pols.reads != 1 {
		t.Fatalf("%d reads for three calls; want 1", pols.reads)
	}
	if _, err := g.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: q, Policy: &iampb.Policy{}}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("SetIamPolicy: %v", err)
	}
	if _, err := g.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: q}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetQueue: %v", err)
	}
	if pols.reads != 2 {
		t.Fatalf("%d reads; want 2 (the call after SetIamPolicy reads again)", pols.reads)
	}
}
