package workflowsapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/protobuf/types/known/timestamppb"

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
			if err := st.CreateExecution(ctx, left, 0, t0.Add(time.Minute)); err != nil {
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
			if err := st.CreateExecution(ctx, orphan, 0, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			wantInterrupted(t, startAt(t0.Add(time.Second), true, orphan.GetName()))
		})
	}
}
