package postgres

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/store"
)

var (
	//go:embed sql/create_tasks.sql
	createTasksSQL string
	//go:embed sql/end_tasks.sql
	endTasksSQL string
	//go:embed sql/reschedule_tasks.sql
	rescheduleTasksSQL string
)

// The kinds of task writes; each op's args are its row of the statement's
// arrays, in the order of the SQL's parameters.
var (
	// args: queue, task name, now, id, due, created, exec_count, data.
	createTasks = &kind{sql: createTasksSQL, arrays: func(ops []*op) []any {
		return []any{column[string](ops, 0), column[string](ops, 1), column[int64](ops, 2),
			column[string](ops, 3), column[int64](ops, 4), column[int64](ops, 5),
			column[int32](ops, 6), column[[]byte](ops, 7)}
	}}
	// args: queue, id, lease end seen (nil: any), task name, tombstone expiry.
	endTasks = &kind{sql: endTasksSQL, existing: true, arrays: func(ops []*op) []any {
		return []any{column[string](ops, 0), column[string](ops, 1), column[*int64](ops, 2),
			column[string](ops, 3), column[int64](ops, 4)}
	}}
	// args: queue, id, due time seen (nil: any), new due time, data, exec_count.
	rescheduleTasks = &kind{sql: rescheduleTasksSQL, existing: true, arrays: func(ops []*op) []any {
		return []any{column[string](ops, 0), column[string](ops, 1), column[*int64](ops, 2),
			column[int64](ops, 3), column[[]byte](ops, 4), column[int32](ops, 5)}
	}}
)

func (s *Store) CreateTask(ctx context.Context, t *store.Task) error {
	o, err := s.createOp(t)
	if err != nil {
		return err
	}
	return s.w.do(ctx, o)
}

// createOp returns the write that creates t.
func (s *Store) createOp(t *store.Task) (*op, error) {
	// Encoding here, not in the writer, spreads the work over callers.
	data, err := proto.Marshal(t.Task)
	if err != nil {
		return nil, fmt.Errorf("encoding task: %w", err)
	}
	due := micros(t.Task.GetScheduleTime().AsTime())
	var queueFound, dead, inserted bool
	return &op{
		kind: createTasks,
		args: []any{t.Queue, t.Task.GetName(), micros(s.now()), t.ID,
			due, micros(t.Created), t.ExecutionCount, data},
		dest: []any{&queueFound, &dead, &inserted},
		outcome: func() error {
			switch {
			case !queueFound:
				return store.ErrQueueNotFound
			case dead, !inserted:
				return store.ErrAlreadyExists
			}
			return nil
		},
		wake:  &note{kind: noteDue, queue: t.Queue, due: due},
		queue: t.Queue, task: t.ID,
	}, nil
}

func (s *Store) GetTask(ctx context.Context, queue, id string) (*store.Task, error) {
	var created int64
	var exec int32
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT t.created, t.exec_count, t.data
		FROM tasks t JOIN queues q ON q.id = t.queue_id WHERE q.name = $1 AND t.id = $2`, queue, id).
		Scan(&created, &exec, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		dead, err := tombstoned(ctx, s.pool, queue+"/tasks/"+id, s.now())
		switch {
		case err != nil:
			return nil, fmt.Errorf("reading task %s/tasks/%s: %w", queue, id, err)
		case dead:
			return nil, store.ErrTombstoned
		}
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading task %s/tasks/%s: %w", queue, id, err)
	}
	return decodeTask(queue, id, created, exec, data)
}

func (s *Store) DeleteTask(ctx context.Context, queue, id string, tombstoneUntil time.Time) error {
	var deleted bool
	return s.w.do(ctx, &op{
		kind:  endTasks,
		args:  []any{queue, id, (*int64)(nil), queue + "/tasks/" + id, micros(tombstoneUntil)},
		dest:  []any{&deleted},
		queue: queue, task: id,
		outcome: func() error {
			if !deleted {
				return store.ErrNotFound
			}
			return nil
		},
	})
}

func (s *Store) ListTasks(ctx context.Context, queue, after string, limit int) ([]*store.Task, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.id, t.created, t.exec_count, t.data
		FROM tasks t JOIN queues q ON q.id = t.queue_id
		WHERE q.name = $1 AND t.id > $2 ORDER BY t.id LIMIT $3`, queue, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing tasks of %s: %w", queue, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Task, error) {
		var id string
		var created int64
		var exec int32
		var data []byte
		if err := row.Scan(&id, &created, &exec, &data); err != nil {
			return nil, err
		}
		return decodeTask(queue, id, created, exec, data)
	})
	if err != nil {
		return nil, fmt.Errorf("listing tasks of %s: %w", queue, err)
	}
	return out, nil
}

func decodeTask(queue, id string, created int64, exec int32, data []byte) (*store.Task, error) {
	pb := new(cloudtaskspb.Task)
	if err := proto.Unmarshal(data, pb); err != nil {
		return nil, fmt.Errorf("decoding stored task %s/tasks/%s: %w", queue, id, err)
	}
	return &store.Task{Queue: queue, ID: id, Task: pb, Created: fromMicros(created), ExecutionCount: exec}, nil
}
