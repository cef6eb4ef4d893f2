package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	workflowsapi "cloud.google.com/go/workflows/apiv1"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	executionsapi "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func workflowClients(t *testing.T, addr string) (*workflowsapi.Client, *executionsapi.Client) {
	t.Helper()
	opts := []option.ClientOption{option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	w, err := workflowsapi.NewClient(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := executionsapi.NewClient(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); e.Close() })
	return w, e
}

// TestExecutionInterruptedByKill9 kills the server (SIGKILL) while an
// execution waits on an HTTP call: after a restart on the same SQLite
// file the execution is not left ACTIVE but FAILED, saying it was
// interrupted (executions are not resumed).
func TestExecutionInterruptedByKill9(t *testing.T) {
	ctx := deadline(t, time.Minute)
	called := make(chan struct{}, 1)
	release := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		called <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer target.Close()
	defer close(release)

	db := "sqlite:" + filepath.Join(t.TempDir(), "opentasks.db")
	p := startProcess(t, "--store", db)
	wc, ec := workflowClients(t, p.addr)
	const parent = "projects/p/locations/us-central1"
	op, err := wc.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: parent, WorkflowId: "slow",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{
			SourceContents: "- wait:\n    call: http.get\n    args:\n      url: " + target.URL + "\n- done:\n    return: finished\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err := ec.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: parent + "/workflows/slow"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-called:
	case <-ctx.Done():
		t.Fatal("the execution never called its target")
	}
	p.kill()

	p2 := startProcess(t, "--store", db)
	_, ec2 := workflowClients(t, p2.addr)
	got, err := ec2.GetExecution(ctx, &executionspb.GetExecutionRequest{Name: ex.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != executionspb.Execution_FAILED || !strings.Contains(got.GetError().GetContext(), "interrupted") || got.GetEndTime() == nil {
		t.Fatalf("after kill -9 and restart: %v, want FAILED as interrupted", got)
	}
}
