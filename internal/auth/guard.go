package auth

import (
	"cmp"
	"context"
	"slices"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/opentasks/opentasks/internal/server"
)

// Guard is the Cloud Tasks API with IAM enforced: each method checks the
// permission IAM_SPEC §1 names for it on the resource it names, then
// calls the API it wraps. Whoever holds a Guard (the transport, the web
// console) gets the same checks; a method added to the API later is
// UNIMPLEMENTED here until it gets its check.
type Guard struct {
	cloudtaskspb.UnimplementedCloudTasksServer
	longrunningpb.UnimplementedOperationsServer
	api   server.API
	authz *Authorizer
}

var _ server.API = (*Guard)(nil)

// NewGuard returns api guarded by authz.
func NewGuard(api server.API, authz *Authorizer) *Guard {
	return &Guard{api: api, authz: authz}
}

// guarded checks perms on resource, then calls call.
func guarded[Req, Resp any](ctx context.Context, a *Authorizer, resource string, perms []string, req Req, call func(context.Context, Req) (Resp, error)) (Resp, error) {
	for _, p := range perms {
		if err := a.Check(ctx, p, resource); err != nil {
			var zero Resp
			return zero, err
		}
	}
	return call(ctx, req)
}

func perms(p ...string) []string { return p }

// withView adds tasks.fullView to perm when a call asks for FULL tasks.
func withView(v cloudtaskspb.Task_View, perm string) []string {
	if v == cloudtaskspb.Task_FULL {
		return perms(perm, PermTasksFullView)
	}
	return perms(perm)
}

// actAs checks that the caller may have tokens minted for the service
// accounts task or queue targets name (IAM_SPEC §6).
func (g *Guard) actAs(ctx context.Context, emails ...string) error {
	for _, e := range emails {
		if e == "" {
			continue
		}
		if err := g.authz.Check(ctx, PermActAs, e); err != nil {
			return err
		}
	}
	return nil
}

func taskAccounts(t *cloudtaskspb.Task) []string {
	hr := t.GetHttpRequest()
	return []string{hr.GetOidcToken().GetServiceAccountEmail(), hr.GetOauthToken().GetServiceAccountEmail()}
}

func queueAccounts(q *cloudtaskspb.Queue) []string {
	ht := q.GetHttpTarget()
	return []string{ht.GetOidcToken().GetServiceAccountEmail(), ht.GetOauthToken().GetServiceAccountEmail()}
}

func (g *Guard) ListQueues(ctx context.Context, req *cloudtaskspb.ListQueuesRequest) (*cloudtaskspb.ListQueuesResponse, error) {
	return guarded(ctx, g.authz, req.GetParent(), perms(PermQueuesList), req, g.api.ListQueues)
}

func (g *Guard) GetQueue(ctx context.Context, req *cloudtaskspb.GetQueueRequest) (*cloudtaskspb.Queue, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermQueuesGet), req, g.api.GetQueue)
}

func (g *Guard) CreateQueue(ctx context.Context, req *cloudtaskspb.CreateQueueRequest) (*cloudtaskspb.Queue, error) {
	if err := g.actAs(ctx, queueAccounts(req.GetQueue())...); err != nil {
		return nil, err
	}
	return guarded(ctx, g.authz, req.GetParent(), perms(PermQueuesCreate), req, g.api.CreateQueue)
}

func (g *Guard) UpdateQueue(ctx context.Context, req *cloudtaskspb.UpdateQueueRequest) (*cloudtaskspb.Queue, error) {
	if err := g.actAs(ctx, queueAccounts(req.GetQueue())...); err != nil {
		return nil, err
	}
	return guarded(ctx, g.authz, req.GetQueue().GetName(), perms(PermQueuesUpdate), req, g.api.UpdateQueue)
}

// DeleteQueue also forgets the queue's policy, which the store drops.
func (g *Guard) DeleteQueue(ctx context.Context, req *cloudtaskspb.DeleteQueueRequest) (*emptypb.Empty, error) {
	defer g.authz.Forget(req.GetName())
	return guarded(ctx, g.authz, req.GetName(), perms(PermQueuesDelete), req, g.api.DeleteQueue)
}

func (g *Guard) PurgeQueue(ctx context.Context, req *cloudtaskspb.PurgeQueueRequest) (*cloudtaskspb.Queue, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermQueuesPurge), req, g.api.PurgeQueue)
}

func (g *Guard) PauseQueue(ctx context.Context, req *cloudtaskspb.PauseQueueRequest) (*cloudtaskspb.Queue, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermQueuesPause), req, g.api.PauseQueue)
}

func (g *Guard) ResumeQueue(ctx context.Context, req *cloudtaskspb.ResumeQueueRequest) (*cloudtaskspb.Queue, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermQueuesResume), req, g.api.ResumeQueue)
}

func (g *Guard) GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	return guarded(ctx, g.authz, req.GetResource(), perms(PermQueuesGetIamPolicy), req, g.api.GetIamPolicy)
}

// SetIamPolicy also refuses policies OpenTasks could not enforce.
func (g *Guard) SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	if err := g.authz.Check(ctx, PermQueuesSetIamPolicy, req.GetResource()); err != nil {
		return nil, err
	}
	if err := ValidatePolicy(req.GetPolicy()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	defer g.authz.Forget(req.GetResource())
	return g.api.SetIamPolicy(ctx, req)
}

// TestIamPermissions needs no permission and answers with the requested
// permissions the caller holds on the queue (none if it does not exist).
func (g *Guard) TestIamPermissions(ctx context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	if _, ok := PrincipalFrom(ctx); !ok {
		return nil, Unauthenticated(false)
	}
	for _, p := range req.GetPermissions() {
		if !slices.Contains(queuePermissions, p) {
			return nil, status.Errorf(codes.InvalidArgument, "Permission %s is not valid for this resource.", p)
		}
	}
	resp, err := g.api.TestIamPermissions(ctx, req)
	if err != nil {
		return nil, err
	}
	held, err := g.authz.Held(ctx, req.GetResource(), resp.GetPermissions()...)
	if err != nil {
		return nil, err
	}
	return &iampb.TestIamPermissionsResponse{Permissions: held}, nil
}

func (g *Guard) ListTasks(ctx context.Context, req *cloudtaskspb.ListTasksRequest) (*cloudtaskspb.ListTasksResponse, error) {
	return guarded(ctx, g.authz, req.GetParent(), withView(req.GetResponseView(), PermTasksList), req, g.api.ListTasks)
}

func (g *Guard) GetTask(ctx context.Context, req *cloudtaskspb.GetTaskRequest) (*cloudtaskspb.Task, error) {
	return guarded(ctx, g.authz, req.GetName(), withView(req.GetResponseView(), PermTasksGet), req, g.api.GetTask)
}

func (g *Guard) CreateTask(ctx context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	return guarded(ctx, g.authz, req.GetParent(), withView(req.GetResponseView(), PermTasksCreate), req,
		func(ctx context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
			if err := g.actAs(ctx, taskAccounts(req.GetTask())...); err != nil {
				return nil, err
			}
			return g.api.CreateTask(ctx, req)
		})
}

// BatchCreateTasks checks each sub-request's parent as CreateTask would.
func (g *Guard) BatchCreateTasks(ctx context.Context, req *cloudtaskspb.BatchCreateTasksRequest) (*longrunningpb.Operation, error) {
	if err := g.authz.Check(ctx, PermTasksCreate, req.GetParent()); err != nil {
		return nil, err
	}
	for _, r := range req.GetRequests() {
		for _, p := range withView(r.GetResponseView(), PermTasksCreate) {
			if err := g.authz.Check(ctx, p, cmp.Or(r.GetParent(), req.GetParent())); err != nil {
				return nil, err
			}
		}
		if err := g.actAs(ctx, taskAccounts(r.GetTask())...); err != nil {
			return nil, err
		}
	}
	return g.api.BatchCreateTasks(ctx, req)
}

func (g *Guard) DeleteTask(ctx context.Context, req *cloudtaskspb.DeleteTaskRequest) (*emptypb.Empty, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermTasksDelete), req, g.api.DeleteTask)
}

// BatchDeleteTasks checks each named task as DeleteTask would.
func (g *Guard) BatchDeleteTasks(ctx context.Context, req *cloudtaskspb.BatchDeleteTasksRequest) (*longrunningpb.Operation, error) {
	if err := g.authz.Check(ctx, PermTasksDelete, req.GetParent()); err != nil {
		return nil, err
	}
	for _, n := range req.GetNames() {
		if err := g.authz.Check(ctx, PermTasksDelete, n); err != nil {
			return nil, err
		}
	}
	return g.api.BatchDeleteTasks(ctx, req)
}

func (g *Guard) RunTask(ctx context.Context, req *cloudtaskspb.RunTaskRequest) (*cloudtaskspb.Task, error) {
	return guarded(ctx, g.authz, req.GetName(), withView(req.GetResponseView(), PermTasksRun), req, g.api.RunTask)
}

func (g *Guard) GetCmekConfig(ctx context.Context, req *cloudtaskspb.GetCmekConfigRequest) (*cloudtaskspb.CmekConfig, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermCmekGet), req, g.api.GetCmekConfig)
}

func (g *Guard) UpdateCmekConfig(ctx context.Context, req *cloudtaskspb.UpdateCmekConfigRequest) (*cloudtaskspb.CmekConfig, error) {
	return guarded(ctx, g.authz, req.GetCmekConfig().GetName(), perms(PermCmekUpdate), req, g.api.UpdateCmekConfig)
}

func (g *Guard) ListLocations(ctx context.Context, req *location.ListLocationsRequest) (*location.ListLocationsResponse, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermLocationsList), req, g.api.ListLocations)
}

func (g *Guard) GetLocation(ctx context.Context, req *location.GetLocationRequest) (*location.Location, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermLocationsGet), req, g.api.GetLocation)
}

// The Operations mixin: Cloud Tasks has only operations.get, which
// guards reading and waiting; forgetting or cancelling an operation
// changes nothing a task depends on, so it needs the same. The one
// Operations service on the port also holds the operations of workflow
// writes, which need workflows.operations.get instead (operationPerms).

func (g *Guard) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	return guarded(ctx, g.authz, req.GetName(), operationPerms(req.GetName()), req, g.api.GetOperation)
}

func (g *Guard) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	return guarded(ctx, g.authz, req.GetName(), operationPerms(req.GetName()), req, g.api.WaitOperation)
}

func (g *Guard) CancelOperation(ctx context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	return guarded(ctx, g.authz, req.GetName(), operationPerms(req.GetName()), req, g.api.CancelOperation)
}

func (g *Guard) DeleteOperation(ctx context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	return guarded(ctx, g.authz, req.GetName(), operationPerms(req.GetName()), req, g.api.DeleteOperation)
}

func (g *Guard) ListOperations(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	return guarded(ctx, g.authz, req.GetName(), operationPerms(req.GetName()), req, g.api.ListOperations)
}

// BufferTask is CreateTask over REST.
func (g *Guard) BufferTask(ctx context.Context, queue, taskID string, body []byte, contentType string) (*cloudtaskspb.Task, error) {
	if err := g.authz.Check(ctx, PermTasksCreate, queue); err != nil {
		return nil, err
	}
	return g.api.BufferTask(ctx, queue, taskID, body, contentType)
}
