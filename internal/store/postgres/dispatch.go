package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/store"
)

func (s *Store) AllQueues(ctx context.Context, after string, limit int) ([]*cloudtaskspb.Queue, error) {
	rows, err := s.pool.Query(ctx, `SELECT data FROM queues WHERE name > $1 ORDER BY name LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing queues: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*cloudtaskspb.Queue, error) {
		var data []byte
		if err := row.Scan(&data); err != nil {
			return nil, err
		}
		return unmarshalQueue(data)
	})
	if err != nil {
		return nil, fmt.Errorf("listing queues: %w", err)
	}
	return out, nil
}

func (s *Store) DueTasks(ctx context.Context, queue string, now time.Time, limit int) ([]*store.Task, time.Time, error) {
	var qid int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM queues WHERE name = $1`, queue).Scan(&qid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, store.ErrQueueNotFound
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading due tasks of %s: %w", queue, err)
	}
	// One row past the due ones tells when the queue is next due.
	rows, err := s.pool.Query(ctx, `SELECT id, due, created, exec_count, data FROM tasks
		WHERE queue_id = $1 ORDER BY due, id LIMIT $2`, qid, limit+1)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading due tasks of %s: %w", queue, err)
	}
	defer rows.Close()
	var due []*store.Task
	var next time.Time
	nowUS := micros(now)
	for rows.Next() {
		var id string
		var at, created int64
		var exec int32
		var data []byte
		if err := rows.Scan(&id, &at, &created, &exec, &data); err != nil {
			return nil, time.Time{}, fmt.Errorf("reading due tasks of %s: %w", queue, err)
		}
		if at > nowUS || len(due) == limit {
			next = fromMicros(at)
			break
		}
		t, err := decodeTask(queue, id, created, exec, data)
		if err != nil {
			return nil, time.Time{}, err
		}
		t.Due = fromMicros(at)
		due = append(due, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("reading due tasks of %s: %w", queue, err)
	}
	return due, next, nil
}

// lease bound: nil (a NULL parameter) matches any due time.
func dueParam(t time.Time, any bool) *int64 {
	if any {
		return nil
	}
	us := micros(t)
	return &us
}

func (s *Store) LeaseTasks(ctx context.Context, leases []store.Lease) ([]bool, error) {
	ok := make([]bool, len(leases))
	if len(leases) == 0 {
		return ok, nil
	}
	ops := make([]*op, len(leases))
	for i, l := range leases {
		data, err := proto.Marshal(l.Task)
		if err != nil {
			return nil, fmt.Errorf("encoding task: %w", err)
		}
		ops[i] = &op{
			kind:  rescheduleTasks,
			args:  []any{l.Queue, l.ID, dueParam(l.Due, l.Due.IsZero()), micros(l.Until), data, l.ExecutionCount},
			dest:  []any{&ok[i]},
			queue: l.Queue, task: l.ID,
		}
	}
	if err := s.w.doAll(ctx, ops); err != nil {
		return nil, fmt.Errorf("leasing tasks: %w", err)
	}
	return ok, nil
}

func (s *Store) CompleteTasks(ctx context.Context, cs []store.Completion) ([]bool, error) {
	ok := make([]bool, len(cs))
	if len(cs) == 0 {
		return ok, nil
	}
	ops := make([]*op, len(cs))
	for i, c := range cs {
		lease := dueParam(c.Lease, c.Force)
		if c.Delete {
			ops[i] = &op{
				kind:  endTasks,
				args:  []any{c.Queue, c.ID, lease, c.Queue + "/tasks/" + c.ID, micros(c.TombstoneUntil)},
				dest:  []any{&ok[i]},
				queue: c.Queue, task: c.ID,
			}
			continue
		}
		data, err := proto.Marshal(c.Task)
		if err != nil {
			return nil, fmt.Errorf("encoding task: %w", err)
		}
		due := micros(c.Task.GetScheduleTime().AsTime())
		ops[i] = &op{
			kind:  rescheduleTasks,
			args:  []any{c.Queue, c.ID, lease, due, data, c.ExecutionCount},
			dest:  []any{&ok[i]},
			wake:  &note{kind: noteDue, queue: c.Queue, due: due},
			queue: c.Queue, task: c.ID,
		}
	}
	if err := s.w.doAll(ctx, ops); err != nil {
		return nil, fmt.Errorf("completing tasks: %w", err)
	}
	return ok, nil
}

// RecoverLeases does nothing: other nodes may hold live leases, and a dead
// node's leases run out by themselves.
func (s *Store) RecoverLeases(context.Context) (int, error) { return 0, nil }
