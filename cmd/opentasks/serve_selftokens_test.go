package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	workflowsapi "cloud.google.com/go/workflows/apiv1"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
)

// TestTasksTargetingTheServer: with authentication on, a task whose
// target is this server (the buffer-executions pattern) reaches it with
// the OIDC token the server itself signed, as the task's service
// account, which IAM then authorizes like any caller.
func TestTasksTargetingTheServer(t *testing.T) {
	ctx := deadline(t, time.Minute)
	dir := t.TempDir()
	tokens := writeFile(t, "tokens", "t0ken user:ops@example.com\n")
	policy := writeFile(t, "policy.json", `{"bindings": [
		{"role": "roles/cloudtasks.admin", "members": ["user:ops@example.com"]},
		{"role": "roles/workflows.admin", "members": ["user:ops@example.com"]},
		{"role": "roles/workflows.invoker", "members": ["serviceAccount:runner@p.iam.gserviceaccount.com"]},
		{"role": "roles/iam.serviceAccountUser", "members": ["user:ops@example.com"]},
		{"role": "roles/cloudtasks.enqueuer", "members": ["serviceAccount:runner@p.iam.gserviceaccount.com"]}]}`)
	base := serveWith(t, &lockedBuffer{}, []string{"OPENTASKS_STORE=sqlite:" + filepath.Join(dir, "db")},
		"--auth-tokens", tokens, "--iam-policy", policy)
	opts := []option.ClientOption{option.WithEndpoint(base),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t0ken"}))}
	tc, err := cloudtasks.NewRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	wc, err := workflowsapi.NewRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()

	const parent = "projects/p/locations/us-central1"
	op, err := wc.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: parent, WorkflowId: "w",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: "main:\n  steps:\n    - done:\n        return: 1\n"}}})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	for _, q := range []string{"q", "sink"} {
		if _, err := tc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: parent + "/queues/" + q}}); err != nil {
			t.Fatal(err)
		}
	}
	// sink only collects tasks the tasks below create.
	if _, err := tc.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: parent + "/queues/sink"}); err != nil {
		t.Fatal(err)
	}
	task := func(account, path, body string, audience ...string) *cloudtaskspb.Task {
		t.Helper()
		task, err := tc.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: parent + "/queues/q", Task: &cloudtaskspb.Task{
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
				Url: base + path, HttpMethod: cloudtaskspb.HttpMethod_POST, Body: []byte(body),
				Headers:             map[string]string{"Content-Type": "application/json"},
				AuthorizationHeader: &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: account, Audience: strings.Join(audience, "")}},
			}}}})
		if err != nil {
			t.Fatalf("CreateTask for %s: %v", account, err)
		}
		return task
	}
	// attempted waits for a task's first attempt and returns its status.
	attempted := func(name string) codes.Code {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			got, err := tc.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: name})
			if err != nil {
				// Deleted: it succeeded.
				return codes.OK
			}
			if got.GetLastAttempt().GetResponseTime() != nil {
				return codes.Code(got.GetLastAttempt().GetResponseStatus().GetCode())
			}
			select {
			case <-ctx.Done():
				t.Fatalf("task %s never attempted", name)
			case <-tick.C:
			}
		}
	}

	started := task("runner@p.iam.gserviceaccount.com", "/v1/"+parent+"/workflows/w/executions", `{"argument": "{}"}`)
	if c := attempted(started.GetName()); c != codes.OK {
		t.Fatalf("the task starting an execution: %v", c)
	}
	code, body := rawCall(t, http.MethodGet, base+"/v1/"+parent+"/workflows/w/executions", "", map[string]string{"Authorization": "Bearer t0ken"})
	if code != http.StatusOK || !strings.Contains(body, parent+"/workflows/w/executions/") {
		t.Fatalf("executions after the task: %d %s", code, body)
	}

	// An account without workflows.executions.create is refused.
	if c := attempted(task("stranger@p.iam.gserviceaccount.com", "/v1/"+parent+"/workflows/w/executions", `{}`).GetName()); c != codes.PermissionDenied {
		t.Fatalf("stranger's task starting an execution: %v, want PermissionDenied", c)
	}

	// A token the server minted for somewhere else is not for it.
	if c := attempted(task("runner@p.iam.gserviceaccount.com", "/v1/"+parent+"/workflows/w/executions", `{}`, "https://elsewhere.example/").GetName()); c != codes.Unauthenticated {
		t.Fatalf("a token for another audience: %v, want Unauthenticated", c)
	}

	// Buffering a task in sink takes tasks.create there: the runner has it,
	// a stranger does not.
	const buffer = "/v2/" + parent + "/queues/sink/tasks"
	const sinkTask = `{"task": {"httpRequest": {"url": "http://127.0.0.1:9/never"}}}`
	if c := attempted(task("runner@p.iam.gserviceaccount.com", buffer, sinkTask).GetName()); c != codes.OK {
		t.Fatalf("runner's task creating a task: %v", c)
	}
	if c := attempted(task("stranger@p.iam.gserviceaccount.com", buffer, sinkTask).GetName()); c != codes.PermissionDenied {
		t.Fatalf("stranger's task creating a task: %v, want PermissionDenied", c)
	}
}
