package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	workflowsapi "cloud.google.com/go/workflows/apiv1"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	executionsapi "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/opentasks/opentasks/internal/testpki"
)

// enqueueSource creates a task through the Cloud Tasks connector.
const enqueueSource = `
main:
  steps:
    - create:
        call: googleapis.cloudtasks.v2.projects.locations.queues.tasks.create
        args:
          parent: projects/p/locations/us-central1/queues/q
          body:
            task:
              httpRequest:
                url: http://127.0.0.1:9/never
        result: task
    - done:
        return: ${task.name}
`

// TestServeSecuredWorkflowConnectors: with TLS, tokens and a policy on,
// the connectors of a deployed workflow reach Cloud Tasks on the same
// server as the workflow's service account, which IAM then authorizes;
// only a caller who may act as that account may name it.
func TestServeSecuredWorkflowConnectors(t *testing.T) {
	ctx := deadline(t, time.Minute)
	dir := t.TempDir()
	ca := testpki.New(t)
	certFile, keyFile := ca.WriteFiles(dir, "serve")
	tokens := writeFile(t, "tokens", "t0ken user:ops@example.com\nd3v user:dev@example.com\n")
	policy := writeFile(t, "policy.json", `{"bindings": [
		{"role": "roles/cloudtasks.admin", "members": ["user:ops@example.com", "user:dev@example.com"]},
		{"role": "roles/workflows.admin", "members": ["user:ops@example.com", "user:dev@example.com"]},
		{"role": "roles/iam.serviceAccountUser", "members": ["user:ops@example.com"]},
		{"role": "roles/cloudtasks.enqueuer", "members": ["serviceAccount:enq@p.iam.gserviceaccount.com"]}]}`)
	url := serveWith(t, &lockedBuffer{}, []string{"OPENTASKS_STORE=sqlite:" + filepath.Join(dir, "db")},
		"--tls-cert", certFile, "--tls-key", keyFile, "--auth-tokens", tokens, "--iam-policy", policy)
	addr := strings.TrimPrefix(url, "https://")
	as := func(token string) []option.ClientOption {
		return []option.ClientOption{option.WithEndpoint(addr),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(ca.ClientConfig()))),
			option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))}
	}
	opts := as("t0ken")
	tc, err := cloudtasks.NewClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	wc, err := workflowsapi.NewClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	ec, err := executionsapi.NewClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()

	const parent = "projects/p/locations/us-central1"
	if _, err := tc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: parent + "/queues/q"}}); err != nil {
		t.Fatal(err)
	}
	// Paused: the task is created, never delivered.
	if _, err := tc.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: parent + "/queues/q"}); err != nil {
		t.Fatal(err)
	}
	for id, sa := range map[string]string{
		"enqueuer": "projects/p/serviceAccounts/enq@p.iam.gserviceaccount.com",
		"nobody":   "nobody@p.iam.gserviceaccount.com",
	} {
		op, err := wc.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: parent, WorkflowId: id,
			Workflow: &workflowspb.Workflow{ServiceAccount: sa, SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: enqueueSource}}})
		if err == nil {
			_, err = op.Wait(ctx)
		}
		if err != nil {
			t.Fatalf("deploy %s: %v", id, err)
		}
	}

	// Naming a service account is borrowing its permissions: it takes
	// iam.serviceAccounts.actAs, which dev lacks.
	dev, err := workflowsapi.NewClient(ctx, as("d3v")...)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	enq := &workflowspb.Workflow{ServiceAccount: "enq@p.iam.gserviceaccount.com", SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: enqueueSource}}
	if _, err := dev.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: parent, WorkflowId: "borrowed", Workflow: enq}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("dev deploys as enq: %v", err)
	}
	enq.Name = parent + "/workflows/nobody"
	_, err = dev.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{Workflow: enq, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"service_account"}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("dev moves nobody to enq: %v", err)
	}

	ex, err := ec.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: parent + "/workflows/enqueuer"})
	if err != nil {
		t.Fatal(err)
	}
	done := awaitExecution(t, ctx, ec, ex.GetName())
	if done.GetState() != executionspb.Execution_SUCCEEDED {
		t.Fatalf("enqueuer: %v %v", done.GetState(), done.GetError())
	}
	var name string
	if !strings.HasPrefix(done.GetResult(), `"`+parent+"/queues/q/tasks/") {
		t.Fatalf("enqueuer returned %s", done.GetResult())
	}
	name = strings.Trim(done.GetResult(), `"`)
	if _, err := tc.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: name}); err != nil {
		t.Fatalf("the task the workflow created: %v", err)
	}

	ex, err = ec.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: parent + "/workflows/nobody"})
	if err != nil {
		t.Fatal(err)
	}
	done = awaitExecution(t, ctx, ec, ex.GetName())
	if done.GetState() != executionspb.Execution_FAILED || !strings.Contains(done.GetError().GetPayload(), `"code":403`) {
		t.Fatalf("nobody: %v %v", done.GetState(), done.GetError())
	}
}
