package workflowsapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/opentasks/opentasks/internal/workflowsapi"
)

func decode(t *testing.T, what, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s is not a JSON object: %q", what, s)
	}
	return m
}

// TestRunTask deploys the seed's RunTask workflow and runs it against a
// task (SUCCEEDED with RunTask's result) and against a missing task
// (FAILED with the connector's HttpError 404), on both stores and both
// transports.
func TestRunTask(t *testing.T) {
	for storeName, open := range stores(t) {
		t.Run(storeName, func(t *testing.T) {
			e := start(t, open(t), workflowsapi.Config{})
			tg := newTarget(t)
			for _, tr := range transports() {
				t.Run(tr, func(t *testing.T) {
					id := "seed-" + tr
					w := e.deploy(t, tr, id, seed(t), nil)
					if w.GetRevisionId() == "" || w.GetState() != workflowspb.Workflow_ACTIVE {
						t.Fatalf("deployed workflow = %v", w)
					}
					task := e.createTask(t, "q-"+tr, "t1", tg.url)

					ex := e.execute(t, tr, id, fmt.Sprintf(`{"taskName":%q}`, task))
					if ex.GetState() != executionspb.Execution_SUCCEEDED {
						t.Fatalf("execution = %v, want SUCCEEDED", ex)
					}
					res := decode(t, "result", ex.GetResult())
					if res["name"] != task || res["view"] != "FULL" || res["dispatchCount"] != float64(1) {
						t.Errorf("result = %s, want the FULL task %s dispatched once", ex.GetResult(), task)
					}
					if got := tg.next(t); got != `{"hello":"workflows"}` {
						t.Errorf("target received %q", got)
					}
					if ex.GetEndTime() == nil || ex.GetDuration() == nil || ex.GetWorkflowRevisionId() != w.GetRevisionId() {
						t.Errorf("execution lacks end, duration or revision: %v", ex)
					}
					if st := ex.GetStatus().GetCurrentSteps(); len(st) != 1 || st[0].GetStep() != "done" || st[0].GetRoutine() != "main" {
						t.Errorf("status = %v, want the last step, main/done", ex.GetStatus())
					}

					missing := strings.Replace(task, "/tasks/t1", "/tasks/missing", 1)
					ex = e.execute(t, tr, id, fmt.Sprintf(`{"taskName":%q}`, missing))
					if ex.GetState() != executionspb.Execution_FAILED || ex.GetResult() != "" {
						t.Fatalf("execution = %v, want FAILED", ex)
					}
					p := decode(t, "error.payload", ex.GetError().GetPayload())
					if p["code"] != float64(404) || !strings.Contains(fmt.Sprint(p["tags"]), "HttpError") {
						t.Errorf("payload = %s, want an HttpError with code 404", ex.GetError().GetPayload())
					}
					if want := "\nin step \"run\", routine \"main\", line: 1"; !strings.HasSuffix(ex.GetError().GetContext(), want) {
						t.Errorf("context = %q, want it to end with %q", ex.GetError().GetContext(), want)
					}
					el := ex.GetError().GetStackTrace().GetElements()
					if len(el) != 1 || el[0].GetStep() != "run" || el[0].GetRoutine() != "main" || el[0].GetPosition().GetLine() != 1 {
						t.Errorf("stack trace = %v", ex.GetError().GetStackTrace())
					}
				})
			}
		})
	}
}

// TestDeploy: a bad definition is refused with its step and line; a
// duplicate ends its operation ALREADY_EXISTS; a source change makes a
// revision that Get reads by name@revision; userEnvVars reach sys.get_env.
func TestDeploy(t *testing.T) {
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{})
	ctx := context.Background()
	for _, tr := range transports() {
		t.Run(tr, func(t *testing.T) {
			c := e.wf[tr]
			_, err := c.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: loc, WorkflowId: "bad-" + tr,
				Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{
					SourceContents: "- first:\n    assign:\n      - x: 1\n- second:\n    call: no.such.function\n"}}})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `line 4: step "second"`) {
				t.Fatalf("bad source: %v, want INVALID_ARGUMENT naming line 4 and step second", err)
			}

			id := "env-" + tr
			src := "- read:\n    return: ${sys.get_env(\"GREETING\") + \" from \" + sys.get_env(\"GOOGLE_CLOUD_WORKFLOW_ID\")}\n"
			w1 := e.deploy(t, tr, id, src, map[string]string{"GREETING": "hello"})
			if !strings.HasPrefix(w1.GetRevisionId(), "000001-") || len(w1.GetRevisionId()) != 10 {
				t.Errorf("first revision %q, want 000001-xyz", w1.GetRevisionId())
			}
			if ex := e.execute(t, tr, id, ""); ex.GetResult() != `"hello from `+id+`"` || ex.GetArgument() != "null" {
				t.Errorf("execution = %v, want result \"hello from %s\" and argument null", ex, id)
			}

			op, err := c.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: loc, WorkflowId: id,
				Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: src}}})
			if err == nil {
				_, err = op.Wait(ctx)
			}
			if status.Code(err) != codes.AlreadyExists {
				t.Errorf("second create: %v, want ALREADY_EXISTS", err)
			}

			// A description alone keeps the revision; the source makes one.
			uop, err := c.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{
				Workflow:   &workflowspb.Workflow{Name: w1.GetName(), Description: "described"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}})
			if err != nil {
				t.Fatal(err)
			}
			w, err := uop.Wait(ctx)
			if err != nil || w.GetRevisionId() != w1.GetRevisionId() || w.GetDescription() != "described" {
				t.Fatalf("after a description update: %v, %v; want revision %s", w, err, w1.GetRevisionId())
			}
			src2 := strings.Replace(src, " from ", " again from ", 1)
			uop, err = c.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{
				Workflow:   &workflowspb.Workflow{Name: w1.GetName(), SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: src2}},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"source_contents"}}})
			if err != nil {
				t.Fatal(err)
			}
			w2, err := uop.Wait(ctx)
			if err != nil || !strings.HasPrefix(w2.GetRevisionId(), "000002-") || w2.GetUserEnvVars()["GREETING"] != "hello" {
				t.Fatalf("after a source update: %v, %v; want revision 000002-xyz keeping the variables", w2, err)
			}
			old, err := c.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: w1.GetName() + "@" + w1.GetRevisionId()})
			if err != nil || old.GetSourceContents() != src {
				t.Errorf("Get name@%s = %v, %v; want the first source", w1.GetRevisionId(), old, err)
			}
			old, err = c.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: w1.GetName(), RevisionId: w1.GetRevisionId()})
			if err != nil || old.GetSourceContents() != src {
				t.Errorf("Get revision_id %s = %v, %v; want the first source", w1.GetRevisionId(), old, err)
			}
			var revs []string
			it := c.ListWorkflowRevisions(ctx, &workflowspb.ListWorkflowRevisionsRequest{Name: w1.GetName(), PageSize: 1})
			for {
				r, err := it.Next()
				if err == iterator.Done {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				revs = append(revs, r.GetRevisionId())
			}
			if len(revs) != 2 || revs[0] != w2.GetRevisionId() || revs[1] != w1.GetRevisionId() {
				t.Errorf("revisions = %v, want [%s %s]", revs, w2.GetRevisionId(), w1.GetRevisionId())
			}

			// The operation is there for GetOperation.
			got, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: uop.Name()})
			if err != nil || !got.GetDone() {
				t.Errorf("GetOperation(%s) = %v, %v", uop.Name(), got, err)
			}

			dop, err := c.DeleteWorkflow(ctx, &workflowspb.DeleteWorkflowRequest{Name: w1.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			if err := dop.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: w1.GetName()}); status.Code(err) != codes.NotFound {
				t.Errorf("Get after delete: %v, want NOT_FOUND", err)
			}
		})
	}
}

// TestCancel cancels an execution that is sleeping: it ends CANCELLED at
// once, and a second cancel is FAILED_PRECONDITION.
func TestCancel(t *testing.T) {
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{})
	tg := newTarget(t)
	ctx := context.Background()
	src := fmt.Sprintf("- tell:\n    call: http.post\n    args:\n      url: %s\n      body: sleeping\n- nap:\n    call: sys.sleep\n    args:\n      seconds: 3600\n", tg.url)
	for _, tr := range transports() {
		t.Run(tr, func(t *testing.T) {
			id := "sleeper-" + tr
			e.deploy(t, tr, id, src, nil)
			started, err := e.ex[tr].CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/" + id})
			if err != nil {
				t.Fatal(err)
			}
			tg.next(t) // the step before the sleep ran
			got, err := e.ex[tr].CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: started.GetName()})
			if err != nil || got.GetState() != executionspb.Execution_CANCELLED || got.GetEndTime() == nil {
				t.Fatalf("CancelExecution = %v, %v; want CANCELLED", got, err)
			}
			ex := e.await(t, tr, started.GetName())
			if ex.GetState() != executionspb.Execution_CANCELLED {
				t.Errorf("after the run stopped: %v, want CANCELLED", ex.GetState())
			}
			if _, err := e.ex[tr].CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: started.GetName()}); status.Code(err) != codes.FailedPrecondition {
				t.Errorf("second cancel: %v, want FAILED_PRECONDITION", err)
			}
		})
	}
}

// TestList filters, orders, views and pages a workflow's executions.
func TestList(t *testing.T) {
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{})
	ctx := context.Background()
	src := "main:\n  params: [n]\n  steps:\n    - check:\n        switch:\n          - condition: ${n % 2 == 0}\n            raise: even\n    - done:\n        return: ${n}\n"
	e.deploy(t, "grpc", "lister", src, nil)
	var names []string
	for n := range 5 {
		names = append(names, e.execute(t, "grpc", "lister", fmt.Sprint(n)).GetName())
	}
	parent := loc + "/workflows/lister"
	for _, tr := range transports() {
		t.Run(tr, func(t *testing.T) {
			all, pages, err := e.ex[tr].ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: parent, PageSize: 2})
			if err != nil || len(all) != 5 || pages != 3 {
				t.Fatalf("list by 2: %d executions in %d pages, %v; want 5 in 3", len(all), pages, err)
			}
			// Default order: newest first; BASIC view: no argument.
			if all[0].GetName() != names[4] || all[4].GetName() != names[0] || all[0].GetArgument() != "" {
				t.Errorf("default list = %v", all)
			}
			failed, _, err := e.ex[tr].ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: parent,
				Filter: `state="FAILED"`, OrderBy: "startTime", View: executionspb.ExecutionView_FULL})
			if err != nil || len(failed) != 3 || failed[0].GetArgument() != "0" || failed[2].GetArgument() != "4" {
				t.Fatalf("failed ones, oldest first = %v, %v; want arguments 0, 2, 4", failed, err)
			}
			// Keyed pages of a filter fill up past the executions it drops.
			failedNewest, pages, err := e.ex[tr].ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: parent,
				Filter: `state="FAILED"`, PageSize: 1})
			if err != nil || pages != 3 || len(failedNewest) != 3 || failedNewest[0].GetName() != names[4] || failedNewest[2].GetName() != names[0] {
				t.Fatalf("failed ones by 1, newest first = %v in %d pages, %v; want %s, %s, %s", failedNewest, pages, err, names[4], names[2], names[0])
			}
			if p := failed[0].GetError().GetPayload(); p != `"even"` || !strings.HasPrefix(failed[0].GetError().GetContext(), `RuntimeError: "even"`) {
				t.Errorf("raised string: payload %s, context %q", p, failed[0].GetError().GetContext())
			}
			if _, _, err := e.ex[tr].ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: parent, Filter: `nope="x"`}); status.Code(err) != codes.InvalidArgument {
				t.Errorf("bad filter: %v, want INVALID_ARGUMENT", err)
			}
			basic, err := e.ex[tr].GetExecution(ctx, &executionspb.GetExecutionRequest{Name: names[1], View: executionspb.ExecutionView_BASIC})
			if err != nil || basic.GetResult() != "" || basic.GetState() != executionspb.Execution_SUCCEEDED {
				t.Errorf("BASIC get = %v, %v", basic, err)
			}
			full, err := e.ex[tr].GetExecution(ctx, &executionspb.GetExecutionRequest{Name: names[1]})
			if err != nil || full.GetResult() != "1" {
				t.Errorf("default (FULL) get = %v, %v", full, err)
			}
		})
	}
}

// TestArgumentErrors: the argument must be JSON, within 512 KB, for a
// workflow that exists.
func TestArgumentErrors(t *testing.T) {
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{})
	ctx := context.Background()
	e.deploy(t, "grpc", "args", "- r:\n    return: ${args}\n", nil)
	for _, tr := range transports() {
		for _, tc := range []struct {
			parent, arg string
			code        codes.Code
		}{
			{loc + "/workflows/args", "{not json", codes.InvalidArgument},
			{loc + "/workflows/args", `"` + strings.Repeat("x", 512*1024) + `"`, codes.InvalidArgument},
			{loc + "/workflows/none", "1", codes.NotFound},
			// Over REST, no route matches that path.
			{loc + "/flows/args", "1", map[string]codes.Code{"grpc": codes.InvalidArgument, "rest": codes.NotFound}[tr]},
		} {
			_, err := e.ex[tr].CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: tc.parent, Execution: &executionspb.Execution{Argument: tc.arg}})
			if status.Code(err) != tc.code {
				t.Errorf("%s: %s with %.20q: %v, want %v", tr, tc.parent, tc.arg, err, tc.code)
			}
		}
	}
}

// TestCloudTasksStartsExecution: a Cloud Tasks task whose target is the
// Executions REST path on this server starts an execution with the
// task's {"argument": "..."} body, as the buffering pattern sends it.
func TestCloudTasksStartsExecution(t *testing.T) {
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{})
	tg := newTarget(t)
	ctx := context.Background()
	e.deploy(t, "grpc", "buffered", fmt.Sprintf("- tell:\n    call: http.post\n    args:\n      url: %s\n      body: ${args}\n", tg.url), nil)
	q := loc + "/queues/buffer"
	if _, err := e.ct.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{Name: q}}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"argument": `{"order":42}`})
	_, err := e.ct.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: &cloudtaskspb.Task{
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url:  e.base + "/v1/" + loc + "/workflows/buffered/executions",
			Body: body,
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tg.next(t); got != `{"order":42}` {
		t.Errorf("the execution posted %q, want the task's argument", got)
	}
	all, _, err := e.ex["grpc"].ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: loc + "/workflows/buffered", View: executionspb.ExecutionView_FULL})
	if err != nil || len(all) != 1 || all[0].GetArgument() != `{"order":42}` {
		t.Errorf("executions = %v, %v; want one with the task's argument", all, err)
	}
}
