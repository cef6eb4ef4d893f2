package workflowsapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/workflowsapi"
)

func wantInterrupted(t *testing.T, e *executionspb.Execution) {
	t.Helper()
	if e.GetState() != executionspb.Execution_FAILED || !strings.Contains(e.GetError().GetContext(), "interrupted") ||
		!strings.Contains(e.GetError().GetPayload(), "SystemError") || e.GetEndTime() == nil {
		t.Fatalf("execution = %v, want FAILED as interrupted", e)
	}
}

// TestStopInterrupts: a graceful stop ends the executions in progress
// FAILED (interrupted) before the store closes.
func TestStopInterrupts(t *testing.T) {
	e := start(t, openSQLite(t, t.TempDir()), workflowsapi.Config{})
	tg := newTarget(t)
	tg.hold = make(chan struct{})
	t.Cleanup(func() { close(tg.hold) })
	e.deploy(t, "grpc", "held", "- wait:\n    call: http.get\n    args:\n      url: "+tg.url+"\n", nil)
	ex, err := e.ex["grpc"].CreateExecution(context.Background(), &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/held"})
	if err != nil {
		t.Fatal(err)
	}
	tg.next(t)
	e.stop()
	got, err := e.st.GetExecution(context.Background(), ex.GetName())
	if err != nil {
		t.Fatal(err)
	}
	wantInterrupted(t, got)
}

// TestDeadProcessLeases: an execution that a dead process left ACTIVE
// ends FAILED when a service starts after its lease ran out (PostgreSQL,
// shared by nodes), or at once when the service owns the store (SQLite).
func TestDeadProcessLeases(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for storeName, open := range stores(t) {
		t.Run(storeName, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { st.Close() })
			ctx := context.Background()
			const wf = loc + "/workflows/w"
			if _, err := st.UpdateWorkflow(ctx, wf, func(*workflowspb.Workflow) (*workflowspb.Workflow, bool, error) {
				return &workflowspb.Workflow{Name: wf, RevisionId: "000001-abc"}, true, nil
			}); err != nil {
				t.Fatal(err)
			}
			left := &executionspb.Execution{Name: wf + "/executions/left", State: executionspb.Execution_ACTIVE, StartTime: timestamppb.New(t0)}
			if err := st.CreateExecution(ctx, left, store.ExecutionLimits{}, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			startAt := func(now time.Time, sole bool, name string) *executionspb.Execution {
				svc := workflowsapi.New(st, st, workflowsapi.Config{Now: func() time.Time { return now }, SoleOwner: sole})
				if err := svc.Start(ctx); err != nil {
					t.Fatal(err)
				}
				svc.Stop()
				got, err := st.GetExecution(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			if got := startAt(t0.Add(30*time.Second), false, left.GetName()); got.GetState() != executionspb.Execution_ACTIVE {
				t.Fatalf("a node starting while the lease lasts ended it: %v", got)
			}
			got := startAt(t0.Add(2*time.Minute), false, left.GetName())
			wantInterrupted(t, got)
			if got.GetEndTime().AsTime() != t0.Add(2*time.Minute) {
				t.Errorf("end time %v, want the sweep's", got.GetEndTime().AsTime())
			}

			// A sole owner knows every ACTIVE execution it finds is orphaned.
			orphan := &executionspb.Execution{Name: wf + "/executions/orphan", State: executionspb.Execution_ACTIVE, StartTime: timestamppb.New(t0)}
			if err := st.CreateExecution(ctx, orphan, store.ExecutionLimits{}, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			wantInterrupted(t, startAt(t0.Add(time.Second), true, orphan.GetName()))
		})
	}
}

// TestTwoNodes: on PostgreSQL, shared by nodes, a cancel made on another
// node stops the run at its node's next sweep (a quarter of the 200 ms
// lease), and the run's end leaves it CANCELLED.
func TestTwoNodes(t *testing.T) {
	open, ok := stores(t)["postgres"]
	if !ok {
		t.Skip("OPENTASKS_TEST_POSTGRES is not set")
	}
	st := open(t)
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	tg := newTarget(t)
	tg.hold = make(chan struct{})
	t.Cleanup(func() { close(tg.hold) })
	nodes := make([]*workflowsapi.Service, 2)
	for i := range nodes {
		nodes[i] = workflowsapi.New(st, st, workflowsapi.Config{LeaseTTL: 200 * time.Millisecond})
		if err := nodes[i].Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nodes[i].Stop)
	}
	op, err := nodes[0].CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: loc, WorkflowId: "held",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{
			SourceContents: "- wait:\n    call: http.get\n    args:\n      url: " + tg.url + "\n"}}})
	if err != nil || op.GetError() != nil {
		t.Fatal(err, op.GetError())
	}
	ex, err := nodes[0].CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/held"})
	if err != nil {
		t.Fatal(err)
	}
	tg.next(t)
	if _, err := nodes[1].CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: ex.GetName()}); err != nil {
		t.Fatalf("cancel on the other node: %v", err)
	}
	select {
	case <-nodes[0].Finished(ex.GetName()):
	case <-time.After(waitSpan):
		t.Fatal("the run did not stop after a cancel on the other node")
	}
	got, err := st.GetExecution(ctx, ex.GetName())
	if err != nil || got.GetState() != executionspb.Execution_CANCELLED {
		t.Fatalf("execution = %v, %v; want CANCELLED", got, err)
	}
}

// TestBounds: past MaxActive a new execution is RESOURCE_EXHAUSTED (what
// makes a Cloud Tasks task retry); finished executions older than
// Retention are deleted, the others kept.
func TestBounds(t *testing.T) {
	st := openSQLite(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	tg := newTarget(t)
	tg.hold = make(chan struct{})
	svc := workflowsapi.New(st, st, workflowsapi.Config{MaxActive: 1})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	op, err := svc.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: loc, WorkflowId: "one",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{
			SourceContents: "- wait:\n    call: http.get\n    args:\n      url: " + tg.url + "\n"}}})
	if err != nil || op.GetError() != nil {
		t.Fatal(err, op.GetError())
	}
	first, err := svc.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/one"})
	if err != nil {
		t.Fatal(err)
	}
	tg.next(t)
	if _, err := svc.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/one"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second active execution with MaxActive 1: %v, want RESOURCE_EXHAUSTED", err)
	}
	close(tg.hold)
	<-svc.Finished(first.GetName())
	second, err := svc.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/one"})
	if err != nil {
		t.Fatalf("once the first has ended: %v", err)
	}
	<-svc.Finished(second.GetName())
	svc.Stop()

	// A day later, with a retention of a day and a bit: the first, ended
	// before the second, is gone at the next start.
	end := func(name string) time.Time {
		e, err := st.GetExecution(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return e.GetEndTime().AsTime()
	}
	cut := end(first.GetName()).Add(end(second.GetName()).Sub(end(first.GetName())) / 2)
	later := workflowsapi.New(st, st, workflowsapi.Config{Retention: 24 * time.Hour, Now: func() time.Time { return cut.Add(24 * time.Hour) }})
	if err := later.Start(ctx); err != nil {
		t.Fatal(err)
	}
	later.Stop()
	if _, err := st.GetExecution(ctx, first.GetName()); err == nil {
		t.Error("the execution past retention is still there")
	}
	if _, err := st.GetExecution(ctx, second.GetName()); err != nil {
		t.Errorf("the execution within retention: %v", err)
	}
}

// TestQueue: past MaxActive new executions are QUEUED (no start time),
// past MaxQueued refused; a queued one can be cancelled; when the active
// one ends, the oldest queued one starts and runs.
func TestQueue(t *testing.T) {
	for storeName, open := range stores(t) {
		t.Run(storeName, func(t *testing.T) {
			e := start(t, open(t), workflowsapi.Config{MaxActive: 1, MaxQueued: 2})
			ctx := context.Background()
			tg := newTarget(t)
			tg.hold = make(chan struct{})
			e.deploy(t, "grpc", "one", "- wait:\n    call: http.get\n    args:\n      url: "+tg.url+"\n- done:\n    return: ok\n", nil)
			create := func() (*executionspb.Execution, error) {
				return e.ex["grpc"].CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/one"})
			}
			first, err := create()
			if err != nil || first.GetState() != executionspb.Execution_ACTIVE {
				t.Fatalf("first = %v, %v", first, err)
			}
			tg.next(t)
			var queued []*executionspb.Execution
			for range 2 {
				q, err := create()
				if err != nil || q.GetState() != executionspb.Execution_QUEUED || q.GetStartTime() != nil {
					t.Fatalf("past MaxActive: %v, %v; want QUEUED without a start time", q, err)
				}
				queued = append(queued, q)
			}
			if _, err := create(); status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("past MaxQueued: %v, want RESOURCE_EXHAUSTED", err)
			}
			if c, err := e.ex["rest"].CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: queued[1].GetName()}); err != nil || c.GetState() != executionspb.Execution_CANCELLED {
				t.Fatalf("cancel of a queued execution: %v, %v", c, err)
			} else if c.GetStartTime() != nil || c.GetDuration() != nil {
				t.Errorf("a queued execution cancelled: start %v, duration %v; it never started", c.GetStartTime(), c.GetDuration())
			}
			close(tg.hold)
			if got := e.await(t, "grpc", first.GetName()); got.GetState() != executionspb.Execution_SUCCEEDED {
				t.Fatalf("first = %v", got)
			}
			got := e.await(t, "grpc", queued[0].GetName())
			if got.GetState() != executionspb.Execution_SUCCEEDED || got.GetStartTime() == nil || got.GetResult() != `"ok"` {
				t.Fatalf("the queued one after the first ended: %v, want SUCCEEDED", got)
			}
			if got, _ := e.ex["grpc"].GetExecution(ctx, &executionspb.GetExecutionRequest{Name: queued[1].GetName()}); got.GetState() != executionspb.Execution_CANCELLED {
				t.Errorf("the cancelled queued one became %v", got.GetState())
			}
		})
	}
}
