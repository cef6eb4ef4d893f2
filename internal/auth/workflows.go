package auth

import (
	"context"
	"net/http"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
)

// Permissions of Cloud Workflows, as
// https://cloud.google.com/workflows/docs/access-control and
// https://cloud.google.com/iam/docs/roles-permissions/workflows list
// them (stepEntries, tag bindings and locations left out: OpenTasks
// serves none of them for Workflows).
const (
	PermWorkflowsCreate        = "workflows.workflows.create"
	PermWorkflowsDelete        = "workflows.workflows.delete"
	PermWorkflowsGet           = "workflows.workflows.get"
	PermWorkflowsList          = "workflows.workflows.list"
	PermWorkflowsListRevision  = "workflows.workflows.listRevision"
	PermWorkflowsUpdate        = "workflows.workflows.update"
	PermExecutionsCancel       = "workflows.executions.cancel"
	PermExecutionsCreate       = "workflows.executions.create"
	PermExecutionsGet          = "workflows.executions.get"
	PermExecutionsList         = "workflows.executions.list"
	PermCallbacksList          = "workflows.callbacks.list"
	PermCallbacksSend          = "workflows.callbacks.send"
	PermWorkflowsOperationsGet = "workflows.operations.get"
)

// allWorkflows is every Workflows permission OpenTasks checks
// (roles/workflows.admin's and .editor's share here: they differ only in
// permissions OpenTasks has nothing for).
var allWorkflows = []string{
	PermCallbacksList, PermCallbacksSend, PermExecutionsCancel, PermExecutionsCreate,
	PermExecutionsGet, PermExecutionsList, PermWorkflowsOperationsGet, PermWorkflowsCreate,
	PermWorkflowsDelete, PermWorkflowsGet, PermWorkflowsList, PermWorkflowsListRevision, PermWorkflowsUpdate,
}

// workflowsViewer is roles/workflows.viewer, also roles/viewer's share.
var workflowsViewer = []string{
	PermCallbacksList, PermExecutionsGet, PermExecutionsList, PermWorkflowsOperationsGet,
	PermWorkflowsGet, PermWorkflowsList, PermWorkflowsListRevision,
}

// workflowsInvoker is roles/workflows.invoker: run and manage executions,
// but not read or change the workflows themselves.
var workflowsInvoker = []string{
	PermCallbacksList, PermCallbacksSend, PermExecutionsCancel, PermExecutionsCreate,
	PermExecutionsGet, PermExecutionsList,
}

// operationPerms is the permission that guards an operation: the
// Workflows API names its operations "operation-MILLIS-HEX"
// (internal/workflowsapi), Cloud Tasks never does.
func operationPerms(name string) []string {
	if _, id, ok := strings.Cut(name, "/operations/"); ok && strings.HasPrefix(id, "operation-") {
		return perms(PermWorkflowsOperationsGet)
	}
	return perms(PermOperationsGet)
}

// WorkflowsAPI is the Workflows and Executions APIs (internal/workflowsapi).
type WorkflowsAPI interface {
	workflowspb.WorkflowsServer
	executionspb.ExecutionsServer
}

// WorkflowsGuard is WorkflowsAPI with IAM enforced, as Guard is for
// Cloud Tasks: each method checks the permission Cloud Workflows
// documents for it on the resource it names (a project-level policy
// only: Workflows has no resource-level policies), then delegates.
type WorkflowsGuard struct {
	workflowspb.UnimplementedWorkflowsServer
	executionspb.UnimplementedExecutionsServer
	api   WorkflowsAPI
	authz *Authorizer
}

var _ WorkflowsAPI = (*WorkflowsGuard)(nil)

// NewWorkflowsGuard returns api guarded by authz.
func NewWorkflowsGuard(api WorkflowsAPI, authz *Authorizer) *WorkflowsGuard {
	return &WorkflowsGuard{api: api, authz: authz}
}

func (g *WorkflowsGuard) ListWorkflows(ctx context.Context, req *workflowspb.ListWorkflowsRequest) (*workflowspb.ListWorkflowsResponse, error) {
	return guarded(ctx, g.authz, req.GetParent(), perms(PermWorkflowsList), req, g.api.ListWorkflows)
}

// GetWorkflow checks the workflow, not the revision NAME@REVISION names.
func (g *WorkflowsGuard) GetWorkflow(ctx context.Context, req *workflowspb.GetWorkflowRequest) (*workflowspb.Workflow, error) {
	name, _, _ := strings.Cut(req.GetName(), "@")
	return guarded(ctx, g.authz, name, perms(PermWorkflowsGet), req, g.api.GetWorkflow)
}

func (g *WorkflowsGuard) CreateWorkflow(ctx context.Context, req *workflowspb.CreateWorkflowRequest) (*longrunningpb.Operation, error) {
	return guarded(ctx, g.authz, req.GetParent(), perms(PermWorkflowsCreate), req, g.api.CreateWorkflow)
}

func (g *WorkflowsGuard) UpdateWorkflow(ctx context.Context, req *workflowspb.UpdateWorkflowRequest) (*longrunningpb.Operation, error) {
	return guarded(ctx, g.authz, req.GetWorkflow().GetName(), perms(PermWorkflowsUpdate), req, g.api.UpdateWorkflow)
}

func (g *WorkflowsGuard) DeleteWorkflow(ctx context.Context, req *workflowspb.DeleteWorkflowRequest) (*longrunningpb.Operation, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermWorkflowsDelete), req, g.api.DeleteWorkflow)
}

func (g *WorkflowsGuard) ListWorkflowRevisions(ctx context.Context, req *workflowspb.ListWorkflowRevisionsRequest) (*workflowspb.ListWorkflowRevisionsResponse, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermWorkflowsListRevision), req, g.api.ListWorkflowRevisions)
}

func (g *WorkflowsGuard) CreateExecution(ctx context.Context, req *executionspb.CreateExecutionRequest) (*executionspb.Execution, error) {
	return guarded(ctx, g.authz, req.GetParent(), perms(PermExecutionsCreate), req, g.api.CreateExecution)
}

func (g *WorkflowsGuard) GetExecution(ctx context.Context, req *executionspb.GetExecutionRequest) (*executionspb.Execution, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermExecutionsGet), req, g.api.GetExecution)
}

func (g *WorkflowsGuard) ListExecutions(ctx context.Context, req *executionspb.ListExecutionsRequest) (*executionspb.ListExecutionsResponse, error) {
	return guarded(ctx, g.authz, req.GetParent(), perms(PermExecutionsList), req, g.api.ListExecutions)
}

func (g *WorkflowsGuard) CancelExecution(ctx context.Context, req *executionspb.CancelExecutionRequest) (*executionspb.Execution, error) {
	return guarded(ctx, g.authz, req.GetName(), perms(PermExecutionsCancel), req, g.api.CancelExecution)
}

// CallbacksGuard guards the HTTP routes of callbacks: a request that
// completes a callback (/callbacks/NAME, /v1/NAME) needs
// workflows.callbacks.send, and one that lists them (GET
// /v1/EXECUTION/callbacks) workflows.callbacks.list, on the execution.
// A denial is written as REST writes errors, by writeError.
func (a *Authorizer) CallbacksGuard(h http.Handler, writeError func(http.ResponseWriter, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/v1/")
		perm, execution := PermCallbacksList, strings.TrimSuffix(path, "/callbacks")
		if i := strings.LastIndex(path, "/callbacks/"); i >= 0 {
			perm, execution = PermCallbacksSend, path[:i]
			if j := strings.Index(execution, "projects/"); j >= 0 {
				execution = execution[j:] // /callbacks/projects/...
			}
		}
		if err := a.Check(r.Context(), perm, execution); err != nil {
			writeError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}
