package auth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	workflows "cloud.google.com/go/workflows/apiv1"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	executions "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/grpc/codes"

	"github.com/opentasks/opentasks/internal/auth"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/workflowsapi"
	wfrun "github.com/opentasks/opentasks/workflows"
)

const (
	wfViewerToken  = "wfviewer-token"
	wfInvokerToken = "invoker-token"
	wfAdminToken   = "wfadmin-token"
	wfLocation     = "projects/p/locations/l"
	// sleepy runs until cancelled (or the service stops).
	sleepy = "main:\n  steps:\n    - wait:\n        call: sys.sleep\n        args: {seconds: 3600}\n"
)

// startWorkflows is start with the Workflows and Executions APIs behind
// IAM on the port, wired as serve wires them.
func startWorkflows(t *testing.T) *env {
	t.Helper()
	return startWith(t, func(st *sqlite.Store, authz *auth.Authorizer) []server.Option {
		svc := workflowsapi.New(st, st, workflowsapi.Config{})
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Stop)
		api := auth.NewWorkflowsGuard(svc, authz)
		return []server.Option{
			server.WithService(&workflowspb.Workflows_ServiceDesc, api),
			server.WithService(&executionspb.Executions_ServiceDesc, api),
			server.WithRESTRules(workflowsapi.MixinRules()...),
			server.WithAPIHandler(workflowsapi.CreateExecutionRoute, workflowsapi.CreateExecutionHandler(api)),
			server.WithAPIHandler(wfrun.CallbackRESTPattern, authz.CallbacksGuard(svc.CallbacksHandler(), server.WriteError)),
		}
	})
}

// wfClients are the official Workflows client over gRPC and REST and the
// Executions client (gRPC: the released library has no REST one).
func (e *env) wfClients(t *testing.T, token string) (map[string]*workflows.Client, *executions.Client) {
	t.Helper()
	ctx := context.Background()
	grpcOpts, restOpts := e.options(t, token)
	g, err := workflows.NewClient(ctx, grpcOpts...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := workflows.NewRESTClient(ctx, restOpts...)
	if err != nil {
		t.Fatal(err)
	}
	x, err := executions.NewClient(ctx, grpcOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close(); r.Close(); x.Close() })
	return map[string]*workflows.Client{"grpc": g, "rest": r}, x
}

func TestWorkflowsIAM(t *testing.T) {
	e := startWorkflows(t)
	ctx := context.Background()
	admin, adminEx := e.wfClients(t, wfAdminToken)
	viewer, viewerEx := e.wfClients(t, wfViewerToken)
	invoker, invokerEx := e.wfClients(t, wfInvokerToken)
	enqueuer, _ := e.wfClients(t, enqueuerToken) // Cloud Tasks roles only
	anonymous, _ := e.wfClients(t, "")

	for _, tr := range []string{"grpc", "rest"} {
		t.Run(tr, func(t *testing.T) {
			id := "w-" + tr
			name := wfLocation + "/workflows/" + id
			deploy := func(c *workflows.Client) error {
				op, err := c.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: wfLocation, WorkflowId: id,
					Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: sleepy}}})
				if err == nil {
					_, err = op.Wait(ctx)
				}
				return err
			}
			_, err := anonymous[tr].ListWorkflows(ctx, &workflowspb.ListWorkflowsRequest{Parent: wfLocation}).Next()
			wantError(t, tr, err, codes.Unauthenticated, "")
			wantError(t, tr, deploy(viewer[tr]), codes.PermissionDenied, denied(auth.PermWorkflowsCreate, wfLocation))
			wantError(t, tr, deploy(invoker[tr]), codes.PermissionDenied, denied(auth.PermWorkflowsCreate, wfLocation))
			wantError(t, tr, deploy(enqueuer[tr]), codes.PermissionDenied, denied(auth.PermWorkflowsCreate, wfLocation))
			if err := deploy(admin[tr]); err != nil {
				t.Fatalf("admin deploys: %v", err)
			}

			// A viewer reads workflows and executions, and changes nothing.
			if _, err := viewer[tr].GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name}); err != nil {
				t.Fatalf("viewer GetWorkflow: %v", err)
			}
			if w, err := viewer[tr].ListWorkflows(ctx, &workflowspb.ListWorkflowsRequest{Parent: wfLocation, Filter: "name=" + name}).Next(); err != nil || w.GetName() != name {
				t.Fatalf("viewer ListWorkflows = %v, %v", w, err)
			}
			_, err = viewer[tr].DeleteWorkflow(ctx, &workflowspb.DeleteWorkflowRequest{Name: name})
			wantError(t, tr, err, codes.PermissionDenied, denied(auth.PermWorkflowsDelete, name))
			_, err = viewerEx.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: name})
			wantError(t, "grpc", err, codes.PermissionDenied, denied(auth.PermExecutionsCreate, name))

			// An invoker runs and cancels executions, but neither reads
			// nor deploys the workflow.
			ex, err := invokerEx.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: name})
			if err != nil {
				t.Fatalf("invoker CreateExecution: %v", err)
			}
			if got, err := viewerEx.GetExecution(ctx, &executionspb.GetExecutionRequest{Name: ex.GetName()}); err != nil || got.GetState() != executionspb.Execution_ACTIVE {
				t.Fatalf("viewer GetExecution = %v, %v", got, err)
			}
			_, err = viewerEx.CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: ex.GetName()})
			wantError(t, "grpc", err, codes.PermissionDenied, denied(auth.PermExecutionsCancel, ex.GetName()))
			if got, err := invokerEx.CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: ex.GetName()}); err != nil || got.GetState() != executionspb.Execution_CANCELLED {
				t.Fatalf("invoker CancelExecution = %v, %v", got, err)
			}
			_, err = invoker[tr].GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name})
			wantError(t, tr, err, codes.PermissionDenied, denied(auth.PermWorkflowsGet, name))
			op, err := invoker[tr].UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{Workflow: &workflowspb.Workflow{Name: name, Description: "x"}})
			if err == nil {
				_, err = op.Wait(ctx)
			}
			wantError(t, tr, err, codes.PermissionDenied, denied(auth.PermWorkflowsUpdate, name))

			// The admin does all of it, down to deleting the workflow.
			ex, err = adminEx.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: name})
			if err != nil {
				t.Fatalf("admin CreateExecution: %v", err)
			}
			if _, err := adminEx.CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: ex.GetName()}); err != nil {
				t.Fatalf("admin CancelExecution: %v", err)
			}
			if list, err := adminEx.ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: name}).Next(); err != nil || list == nil {
				t.Fatalf("admin ListExecutions = %v, %v", list, err)
			}
			dop, err := admin[tr].DeleteWorkflow(ctx, &workflowspb.DeleteWorkflowRequest{Name: name})
			if err == nil {
				err = dop.Wait(ctx)
			}
			if err != nil {
				t.Fatalf("admin DeleteWorkflow: %v", err)
			}
		})
	}
}

// TestWorkflowsIAMRESTRoutes: the REST routes served beside the
// transcoder (CreateExecution of Cloud Tasks' buffering pattern, sending
// a callback) are guarded too.
func TestWorkflowsIAMRESTRoutes(t *testing.T) {
	e := startWorkflows(t)
	ctx := context.Background()
	admin, _ := e.wfClients(t, wfAdminToken)
	op, err := admin["grpc"].CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: wfLocation, WorkflowId: "w",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: sleepy}}})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	name := wfLocation + "/workflows/w"
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: e.ca.ClientConfig()}}
	post := func(path, token string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+e.addr+path, strings.NewReader(`{"argument": "{}"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/v1/" + name + "/executions", wfViewerToken, http.StatusForbidden},
		{"/v1/" + name + "/executions", wfInvokerToken, http.StatusOK},
		// Past the guard, an unknown callback is 404.
		{"/v1/" + name + "/executions/e/callbacks/c", wfViewerToken, http.StatusForbidden},
		{"/v1/" + name + "/executions/e/callbacks/c", wfInvokerToken, http.StatusNotFound},
	} {
		if got := post(c.path, c.token); got != c.want {
			t.Errorf("POST %s as %s: %d; want %d", c.path, c.token, got, c.want)
		}
	}
}
