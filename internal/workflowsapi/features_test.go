package workflowsapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"

	"github.com/opentasks/opentasks/internal/workflowsapi"
	"github.com/opentasks/opentasks/workflows"
)

// TestCallback: an execution creates a callback endpoint on this port and
// waits; ListCallbacks shows it; an HTTP POST to its URL, or to Google's
// path for it, completes it with the JSON body; afterwards it is gone.
func TestCallback(t *testing.T) {
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{})
	tg := newTarget(t)
	src := fmt.Sprintf(`- create:
    call: events.create_callback_endpoint
    args:
      http_callback_method: POST
    result: cb
- tell:
    call: http.post
    args:
      url: %s
      body: ${cb.url}
- wait:
    call: events.await_callback
    args:
      callback: ${cb}
      timeout: 60
    result: req
- done:
    return: ${req.http_request.body}
`, tg.url)
	e.deploy(t, "grpc", "approval", src, nil)
	// The URL the workflow got, and Google's path for the same callback.
	for _, via := range []string{"url", "v1"} {
		ex, err := e.ex["grpc"].CreateExecution(context.Background(), &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/approval"})
		if err != nil {
			t.Fatal(err)
		}
		url := strings.Trim(tg.next(t), `"`)
		prefix := e.base + "/callbacks/" + ex.GetName() + "/callbacks/"
		if !strings.HasPrefix(url, prefix) {
			t.Fatalf("callback URL %q, want it under %s", url, prefix)
		}
		name := strings.TrimPrefix(url, e.base+"/callbacks/")

		var list struct {
			Callbacks []struct{ Name, Method string }
		}
		resp, err := http.Get(e.base + "/v1/" + ex.GetName() + "/callbacks")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || len(list.Callbacks) != 1 || list.Callbacks[0].Name != name || list.Callbacks[0].Method != "POST" {
			t.Fatalf("ListCallbacks = %+v, %v; want %s (POST)", list, err, name)
		}

		if via == "v1" {
			url = e.base + "/v1/" + name
		}
		resp, err = http.Post(url, "application/json", strings.NewReader(`{"approved":true}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("callback POST to %s: %s", url, resp.Status)
		}
		got := e.await(t, "grpc", ex.GetName())
		if got.GetState() != executionspb.Execution_SUCCEEDED || got.GetResult() != `{"approved":true}` {
			t.Fatalf("execution = %v, want SUCCEEDED with the callback's body", got)
		}
		resp, err = http.Post(url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("callback of a finished execution: %s, want 404", resp.Status)
		}
	}
}

// TestChildWorkflow: a workflow runs another through the
// workflowexecutions connector against this server and gets its result;
// a failing child raises OperationError in the parent.
func TestChildWorkflow(t *testing.T) {
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{})
	e.deploy(t, "grpc", "child", "main:\n  params: [args]\n  steps:\n    - check:\n        switch:\n          - condition: ${args.n < 0}\n            raise: negative\n    - times:\n        return: ${args.n * 10}\n", nil)
	e.deploy(t, "grpc", "parent", `main:
  params: [args]
  steps:
    - run_child:
        call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
        args:
          workflow_id: child
          argument:
            n: ${args.n}
          connector_params:
            polling_policy:
              initial_delay: 0.01
              multiplier: 1
              max_delay: 0.01
        result: r
    - done:
        return: ${r}
`, nil)
	if ex := e.execute(t, "grpc", "parent", `{"n":2}`); ex.GetState() != executionspb.Execution_SUCCEEDED || ex.GetResult() != "20" {
		t.Fatalf("parent = %v, want SUCCEEDED with 20", ex)
	}
	ex := e.execute(t, "grpc", "parent", `{"n":-1}`)
	if ex.GetState() != executionspb.Execution_FAILED || !strings.Contains(ex.GetError().GetPayload(), "OperationError") {
		t.Fatalf("parent of a failing child = %v, want FAILED with OperationError", ex)
	}
	children, _, err := e.ex["grpc"].ListExecutions(context.Background(), &executionspb.ListExecutionsRequest{Parent: loc + "/workflows/child"})
	if err != nil || len(children) != 2 {
		t.Fatalf("child executions = %v, %v; want 2", children, err)
	}
}

// TestMocks: with the server's mocks, a workflow calling BigQuery and
// Pub/Sub connectors deploys and runs without a cloud project.
func TestMocks(t *testing.T) {
	mocks, err := workflows.ParseMocks([]byte(`
- call: googleapis.bigquery.v2.jobs.query
  args: {projectId: test}
  result: {rows: [{f: [{v: "42"}]}]}
- call: googleapis.pubsub.v1.projects.topics.publish
  result: {messageIds: ["m1"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{Mocks: mocks})
	e.deploy(t, "rest", "report", `- query:
    call: googleapis.bigquery.v2.jobs.query
    args:
      projectId: test
      body: {query: "SELECT 42"}
    result: q
- publish:
    call: googleapis.pubsub.v1.projects.topics.publish
    args:
      topic: projects/test/topics/reports
      body:
        messages:
          - data: ${base64.encode(text.encode(q.rows[0].f[0].v))}
    result: p
- done:
    return: ${q.rows[0].f[0].v + " " + p.messageIds[0]}
`, nil)
	if ex := e.execute(t, "grpc", "report", ""); ex.GetState() != executionspb.Execution_SUCCEEDED || ex.GetResult() != `"42 m1"` {
		t.Fatalf("execution = %v, want SUCCEEDED with \"42 m1\"", ex)
	}
}
