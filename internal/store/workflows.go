package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/protobuf/proto"
)

// ErrLimit: a new execution would pass its workflow's limits of active
// and queued executions.
var ErrLimit = errors.New("store: too many active executions")

// WorkflowStore is the state of the Workflows and Executions APIs
// (internal/workflowsapi), implemented by both backends beside Store and
// checked by storetest.RunWorkflows. Workflows and executions are stored
// as their API messages; only what is searched on (an execution's
// workflow, state, end and lease) has columns of its own.
//
// An ACTIVE execution holds a lease, renewed by the process running it
// (RenewExecutions). A lease that ran out means its process died: the
// execution is then ended by FailExpiredExecutions, so that no execution
// stays ACTIVE forever.
type WorkflowStore interface {
	// UpdateWorkflow reads the workflow (nil when absent), calls fn and
	// stores what it returns, in one transaction. When fn reports a new
	// revision, the returned workflow is also kept as that revision
	// (GetWorkflow with its RevisionId, ListWorkflowRevisions). A nil
	// workflow deletes it with its revisions and executions. An error
	// from fn is returned as is.
	UpdateWorkflow(ctx context.Context, name string, fn func(cur *workflowspb.Workflow) (next *workflowspb.Workflow, newRevision bool, err error)) (*workflowspb.Workflow, error)
	// GetWorkflow returns the latest revision of the workflow when
	// revisionID is empty, that revision otherwise; ErrNotFound if either
	// does not exist.
	GetWorkflow(ctx context.Context, name, revisionID string) (*workflowspb.Workflow, error)
	// ListWorkflows returns the workflows whose names start with
	// parent+"/workflows/", in name order.
	ListWorkflows(ctx context.Context, parent string) ([]*workflowspb.Workflow, error)
	// ListWorkflowRevisions returns up to limit revisions of the workflow,
	// newest first, after skipping skip of them. ErrNotFound if the
	// workflow does not exist.
	ListWorkflowRevisions(ctx context.Context, name string, skip, limit int) ([]*workflowspb.Workflow, error)

	// CreateExecution stores a new execution (named WORKFLOW/executions/ID)
	// as lim.Admit decides: ACTIVE holding a lease until leaseUntil, or
	// QUEUED (e's State is set so and its StartTime cleared, no lease), or
	// not at all: ErrLimit. ErrNotFound if the workflow does not exist,
	// ErrAlreadyExists if the name is taken.
	CreateExecution(ctx context.Context, e *executionspb.Execution, lim ExecutionLimits, leaseUntil time.Time) error
	// StartQueued makes ACTIVE, oldest name first, as many QUEUED
	// executions of the workflow as its ACTIVE ones leave room for under
	// maxActive (0: all), storing what start returns for each with a
	// lease until leaseUntil, and returns them.
	StartQueued(ctx context.Context, workflow string, maxActive int, leaseUntil time.Time, start func(*executionspb.Execution) *executionspb.Execution) ([]*executionspb.Execution, error)
	// QueuedWorkflows returns the workflows that have QUEUED executions.
	QueuedWorkflows(ctx context.Context) ([]string, error)
	// GetExecution returns the execution or ErrNotFound.
	GetExecution(ctx context.Context, name string) (*executionspb.Execution, error)
	// UpdateExecution reads the execution, calls fn and stores what it
	// returns, in one transaction; a finished execution (not ACTIVE or
	// QUEUED) drops its lease. ErrNotFound if it does not exist; an error
	// from fn is returned as is.
	UpdateExecution(ctx context.Context, name string, fn func(cur *executionspb.Execution) (*executionspb.Execution, error)) (*executionspb.Execution, error)
	// ListExecutions returns every execution of the workflow, of all its
	// revisions, in name order.
	ListExecutions(ctx context.Context, workflow string) ([]*executionspb.Execution, error)
	// ListExecutionsPage returns up to limit executions of the workflow
	// that come after after (nil: from the first) in creation order,
	// newest first unless ascending, ties by name in the same direction,
	// with the key of each. Keys never change, so paging by them neither
	// repeats nor skips what exists throughout, whatever is created or
	// deleted between pages.
	ListExecutionsPage(ctx context.Context, workflow string, after *ExecutionKey, ascending bool, limit int) ([]*executionspb.Execution, []ExecutionKey, error)
	// RenewExecutions extends the leases of those of the named executions
	// that are still ACTIVE until until.
	RenewExecutions(ctx context.Context, names []string, until time.Time) error
	// FailExpiredExecutions ends every ACTIVE execution whose lease ends
	// before before: it stores what end returns for it, which must be
	// finished, and reports how many it ended.
	FailExpiredExecutions(ctx context.Context, before time.Time, end func(*executionspb.Execution) *executionspb.Execution) (int, error)
	// DeleteExecutionsEndedBefore deletes the finished executions whose
	// end_time is before before and reports how many.
	DeleteExecutionsEndedBefore(ctx context.Context, before time.Time) (int, error)
}

// ExecutionLimits bound the executions of one workflow.
type ExecutionLimits struct {
	// MaxActive is the most ACTIVE executions; 0 is no bound.
	MaxActive int
	// MaxQueued is the most QUEUED ones, waiting for an ACTIVE one to
	// end; 0 queues none.
	MaxQueued int
}

// Admit decides the state of a new execution of a workflow that has
// active and queued executions: ACTIVE while there is room and no backlog
// (so the backlog starts first), else QUEUED while the backlog has room,
// else none (ok false).
func (l ExecutionLimits) Admit(active, queued int) (state executionspb.Execution_State, ok bool) {
	switch {
	case l.MaxActive <= 0 || (active < l.MaxActive && queued == 0):
		return executionspb.Execution_ACTIVE, true
	case queued < l.MaxQueued:
		return executionspb.Execution_QUEUED, true
	}
	return 0, false
}

// ExecutionWorkflow returns the name of the workflow an execution name
// belongs to, or "" when name is not an execution's.
func ExecutionWorkflow(name string) string {
	wf, _, ok := strings.Cut(name, "/executions/")
	if !ok {
		return ""
	}
	return wf
}

// ExecutionFinished reports whether an execution in state s has ended.
func ExecutionFinished(s executionspb.Execution_State) bool {
	return s != executionspb.Execution_ACTIVE && s != executionspb.Execution_QUEUED
}

// ExecutionKey is an execution's place in ListExecutionsPage's order.
type ExecutionKey struct {
	// Created is when CreateExecution stored it, in microseconds since
	// the epoch.
	Created int64
	Name    string
}

// ExecutionPageQuery is the WHERE and ORDER BY of ListExecutionsPage
// after the workflow's condition, for a store whose placeholders param
// numbers from first (SQLite's "?" ignore it, PostgreSQL's "$N" do not).
func ExecutionPageQuery(after *ExecutionKey, ascending bool, param func(n int) string, first int) (cond, order string, args []any) {
	cmp, dir := "<", "DESC"
	if ascending {
		cmp, dir = ">", "ASC"
	}
	if after != nil {
		cond = " AND (created, name) " + cmp + " (" + param(first) + ", " + param(first+1) + ")"
		args = []any{after.Created, after.Name}
	}
	return cond, " ORDER BY created " + dir + ", name " + dir, args
}

// ExecutionRows are the rows of ListExecutionsPage's query (created,
// name, data): *sql.Rows or pgx.Rows.
type ExecutionRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanExecutionPage decodes the ExecutionRows of workflow's executions.
func ScanExecutionPage(workflow string, rows ExecutionRows) ([]*executionspb.Execution, []ExecutionKey, error) {
	var es []*executionspb.Execution
	var keys []ExecutionKey
	for rows.Next() {
		var k ExecutionKey
		var b []byte
		if err := rows.Scan(&k.Created, &k.Name, &b); err != nil {
			return nil, nil, fmt.Errorf("listing executions of %s: %w", workflow, err)
		}
		e := &executionspb.Execution{}
		if err := proto.Unmarshal(b, e); err != nil {
			return nil, nil, fmt.Errorf("decoding execution %s: %w", k.Name, err)
		}
		es, keys = append(es, e), append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("listing executions of %s: %w", workflow, err)
	}
	return es, keys, nil
}
