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

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	executionsapi "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
)

// The definitions deployed by TestServeWorkflowsRunner.
const (
	childSource = `
main:
  params: [args]
  steps:
    - double:
        return: ${args.n * 2}
`
	// parent runs child through the Workflow Executions connectors on
	// this server (run, create, get) and asks BigQuery, which the mocks
	// answer.
	parentSource = `
- fast:
    assign:
      - params: {polling_policy: {initial_delay: 0.05, multiplier: 1, max_delay: 0.05}}
- run:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
    args:
      workflow_id: child
      argument: {n: 21}
      connector_params: ${params}
    result: doubled
- create:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.create
    args:
      parent: ${"projects/" + sys.get_env("GOOGLE_CLOUD_PROJECT_ID") + "/locations/" + sys.get_env("GOOGLE_CLOUD_LOCATION") + "/workflows/child"}
      body:
        argument: '{"n": 5}'
      connector_params: ${params}
    result: created
- get:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.get
    args:
      name: ${created.name}
    result: fetched
- query:
    call: googleapis.bigquery.v2.jobs.query
    args:
      projectId: ${sys.get_env("GOOGLE_CLOUD_PROJECT_ID")}
      body: {query: "SELECT 7"}
    result: rows
- done:
    return: ${[doubled, created.state, json.decode(fetched.result), rows.rows[0].f[0].v]}
`
	// waiter tells the test its callback URL, then waits for the callback.
	waiterSource = `
main:
  params: [args]
  steps:
    - create:
        call: events.create_callback_endpoint
        args: {http_callback_method: PUT}
        result: cb
    - tell:
        call: http.post
        args: {url: "${args.tell}", body: "${cb}"}
    - wait:
        call: events.await_callback
        args: {callback: "${cb}", timeout: 60}
        result: req
    - waitAgain:
        call: events.await_callback
        args: {callback: "${cb}", timeout: 60}
        result: req2
    - done:
        return: ${[req.http_request.method, req.http_request.body.decision, req2.http_request.body.decision]}
`
	runnerMocks = `
- call: googleapis.bigquery.v2.jobs.query
  args: {projectId: p}
  result: {rows: [{f: [{v: "7"}]}]}
- call: googleapis.workflowexecutions.*
  passthrough: true
- call: http.post
  passthrough: true
`
)

// TestServeWorkflowsRunner runs `opentasks serve` with --workflows-mocks
// and drives it with the official clients: a parent workflow runs a
// child through the workflowexecutions connectors against the same
// server and reads BigQuery from the mocks; a workflow waits for a
// callback whose URL is served on the server's own port, completed by an
// HTTP request.
func TestServeWorkflowsRunner(t *testing.T) {
	ctx := deadline(t, 2*time.Minute)
	mocks := writeFile(t, "mocks.yaml", runnerMocks)
	p := startProcess(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "opentasks.db"), "--workflows-mocks", mocks)
	wc, ec := workflowClients(t, p.addr)
	const parent = "projects/p/locations/us-central1"
	for id, src := range map[string]string{"child": childSource, "parent": parentSource, "waiter": waiterSource} {
		op, err := wc.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: parent, WorkflowId: id,
			Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: src}}})
		if err != nil {
			t.Fatalf("deploy %s: %v", id, err)
		}
		if _, err := op.Wait(ctx); err != nil {
			t.Fatalf("deploy %s: %v", id, err)
		}
	}

	ex, err := ec.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: parent + "/workflows/parent"})
	if err != nil {
		t.Fatal(err)
	}
	done := awaitExecution(t, ctx, ec, ex.GetName())
	if done.GetState() != executionspb.Execution_SUCCEEDED || done.GetResult() != `[42,"SUCCEEDED",10,"7"]` {
		t.Fatalf("parent: %v result %s error %v", done.GetState(), done.GetResult(), done.GetError())
	}

	urls := make(chan string, 1)
	tell := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		urls <- string(body)
	}))
	defer tell.Close()
	ex, err = ec.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: parent + "/workflows/waiter",
		Execution: &executionspb.Execution{Argument: `{"tell": "` + tell.URL + `"}`}})
	if err != nil {
		t.Fatal(err)
	}
	var url string
	select {
	case body := <-urls:
		url = strings.TrimSuffix(strings.TrimPrefix(body, `{"url":"`), `"}`)
	case <-ctx.Done():
		t.Fatal("the waiter never told its callback URL")
	}
	if want := "http://" + p.addr + "/callbacks/" + ex.GetName() + "/callbacks/"; !strings.HasPrefix(url, want) {
		t.Fatalf("callback URL %s, want it under %s", url, want)
	}
	// The first request goes to the URL the workflow got, the second the
	// Executions API's way (sendHttpCallback's REST path).
	rest := "http://" + p.addr + "/v1/" + strings.TrimPrefix(url, "http://"+p.addr+"/callbacks/")
	for _, send := range []struct{ target, decision string }{{url, "approved"}, {rest, "filed"}} {
		target, decision := send.target, send.decision
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, target, strings.NewReader(`{"decision": "`+decision+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %v %v", target, resp, err)
		}
	}
	done = awaitExecution(t, ctx, ec, ex.GetName())
	if done.GetState() != executionspb.Execution_SUCCEEDED || done.GetResult() != `["PUT","approved","filed"]` {
		t.Fatalf("waiter: %v result %s error %v", done.GetState(), done.GetResult(), done.GetError())
	}
}

// awaitExecution reads the execution until it is no longer ACTIVE; a
// separate process offers no other signal than its API.
func awaitExecution(t *testing.T, ctx context.Context, ec *executionsapi.Client, name string) *executionspb.Execution {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		e, err := ec.GetExecution(ctx, &executionspb.GetExecutionRequest{Name: name})
		if err != nil {
			t.Fatalf("GetExecution: %v", err)
		}
		if e.GetState() != executionspb.Execution_ACTIVE && e.GetState() != executionspb.Execution_QUEUED {
			return e
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("execution %s still %v", name, e.GetState())
		}
	}
}
