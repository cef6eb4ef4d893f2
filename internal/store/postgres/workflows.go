package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/store"
)

var _ store.WorkflowStore = (*Store)(nil)

func (s *Store) UpdateWorkflow(ctx context.Context, name string, fn func(cur *workflowspb.Workflow) (*workflowspb.Workflow, bool, error)) (*workflowspb.Workflow, error) {
	var out *workflowspb.Workflow
	var fnErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockName(ctx, tx, "workflow "+name); err != nil {
			return err
		}
		var cur *workflowspb.Workflow
		var data []byte
		err := tx.QueryRow(ctx, `SELECT data FROM workflows WHERE name = $1`, name).Scan(&data)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			if cur, err = decodeWorkflow(data); err != nil {
				return err
			}
		}
		next, newRev, err := fn(cur)
		if err != nil {
			fnErr = err
			return err
		}
		out = next
		if next == nil {
			for _, q := range []string{
				`DELETE FROM workflows WHERE name = $1`,
				`DELETE FROM workflow_revisions WHERE workflow = $1`,
				`DELETE FROM executions WHERE workflow = $1`,
			} {
				if _, err := tx.Exec(ctx, q, name); err != nil {
					return err
				}
			}
			return nil
		}
		b, err := proto.Marshal(next)
		if err != nil {
			return fmt.Errorf("encoding workflow %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO workflows (name, data) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data`, name, b); err != nil {
			return err
		}
		if newRev {
			_, err = tx.Exec(ctx, `INSERT INTO workflow_revisions (workflow, seq, revision, data)
				VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM workflow_revisions WHERE workflow = $1), $2, $3)`,
				name, next.GetRevisionId(), b)
		}
		return err
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("updating workflow %s: %w", name, err)
	}
	return out, nil
}

func (s *Store) GetWorkflow(ctx context.Context, name, revisionID string) (*workflowspb.Workflow, error) {
	var data []byte
	var err error
	if revisionID == "" {
		err = s.pool.QueryRow(ctx, `SELECT data FROM workflows WHERE name = $1`, name).Scan(&data)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT data FROM workflow_revisions WHERE workflow = $1 AND revision = $2`, name, revisionID).Scan(&data)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading workflow %s: %w", name, err)
	}
	return decodeWorkflow(data)
}

func decodeWorkflow(b []byte) (*workflowspb.Workflow, error) {
	w := &workflowspb.Workflow{}
	if err := proto.Unmarshal(b, w); err != nil {
		return nil, fmt.Errorf("decoding workflow: %w", err)
	}
	return w, nil
}

func decodeExecution(b []byte) (*executionspb.Execution, error) {
	e := &executionspb.Execution{}
	if err := proto.Unmarshal(b, e); err != nil {
		return nil, fmt.Errorf("decoding execution: %w", err)
	}
	return e, nil
}

// queryAll runs a query whose single column is an encoded message and
// decodes every row.
func queryAll[T any](ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, decode func([]byte) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		v, err := decode(b)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *Store) ListWorkflows(ctx context.Context, parent string) ([]*workflowspb.Workflow, error) {
	prefix := parent + "/workflows/"
	out, err := queryAll(ctx, s.pool, decodeWorkflow,
		`SELECT data FROM workflows WHERE name > $1 AND name < $2 ORDER BY name`, prefix, prefix+"\x7f")
	if err != nil {
		return nil, fmt.Errorf("listing workflows of %s: %w", parent, err)
	}
	return out, nil
}

func (s *Store) ListWorkflowRevisions(ctx context.Context, name string, skip, limit int) ([]*workflowspb.Workflow, error) {
	if _, err := s.GetWorkflow(ctx, name, ""); err != nil {
		return nil, err
	}
	out, err := queryAll(ctx, s.pool, decodeWorkflow,
		`SELECT data FROM workflow_revisions WHERE workflow = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3`, name, limit, skip)
	if err != nil {
		return nil, fmt.Errorf("listing revisions of %s: %w", name, err)
	}
	return out, nil
}

func (s *Store) CreateExecution(ctx context.Context, e *executionspb.Execution, lim store.ExecutionLimits, leaseUntil time.Time) error {
	wf := store.ExecutionWorkflow(e.GetName())
	var refused error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Executions of one workflow are counted and created in turn, and
		// never while the workflow is being changed or deleted.
		if err := lockName(ctx, tx, "workflow "+wf); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM workflows WHERE name = $1`, wf).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			refused = store.ErrNotFound
			return refused
		}
		var active, queued int
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = $2), count(*) FILTER (WHERE state = $3) FROM executions WHERE workflow = $1`,
			wf, int32(executionspb.Execution_ACTIVE), int32(executionspb.Execution_QUEUED)).Scan(&active, &queued); err != nil {
			return err
		}
		state, ok := lim.Admit(active, queued)
		if !ok {
			refused = store.ErrLimit
			return refused
		}
		lease, created := micros(leaseUntil), micros(e.GetStartTime().AsTime())
		if state == executionspb.Execution_QUEUED {
			e.State, e.StartTime, lease = state, nil, 0
		}
		b, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding execution %s: %w", e.GetName(), err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO executions (name, workflow, state, ended, lease, created, data) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (name) DO NOTHING`, e.GetName(), wf, int32(e.GetState()), endedMicros(e), lease, created, b)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			refused = store.ErrAlreadyExists
			return refused
		}
		return nil
	})
	if refused != nil {
		return refused
	}
	if err != nil {
		return fmt.Errorf("creating execution %s: %w", e.GetName(), err)
	}
	return nil
}

func (s *Store) StartQueued(ctx context.Context, workflow string, maxActive int, leaseUntil time.Time, start func(*executionspb.Execution) *executionspb.Execution) ([]*executionspb.Execution, error) {
	var started []*executionspb.Execution
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		started = nil
		if err := lockName(ctx, tx, "workflow "+workflow); err != nil {
			return err
		}
		var limit *int // NULL: no limit
		if maxActive > 0 {
			var active int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM executions WHERE workflow = $1 AND state = $2`,
				workflow, int32(executionspb.Execution_ACTIVE)).Scan(&active); err != nil {
				return err
			}
			free := maxActive - active
			if free <= 0 {
				return nil
			}
			limit = &free
		}
		queued, err := queryAll(ctx, tx, decodeExecution,
			`SELECT data FROM executions WHERE workflow = $1 AND state = $2 ORDER BY name LIMIT $3`,
			workflow, int32(executionspb.Execution_QUEUED), limit)
		if err != nil {
			return err
		}
		for _, e := range queued {
			e = start(e)
			b, err := proto.Marshal(e)
			if err != nil {
				return fmt.Errorf("encoding execution %s: %w", e.GetName(), err)
			}
			if _, err := tx.Exec(ctx, `UPDATE executions SET state = $1, data = $2, lease = $3 WHERE name = $4`,
				int32(e.GetState()), b, micros(leaseUntil), e.GetName()); err != nil {
				return err
			}
			started = append(started, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("starting queued executions of %s: %w", workflow, err)
	}
	return started, nil
}

func (s *Store) QueuedWorkflows(ctx context.Context) ([]string, error) {
	out, err := queryAll(ctx, s.pool, func(b []byte) (string, error) { return string(b), nil },
		`SELECT DISTINCT workflow FROM executions WHERE state = $1`, int32(executionspb.Execution_QUEUED))
	if err != nil {
		return nil, fmt.Errorf("listing workflows with queued executions: %w", err)
	}
	return out, nil
}

// endedMicros is the ended column of e: its end time once finished.
func endedMicros(e *executionspb.Execution) int64 {
	if !store.ExecutionFinished(e.GetState()) || e.GetEndTime() == nil {
		return 0
	}
	return micros(e.GetEndTime().AsTime())
}

func (s *Store) GetExecution(ctx context.Context, name string) (*executionspb.Execution, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM executions WHERE name = $1`, name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading execution %s: %w", name, err)
	}
	return decodeExecution(data)
}

func (s *Store) UpdateExecution(ctx context.Context, name string, fn func(cur *executionspb.Execution) (*executionspb.Execution, error)) (*executionspb.Execution, error) {
	var out *executionspb.Execution
	var fnErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var data []byte
		err := tx.QueryRow(ctx, `SELECT data FROM executions WHERE name = $1 FOR UPDATE`, name).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			fnErr = store.ErrNotFound
			return fnErr
		}
		if err != nil {
			return err
		}
		cur, err := decodeExecution(data)
		if err != nil {
			return err
		}
		if out, err = fn(cur); err != nil {
			fnErr = err
			return err
		}
		return putExecution(ctx, tx, out)
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("updating execution %s: %w", name, err)
	}
	return out, nil
}

// putExecution stores an existing execution, dropping its lease once it
// has finished.
func putExecution(ctx context.Context, tx pgx.Tx, e *executionspb.Execution) error {
	b, err := proto.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding execution %s: %w", e.GetName(), err)
	}
	_, err = tx.Exec(ctx, `UPDATE executions SET state = $1, ended = $2, data = $3,
		lease = CASE WHEN $4 THEN 0 ELSE lease END WHERE name = $5`,
		int32(e.GetState()), endedMicros(e), b, store.ExecutionFinished(e.GetState()), e.GetName())
	return err
}

func (s *Store) ListExecutions(ctx context.Context, workflow string) ([]*executionspb.Execution, error) {
	out, err := queryAll(ctx, s.pool, decodeExecution,
		`SELECT data FROM executions WHERE workflow = $1 ORDER BY name`, workflow)
	if err != nil {
		return nil, fmt.Errorf("listing executions of %s: %w", workflow, err)
	}
	return out, nil
}

func (s *Store) ListExecutionsPage(ctx context.Context, workflow string, after *store.ExecutionKey, ascending bool, limit int) ([]*executionspb.Execution, []store.ExecutionKey, error) {
	cond, order, args := store.ExecutionPageQuery(after, ascending, func(n int) string { return "$" + strconv.Itoa(n) }, 2)
	rows, err := s.pool.Query(ctx, `SELECT created, name, data FROM executions WHERE workflow = $1`+cond+order+
		` LIMIT $`+strconv.Itoa(2+len(args)), slices.Concat([]any{workflow}, args, []any{limit})...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing executions of %s: %w", workflow, err)
	}
	defer rows.Close()
	return store.ScanExecutionPage(workflow, rows)
}

func (s *Store) RenewExecutions(ctx context.Context, names []string, until time.Time) error {
	if len(names) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE executions SET lease = $1 WHERE name = ANY($2) AND state = $3`,
		micros(until), names, int32(executionspb.Execution_ACTIVE))
	if err != nil {
		return fmt.Errorf("renewing execution leases: %w", err)
	}
	return nil
}

func (s *Store) FailExpiredExecutions(ctx context.Context, before time.Time, end func(*executionspb.Execution) *executionspb.Execution) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		expired, err := queryAll(ctx, tx, decodeExecution,
			`SELECT data FROM executions WHERE lease > 0 AND lease < $1 AND state = $2 FOR UPDATE SKIP LOCKED`,
			micros(before), int32(executionspb.Execution_ACTIVE))
		if err != nil {
			return err
		}
		for _, e := range expired {
			if err := putExecution(ctx, tx, end(e)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ending interrupted executions: %w", err)
	}
	return n, nil
}

func (s *Store) DeleteExecutionsEndedBefore(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM executions WHERE ended > 0 AND ended < $1`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("deleting old executions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
