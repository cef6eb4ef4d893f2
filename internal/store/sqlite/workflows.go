package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/store"
)

var _ store.WorkflowStore = (*Store)(nil)

func (s *Store) UpdateWorkflow(ctx context.Context, name string, fn func(cur *workflowspb.Workflow) (*workflowspb.Workflow, bool, error)) (*workflowspb.Workflow, error) {
	var out *workflowspb.Workflow
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		var cur *workflowspb.Workflow
		var data []byte
		err := tx.QueryRow(`SELECT data FROM workflows WHERE name = ?`, name).Scan(&data)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			cur = &workflowspb.Workflow{}
			if err := proto.Unmarshal(data, cur); err != nil {
				return fmt.Errorf("decoding workflow %s: %w", name, err)
			}
		}
		next, newRev, err := fn(cur)
		if err != nil {
			return fnError{err}
		}
		out = next
		if next == nil {
			for _, q := range []string{
				`DELETE FROM workflows WHERE name = ?`,
				`DELETE FROM workflow_revisions WHERE workflow = ?`,
				`DELETE FROM executions WHERE workflow = ?`,
			} {
				if _, err := tx.Exec(q, name); err != nil {
					return err
				}
			}
			return nil
		}
		b, err := proto.Marshal(next)
		if err != nil {
			return fmt.Errorf("encoding workflow %s: %w", name, err)
		}
		if _, err := tx.Exec(`INSERT INTO workflows (name, data) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data`, name, b); err != nil {
			return err
		}
		if newRev {
			_, err = tx.Exec(`INSERT INTO workflow_revisions (workflow, seq, revision, data)
				VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM workflow_revisions WHERE workflow = ?), ?, ?)`,
				name, name, next.GetRevisionId(), b)
		}
		return err
	})
	var fe fnError
	if errors.As(err, &fe) {
		return nil, fe.err
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
		err = s.queryRow(ctx, `SELECT data FROM workflows WHERE name = ?`, name).Scan(&data)
	} else {
		err = s.queryRow(ctx, `SELECT data FROM workflow_revisions WHERE workflow = ? AND revision = ?`, name, revisionID).Scan(&data)
	}
	if errors.Is(err, sql.ErrNoRows) {
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

// scanAll decodes the single data column of every row.
func scanAll[T any](rows *sql.Rows, decode func([]byte) (T, error)) ([]T, error) {
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
	rows, err := s.query(ctx, `SELECT data FROM workflows WHERE name > ? AND name < ? ORDER BY name`, prefix, prefix+"\x7f")
	if err != nil {
		return nil, fmt.Errorf("listing workflows of %s: %w", parent, err)
	}
	return scanAll(rows, decodeWorkflow)
}

func (s *Store) ListWorkflowRevisions(ctx context.Context, name string, skip, limit int) ([]*workflowspb.Workflow, error) {
	if _, err := s.GetWorkflow(ctx, name, ""); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT data FROM workflow_revisions WHERE workflow = ? ORDER BY seq DESC LIMIT ? OFFSET ?`, name, limit, skip)
	if err != nil {
		return nil, fmt.Errorf("listing revisions of %s: %w", name, err)
	}
	return scanAll(rows, decodeWorkflow)
}

func (s *Store) CreateExecution(ctx context.Context, e *executionspb.Execution, lim store.ExecutionLimits, leaseUntil time.Time) error {
	wf := store.ExecutionWorkflow(e.GetName())
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM workflows WHERE name = ?`, wf).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fnError{store.ErrNotFound}
		}
		var active, queued int
		if err := tx.QueryRow(`SELECT coalesce(sum(state = ?), 0), coalesce(sum(state = ?), 0) FROM executions WHERE workflow = ?`,
			int32(executionspb.Execution_ACTIVE), int32(executionspb.Execution_QUEUED), wf).Scan(&active, &queued); err != nil {
			return err
		}
		state, ok := lim.Admit(active, queued)
		if !ok {
			return fnError{store.ErrLimit}
		}
		lease, created := micros(leaseUntil), micros(e.GetStartTime().AsTime())
		if state == executionspb.Execution_QUEUED {
			e.State, e.StartTime, lease = state, nil, 0
		}
		b, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding execution %s: %w", e.GetName(), err)
		}
		res, err := tx.Exec(`INSERT INTO executions (name, workflow, state, ended, lease, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, e.GetName(), wf, int32(e.GetState()), endedMicros(e), lease, created, b)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fnError{store.ErrAlreadyExists}
		}
		return nil
	})
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	if err != nil {
		return fmt.Errorf("creating execution %s: %w", e.GetName(), err)
	}
	return nil
}

func (s *Store) StartQueued(ctx context.Context, workflow string, maxActive int, leaseUntil time.Time, start func(*executionspb.Execution) *executionspb.Execution) ([]*executionspb.Execution, error) {
	var started []*executionspb.Execution
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		started = nil
		limit := -1 // SQLite's "no limit"
		if maxActive > 0 {
			var active int
			if err := tx.QueryRow(`SELECT count(*) FROM executions WHERE workflow = ? AND state = ?`,
				workflow, int32(executionspb.Execution_ACTIVE)).Scan(&active); err != nil {
				return err
			}
			if limit = maxActive - active; limit <= 0 {
				return nil
			}
		}
		rows, err := tx.Query(`SELECT data FROM executions WHERE workflow = ? AND state = ? ORDER BY name LIMIT ?`,
			workflow, int32(executionspb.Execution_QUEUED), limit)
		if err != nil {
			return err
		}
		queued, err := scanAll(rows, decodeExecution)
		if err != nil {
			return err
		}
		for _, e := range queued {
			e = start(e)
			b, err := proto.Marshal(e)
			if err != nil {
				return fmt.Errorf("encoding execution %s: %w", e.GetName(), err)
			}
			if _, err := tx.Exec(`UPDATE executions SET state = ?, data = ?, lease = ? WHERE name = ?`,
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
	rows, err := s.query(ctx, `SELECT DISTINCT workflow FROM executions WHERE state = ?`, int32(executionspb.Execution_QUEUED))
	if err != nil {
		return nil, fmt.Errorf("listing workflows with queued executions: %w", err)
	}
	return scanAll(rows, func(b []byte) (string, error) { return string(b), nil })
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
	err := s.queryRow(ctx, `SELECT data FROM executions WHERE name = ?`, name).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading execution %s: %w", name, err)
	}
	return decodeExecution(data)
}

func (s *Store) UpdateExecution(ctx context.Context, name string, fn func(cur *executionspb.Execution) (*executionspb.Execution, error)) (*executionspb.Execution, error) {
	var out *executionspb.Execution
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		var data []byte
		err := tx.QueryRow(`SELECT data FROM executions WHERE name = ?`, name).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return fnError{store.ErrNotFound}
		}
		if err != nil {
			return err
		}
		cur, err := decodeExecution(data)
		if err != nil {
			return err
		}
		if out, err = fn(cur); err != nil {
			return fnError{err}
		}
		return putExecution(tx, out)
	})
	var fe fnError
	if errors.As(err, &fe) {
		return nil, fe.err
	}
	if err != nil {
		return nil, fmt.Errorf("updating execution %s: %w", name, err)
	}
	return out, nil
}

// putExecution stores an existing execution, dropping its lease once it
// has finished.
func putExecution(tx *sql.Tx, e *executionspb.Execution) error {
	b, err := proto.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding execution %s: %w", e.GetName(), err)
	}
	_, err = tx.Exec(`UPDATE executions SET state = ?, ended = ?, data = ?,
		lease = CASE WHEN ? THEN 0 ELSE lease END WHERE name = ?`,
		int32(e.GetState()), endedMicros(e), b, store.ExecutionFinished(e.GetState()), e.GetName())
	return err
}

func (s *Store) ListExecutions(ctx context.Context, workflow string) ([]*executionspb.Execution, error) {
	rows, err := s.query(ctx, `SELECT data FROM executions WHERE workflow = ? ORDER BY name`, workflow)
	if err != nil {
		return nil, fmt.Errorf("listing executions of %s: %w", workflow, err)
	}
	return scanAll(rows, decodeExecution)
}

func (s *Store) ListExecutionsPage(ctx context.Context, workflow string, after *store.ExecutionKey, ascending bool, limit int) ([]*executionspb.Execution, []store.ExecutionKey, error) {
	cond, order, args := store.ExecutionPageQuery(after, ascending, func(int) string { return "?" }, 2)
	rows, err := s.query(ctx, `SELECT created, name, data FROM executions WHERE workflow = ?`+cond+order+` LIMIT ?`,
		slices.Concat([]any{workflow}, args, []any{limit})...)
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
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		for _, n := range names {
			if _, err := tx.Exec(`UPDATE executions SET lease = ? WHERE name = ? AND state = ?`,
				micros(until), n, int32(executionspb.Execution_ACTIVE)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("renewing execution leases: %w", err)
	}
	return nil
}

func (s *Store) FailExpiredExecutions(ctx context.Context, before time.Time, end func(*executionspb.Execution) *executionspb.Execution) (int, error) {
	var n int
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.Query(`SELECT data FROM executions WHERE lease > 0 AND lease < ? AND state = ?`,
			micros(before), int32(executionspb.Execution_ACTIVE))
		if err != nil {
			return err
		}
		expired, err := scanAll(rows, decodeExecution)
		if err != nil {
			return err
		}
		for _, e := range expired {
			if err := putExecution(tx, end(e)); err != nil {
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
	var n int64
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM executions WHERE ended > 0 AND ended < ?`, micros(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deleting old executions: %w", err)
	}
	return int(n), nil
}
