package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
)

// NewWorkflowStore returns an empty store; the backend's test closes it at
// cleanup.
type NewWorkflowStore func(t *testing.T) store.WorkflowStore

// RunWorkflows runs the suite of store.WorkflowStore.
func RunWorkflows(t *testing.T, newStore NewWorkflowStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.WorkflowStore)
	}{
		{"WorkflowRevisions", testWorkflowRevisions},
		{"DeleteWorkflow", testDeleteWorkflow},
		{"ExecutionLifecycle", testExecutionLifecycle},
		{"ExecutionLimit", testExecutionLimit},
		{"ExpiredExecutions", testExpiredExecutions},
		{"ExecutionRetention", testExecutionRetention},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

const wfName = loc + "/workflows/wf"

// putWorkflow stores wf at revision rev (a new revision when newRev).
func putWorkflow(t *testing.T, s store.WorkflowStore, name, rev, source string, newRev bool) {
	t.Helper()
	_, err := s.UpdateWorkflow(context.Background(), name, func(cur *workflowspb.Workflow) (*workflowspb.Workflow, bool, error) {
		return &workflowspb.Workflow{Name: name, RevisionId: rev,
			SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: source}}, newRev, nil
	})
	if err != nil {
		t.Fatalf("UpdateWorkflow(%s): %v", name, err)
	}
}

func testWorkflowRevisions(t *testing.T, s store.WorkflowStore) {
	ctx := context.Background()
	_, err := s.GetWorkflow(ctx, wfName, "")
	wantErr(t, "GetWorkflow of a missing workflow", err, store.ErrNotFound)
	_, err = s.ListWorkflowRevisions(ctx, wfName, 0, 10)
	wantErr(t, "ListWorkflowRevisions of a missing workflow", err, store.ErrNotFound)

	putWorkflow(t, s, wfName, "000001-aaa", "a", true)
	putWorkflow(t, s, wfName, "000002-bbb", "b", true)
	putWorkflow(t, s, wfName, "000002-bbb", "b", false) // a label change, say
	putWorkflow(t, s, wfName, "000003-ccc", "c", true)
	putWorkflow(t, s, loc+"/workflows/other", "000001-ddd", "d", true)

	got, err := s.GetWorkflow(ctx, wfName, "")
	if err != nil || got.GetRevisionId() != "000003-ccc" {
		t.Fatalf("GetWorkflow latest = %v, %v; want revision 000003-ccc", got, err)
	}
	got, err = s.GetWorkflow(ctx, wfName, "000001-aaa")
	if err != nil || got.GetSourceContents() != "a" {
		t.Fatalf("GetWorkflow@000001-aaa = %v, %v; want source a", got, err)
	}
	_, err = s.GetWorkflow(ctx, wfName, "000009-zzz")
	wantErr(t, "GetWorkflow of a missing revision", err, store.ErrNotFound)

	revs, err := s.ListWorkflowRevisions(ctx, wfName, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ids := revisionIDs(revs); ids != "000002-bbb 000001-aaa" {
		t.Fatalf("revisions after skipping 1 = %q, want newest first without the first", ids)
	}
	revs, err = s.ListWorkflowRevisions(ctx, wfName, 0, 1)
	if err != nil || revisionIDs(revs) != "000003-ccc" {
		t.Fatalf("first revision = %q, %v; want 000003-ccc", revisionIDs(revs), err)
	}
	all, err := s.ListWorkflows(ctx, loc)
	if err != nil || len(all) != 2 || all[0].GetName() != loc+"/workflows/other" || all[1].GetName() != wfName {
		t.Fatalf("ListWorkflows = %v, %v; want other, wf", all, err)
	}
	if none, err := s.ListWorkflows(ctx, "projects/p/locations/elsewhere"); err != nil || len(none) != 0 {
		t.Fatalf("ListWorkflows of another location = %v, %v; want none", none, err)
	}

	// An error from fn is returned as is and changes nothing.
	boom := errors.New("boom")
	_, err = s.UpdateWorkflow(ctx, wfName, func(*workflowspb.Workflow) (*workflowspb.Workflow, bool, error) { return nil, false, boom })
	wantErr(t, "UpdateWorkflow failing fn", err, boom)
	if got, _ := s.GetWorkflow(ctx, wfName, ""); got.GetRevisionId() != "000003-ccc" {
		t.Fatalf("after a failed update: revision %s", got.GetRevisionId())
	}
}

func revisionIDs(ws []*workflowspb.Workflow) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += " "
		}
		s += w.GetRevisionId()
	}
	return s
}

func newExecution(id string, state executionspb.Execution_State, start time.Time) *executionspb.Execution {
	return &executionspb.Execution{
		Name:      wfName + "/executions/" + id,
		State:     state,
		StartTime: timestamppb.New(start),
		Argument:  `{"id":"` + id + `"}`,
	}
}

func mustCreateExecution(t *testing.T, s store.WorkflowStore, e *executionspb.Execution, lease time.Time) {
	t.Helper()
	if err := s.CreateExecution(context.Background(), e, store.ExecutionLimits{}, lease); err != nil {
		t.Fatalf("CreateExecution(%s): %v", e.GetName(), err)
	}
}

func finish(e *executionspb.Execution, state executionspb.Execution_State, at time.Time) *executionspb.Execution {
	e.State = state
	e.EndTime = timestamppb.New(at)
	return e
}

func testDeleteWorkflow(t *testing.T, s store.WorkflowStore) {
	ctx := context.Background()
	putWorkflow(t, s, wfName, "000001-aaa", "a", true)
	mustCreateExecution(t, s, newExecution("e1", executionspb.Execution_ACTIVE, epoch), epoch.Add(time.Minute))
	_, err := s.UpdateWorkflow(ctx, wfName, func(*workflowspb.Workflow) (*workflowspb.Workflow, bool, error) { return nil, false, nil })
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.GetWorkflow(ctx, wfName, "000001-aaa")
	wantErr(t, "revision of a deleted workflow", err, store.ErrNotFound)
	_, err = s.GetExecution(ctx, wfName+"/executions/e1")
	wantErr(t, "execution of a deleted workflow", err, store.ErrNotFound)
	err = s.CreateExecution(ctx, newExecution("e2", executionspb.Execution_ACTIVE, epoch), store.ExecutionLimits{}, epoch)
	wantErr(t, "CreateExecution of a deleted workflow", err, store.ErrNotFound)
	// A workflow created again under the name starts from revision 1.
	putWorkflow(t, s, wfName, "000001-eee", "e", true)
	revs, err := s.ListWorkflowRevisions(ctx, wfName, 0, 10)
	if err != nil || revisionIDs(revs) != "000001-eee" {
		t.Fatalf("revisions of the new workflow = %q, %v", revisionIDs(revs), err)
	}
}

func testExecutionLifecycle(t *testing.T, s store.WorkflowStore) {
	ctx := context.Background()
	putWorkflow(t, s, wfName, "000001-aaa", "a", true)
	e := newExecution("e1", executionspb.Execution_ACTIVE, epoch)
	mustCreateExecution(t, s, e, epoch.Add(time.Minute))
	err := s.CreateExecution(ctx, e, store.ExecutionLimits{}, epoch)
	wantErr(t, "CreateExecution twice", err, store.ErrAlreadyExists)
	mustCreateExecution(t, s, newExecution("e0", executionspb.Execution_ACTIVE, epoch), epoch.Add(time.Minute))

	got, err := s.GetExecution(ctx, e.Name)
	if err != nil || got.GetArgument() != `{"id":"e1"}` || got.GetState() != executionspb.Execution_ACTIVE {
		t.Fatalf("GetExecution = %v, %v", got, err)
	}
	_, err = s.GetExecution(ctx, wfName+"/executions/nope")
	wantErr(t, "GetExecution of a missing execution", err, store.ErrNotFound)
	_, err = s.UpdateExecution(ctx, wfName+"/executions/nope", func(c *executionspb.Execution) (*executionspb.Execution, error) { return c, nil })
	wantErr(t, "UpdateExecution of a missing execution", err, store.ErrNotFound)

	upd, err := s.UpdateExecution(ctx, e.Name, func(c *executionspb.Execution) (*executionspb.Execution, error) {
		c.Result = `"done"`
		return finish(c, executionspb.Execution_SUCCEEDED, epoch.Add(time.Second)), nil
	})
	if err != nil || upd.GetResult() != `"done"` {
		t.Fatalf("UpdateExecution = %v, %v", upd, err)
	}
	got, _ = s.GetExecution(ctx, e.Name)
	if got.GetState() != executionspb.Execution_SUCCEEDED || got.GetResult() != `"done"` {
		t.Fatalf("after update: %v", got)
	}
	list, err := s.ListExecutions(ctx, wfName)
	if err != nil || len(list) != 2 || list[0].GetName() != wfName+"/executions/e0" || list[1].GetState() != executionspb.Execution_SUCCEEDED {
		t.Fatalf("ListExecutions = %v, %v; want e0 then e1 (SUCCEEDED)", list, err)
	}
}

func testExecutionLimit(t *testing.T, s store.WorkflowStore) {
	ctx := context.Background()
	putWorkflow(t, s, wfName, "000001-aaa", "a", true)
	lim := store.ExecutionLimits{MaxActive: 2, MaxQueued: 2}
	create := func(id string) (*executionspb.Execution, error) {
		e := newExecution(id, executionspb.Execution_ACTIVE, epoch)
		return e, s.CreateExecution(ctx, e, lim, epoch.Add(time.Minute))
	}
	for _, id := range []string{"a0", "a1"} {
		if e, err := create(id); err != nil || e.GetState() != executionspb.Execution_ACTIVE {
			t.Fatalf("%s, within MaxActive: %v, %v", id, e.GetState(), err)
		}
	}
	// Past MaxActive, new ones queue, without a start time; past MaxQueued
	// they are refused.
	for _, id := range []string{"q0", "q1"} {
		e, err := create(id)
		if err != nil || e.GetState() != executionspb.Execution_QUEUED || e.GetStartTime() != nil {
			t.Fatalf("%s, past MaxActive: %v, %v", id, e, err)
		}
		if got, _ := s.GetExecution(ctx, e.GetName()); got.GetState() != executionspb.Execution_QUEUED {
			t.Fatalf("%s stored as %v", id, got.GetState())
		}
	}
	_, err := create("q2")
	wantErr(t, "past MaxQueued", err, store.ErrLimit)
	if ws, err := s.QueuedWorkflows(ctx); err != nil || len(ws) != 1 || ws[0] != wfName {
		t.Fatalf("QueuedWorkflows = %v, %v", ws, err)
	}

	start := func(e *executionspb.Execution) *executionspb.Execution {
		e.State, e.StartTime = executionspb.Execution_ACTIVE, timestamppb.New(epoch.Add(time.Hour))
		return e
	}
	started, err := s.StartQueued(ctx, wfName, 2, epoch.Add(2*time.Hour), start)
	if err != nil || len(started) != 0 {
		t.Fatalf("StartQueued with no room = %v, %v", started, err)
	}
	if _, err := s.UpdateExecution(ctx, wfName+"/executions/a0", func(c *executionspb.Execution) (*executionspb.Execution, error) {
		return finish(c, executionspb.Execution_SUCCEEDED, epoch), nil
	}); err != nil {
		t.Fatal(err)
	}
	started, err = s.StartQueued(ctx, wfName, 2, epoch.Add(2*time.Hour), start)
	if err != nil || len(started) != 1 || started[0].GetName() != wfName+"/executions/q0" {
		t.Fatalf("StartQueued with room for one = %v, %v; want q0", started, err)
	}
	got, _ := s.GetExecution(ctx, wfName+"/executions/q0")
	if got.GetState() != executionspb.Execution_ACTIVE || got.GetStartTime() == nil {
		t.Fatalf("started q0 stored as %v", got)
	}
	// Started executions hold their lease: it expires like any other.
	n, err := s.FailExpiredExecutions(ctx, epoch.Add(90*time.Minute), func(e *executionspb.Execution) *executionspb.Execution {
		return finish(e, executionspb.Execution_FAILED, epoch)
	})
	if err != nil || n != 1 { // a1, whose lease ended at epoch+1m
		t.Fatalf("FailExpiredExecutions = %d, %v; want a1 only", n, err)
	}
	started, err = s.StartQueued(ctx, wfName, 0, epoch.Add(2*time.Hour), start)
	if err != nil || len(started) != 1 || started[0].GetName() != wfName+"/executions/q1" {
		t.Fatalf("StartQueued without a bound = %v, %v; want q1", started, err)
	}
	if ws, err := s.QueuedWorkflows(ctx); err != nil || len(ws) != 0 {
		t.Fatalf("QueuedWorkflows once none is = %v, %v", ws, err)
	}
}

func testExpiredExecutions(t *testing.T, s store.WorkflowStore) {
	ctx := context.Background()
	putWorkflow(t, s, wfName, "000001-aaa", "a", true)
	mustCreateExecution(t, s, newExecution("short", executionspb.Execution_ACTIVE, epoch), epoch.Add(time.Minute))
	mustCreateExecution(t, s, newExecution("renewed", executionspb.Execution_ACTIVE, epoch), epoch.Add(time.Minute))
	mustCreateExecution(t, s, newExecution("long", executionspb.Execution_ACTIVE, epoch), epoch.Add(time.Hour))
	if err := s.RenewExecutions(ctx, []string{wfName + "/executions/renewed"}, epoch.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	end := func(e *executionspb.Execution) *executionspb.Execution {
		return finish(e, executionspb.Execution_FAILED, epoch.Add(2*time.Minute))
	}
	n, err := s.FailExpiredExecutions(ctx, epoch.Add(2*time.Minute), end)
	if err != nil || n != 1 {
		t.Fatalf("FailExpiredExecutions = %d, %v; want 1", n, err)
	}
	for id, want := range map[string]executionspb.Execution_State{
		"short": executionspb.Execution_FAILED, "renewed": executionspb.Execution_ACTIVE, "long": executionspb.Execution_ACTIVE,
	} {
		got, err := s.GetExecution(ctx, wfName+"/executions/"+id)
		if err != nil || got.GetState() != want {
			t.Errorf("%s: %v, %v; want %v", id, got.GetState(), err, want)
		}
	}
	// A finished execution holds no lease, even when renewed.
	if err := s.RenewExecutions(ctx, []string{wfName + "/executions/short"}, epoch.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err = s.FailExpiredExecutions(ctx, epoch.Add(90*time.Minute), end)
	if err != nil || n != 1 {
		t.Fatalf("second FailExpiredExecutions = %d, %v; want 1 (long)", n, err)
	}
	if n, _ := s.FailExpiredExecutions(ctx, epoch.Add(4*time.Hour), end); n != 1 {
		t.Fatalf("third FailExpiredExecutions = %d; want 1 (renewed)", n)
	}
}

func testExecutionRetention(t *testing.T, s store.WorkflowStore) {
	ctx := context.Background()
	putWorkflow(t, s, wfName, "000001-aaa", "a", true)
	mustCreateExecution(t, s, finish(newExecution("old", executionspb.Execution_ACTIVE, epoch), executionspb.Execution_SUCCEEDED, epoch.Add(time.Minute)), time.Time{})
	mustCreateExecution(t, s, finish(newExecution("new", executionspb.Execution_ACTIVE, epoch), executionspb.Execution_CANCELLED, epoch.Add(time.Hour)), time.Time{})
	mustCreateExecution(t, s, newExecution("running", executionspb.Execution_ACTIVE, epoch), epoch.Add(time.Minute))
	n, err := s.DeleteExecutionsEndedBefore(ctx, epoch.Add(30*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExecutionsEndedBefore = %d, %v; want 1", n, err)
	}
	list, err := s.ListExecutions(ctx, wfName)
	if err != nil || len(list) != 2 || list[0].GetName() != wfName+"/executions/new" || list[1].GetName() != wfName+"/executions/running" {
		t.Fatalf("left = %v, %v; want new and running", list, err)
	}
}
