package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeExecutions replays the Executions REST shapes the connector pages
// and the REST reference document: POST .../workflows/W/executions with an
// Execution body answers the new Execution (ACTIVE); GET of its name
// answers ACTIVE once, then the end: workflow "child" succeeds with
// {"got": ARGUMENT}, "failing" fails with an error payload, "forever"
// stays ACTIVE.
type fakeExecutions struct {
	mu       sync.Mutex
	requests []string
	bodies   []map[string]any
	polls    map[string]int
}

func (f *fakeExecutions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	w.Header().Set("Content-Type", "application/json")
	const parent = "/v1/projects/p/locations/l/workflows/"
	switch {
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, parent) && strings.HasSuffix(r.URL.Path, "/executions"):
		var body map[string]any
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &body); err != nil {
			http.Error(w, `{"error":{"code":400,"status":"INVALID_ARGUMENT"}}`, http.StatusBadRequest)
			return
		}
		f.bodies = append(f.bodies, body)
		wf := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, parent), "/executions")
		if wf == "missing" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":404,"message":"Resource not found","status":"NOT_FOUND"}}`))
			return
		}
		arg, _ := body["argument"].(string)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"name": strings.TrimPrefix(r.URL.Path, "/v1/") + "/" + wf + "-1", "state": "ACTIVE",
			"argument": arg, "workflowRevisionId": "000001-abc",
		})
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, parent):
		name := strings.TrimPrefix(r.URL.Path, "/v1/")
		f.polls[name]++
		exe := map[string]any{"name": name, "state": "ACTIVE"}
		switch wf := strings.Split(name, "/")[5]; {
		case f.polls[name] < 2 || wf == "forever":
		case wf == "child":
			exe["state"], exe["result"] = "SUCCEEDED", `{"got":{"n":1}}`
		case wf == "failing":
			exe["state"] = "FAILED"
			exe["error"] = map[string]any{"payload": `"boom"`, "context": "RuntimeError: \"boom\"\nin step \"fail\", routine \"main\", line: 3"}
		}
		_ = json.NewEncoder(w).Encode(exe)
	default:
		http.NotFound(w, r)
	}
}

func newFakeExecutions(t *testing.T) (*fakeExecutions, *httptest.Server) {
	f := &fakeExecutions{polls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func runExec(t *testing.T, src string, cfg Config) (any, error) {
	t.Helper()
	wf, err := Load([]byte(src))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return wf.Run(context.Background(), nil, cfg)
}

// TestExecutionsRun: the run helper starts the child with its argument
// JSON-encoded in the caller's project and location, polls it with the
// default policy and returns its decoded result.
func TestExecutionsRun(t *testing.T) {
	f, srv := newFakeExecutions(t)
	clock := newFakeClock()
	cfg := Config{Endpoint: srv.URL, Now: clock.Now, Sleep: clock.Sleep, Identity: Identity{ProjectID: "p", Location: "l"}}
	got, err := runExec(t, `
- run:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
    args:
      workflow_id: child
      argument: {n: 1}
    result: r
- done:
    return: ${r}
`, cfg)
	if err != nil || canon(t, got) != `{"got":{"n":1}}` {
		t.Fatalf("result %v, error %v", got, err)
	}
	want := []string{
		"POST /v1/projects/p/locations/l/workflows/child/executions",
		"GET /v1/projects/p/locations/l/workflows/child/executions/child-1",
		"GET /v1/projects/p/locations/l/workflows/child/executions/child-1",
	}
	if strings.Join(f.requests, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(f.requests, "\n"), strings.Join(want, "\n"))
	}
	if b := f.bodies[0]; b["argument"] != `{"n":1}` || (b["disableConcurrencyQuotaOverflowBuffering"] == true) != sendsNoBuffering() {
		t.Errorf("request body = %v", b)
	}
	if s := canon(t, clock.seconds()); s != "[1.0,1.25]" {
		t.Errorf("polling sleeps = %s, want [1.0,1.25]", s)
	}
}

// TestExecutionsCreateGet: create waits like run but returns the
// Execution; skip_polling returns at once; get passes view as a query
// argument; a failed child raises OperationError with the Execution.
func TestExecutionsCreateGet(t *testing.T) {
	f, srv := newFakeExecutions(t)
	clock := newFakeClock()
	cfg := Config{Endpoint: srv.URL, Now: clock.Now, Sleep: clock.Sleep, Identity: Identity{ProjectID: "p", Location: "l"}}
	got, err := runExec(t, `
- create:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.create
    args:
      parent: projects/p/locations/l/workflows/child
      body:
        argument: '${json.encode_to_string({"n": 1})}'
    result: created
- quick:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.create
    args:
      parent: projects/p/locations/l/workflows/forever
      body: {}
      connector_params: {skip_polling: true}
    result: started
- fireAndForget:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
    args:
      workflow_id: forever
      connector_params: {skip_polling: true}
    result: nothing
- get:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.get
    args:
      name: ${created.name}
      view: FULL
    result: fetched
- failing:
    try:
      call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
      args:
        workflow_id: failing
        project_id: p
        location: l
    except:
      as: e
      steps:
        - keep:
            return: ${[created.state, json.decode(created.result), started.state, nothing, fetched.state, e.tags, e.message, e.operation.state, json.decode(e.operation.error.payload)]}
`, cfg)
	want := `["SUCCEEDED",{"got":{"n":1}},"ACTIVE",null,"SUCCEEDED",["OperationError"],"Execution failed or cancelled.","FAILED","boom"]`
	if err != nil || canon(t, got) != want {
		t.Fatalf("result %v, error %v\nwant %s", canon(t, got), err, want)
	}
	if !strings.Contains(strings.Join(f.requests, "\n"), "GET /v1/projects/p/locations/l/workflows/child/executions/child-1?view=FULL") {
		t.Errorf("no get with view=FULL in %v", f.requests)
	}
}

func TestExecutionsErrors(t *testing.T) {
	_, srv := newFakeExecutions(t)
	clock := newFakeClock()
	cfg := Config{Endpoint: srv.URL, Now: clock.Now, Sleep: clock.Sleep, Identity: Identity{Location: "l"}}
	for _, tc := range []struct{ args, want string }{
		{`{workflow_id: forever, project_id: p, connector_params: {timeout: 5}}`, `"tags":["TimeoutError"]`},
		{`{workflow_id: missing, project_id: p}`, `"code":404`},
		{`{workflow_id: child}`, `project_id must be a non-empty ID`},
		{`{workflow_id: child, project_id: p, extra: 1}`, `unexpected argument \"extra\"`},
		{`{workflow_id: 7, project_id: p}`, `"tags":["TypeError"]`},
		{`{workflow_id: child, project_id: p, connector_params: {timeout: 31536001}}`, `"tags":["ValueError"]`},
	} {
		_, err := runExec(t, "- r:\n    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run\n    args: "+tc.args+"\n", cfg)
		var we *Error
		if !errors.As(err, &we) || !strings.Contains(canon(t, we.Value), tc.want) {
			t.Errorf("%s: %v, want %s", tc.args, err, tc.want)
		}
	}
}

func TestExecutionsConnectorNames(t *testing.T) {
	checkConnectorShapes(t, executionsPrefix, map[string]string{
		"cancel": "POST body", "create": "POST body", "get": "GET view",
		"list": "GET pageSize,pageToken,view,filter,orderBy",
	})
	if m := connectorMethods()[executionsRun]; m == nil || !m.helper {
		t.Error("missing the run helper")
	}
}
