package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/store"
)

func (s *Store) CreateTask(ctx context.Context, t *store.Task) error {
	// Encoding here, not in the writer, spreads the work over callers.
	data, err := proto.Marshal(t.Task)
	if err != nil {
		return fmt.Errorf("encoding task: %w", err)
	}
	return s.w.put(ctx, op{create: &taskRow{
		queue: t.Queue, id: t.ID, name: t.Task.GetName(), data: data, exec: t.ExecutionCount,
		due: micros(t.Task.GetScheduleTime().AsTime()), created: micros(t.Created), now: micros(s.now()),
	}, done: make(chan error, 1)})
}

// taskRow is a task to insert, encoded.
type taskRow struct {
	queue, id, name   string
	data              []byte
	exec              int32
	due, created, now int64
}

// maxCreateRows bounds the rows of one insert.
const maxCreateRows = 64

// createTasks inserts a run of creates with few statements: per
// statement, SQLite's and database/sql's fixed costs were about a quarter
// of the writer's time for a create. Runs are cut into powers of two
// rows (up to maxCreateRows), so that only seven statements are ever
// prepared; a prepared variant for every row count cost more to prepare
// than a short run saves. No row goes over a live task or an unexpired
// tombstone of the same name; those creates fail with ErrAlreadyExists,
// as do later duplicates within the run.
func (w *writer) createTasks(tx *sql.Tx, ops []op, errs []error) error {
	type key struct {
		qid int64
		id  string
	}
	var (
		valid []int
		qids  = make([]int64, len(ops))
	)
	for i, o := range ops {
		qid, err := w.queueID(tx, o.create.queue)
		if err != nil {
			if !apiError(err) {
				return err
			}
			errs[i] = err
			continue
		}
		qids[i] = qid
		errs[i] = store.ErrAlreadyExists // until the insert returns it
		valid = append(valid, i)
	}
	waiting := make(map[key][]int, len(valid)) // not yet inserted, in run order
	args := make([]any, 0, 7*min(len(valid), maxCreateRows)+1)
	for len(valid) > 0 {
		rows := min(maxCreateRows, 1<<(bits.Len(uint(len(valid)))-1))
		args = args[:0]
		for _, i := range valid[:rows] {
			r := ops[i].create
			k := key{qids[i], r.id}
			waiting[k] = append(waiting[k], i)
			args = append(args, qids[i], r.id, r.due, r.created, r.exec, r.data, r.name)
		}
		// The rows share one "now" for tombstones: the oldest caller's.
		args = append(args, ops[valid[0]].create.now)
		err := scan(w, tx, `INSERT INTO tasks (queue_id, id, due, created, exec_count, data)
			SELECT column1, column2, column3, column4, column5, column6 FROM (VALUES `+values(rows, 7)+`)
			WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE name = column7 AND expires > ?)
			ON CONFLICT (queue_id, id) DO NOTHING RETURNING queue_id, id`, args,
			func(qid int64, id string) {
				k := key{qid, id}
				if is := waiting[k]; len(is) > 0 {
					errs[is[0]] = nil
					waiting[k] = is[1:]
				}
			})
		if err != nil {
			return err
		}
		clear(waiting)
		valid = valid[rows:]
	}
	return nil
}

func (s *Store) GetTask(ctx context.Context, queue, id string) (*store.Task, error) {
	row := s.queryRow(ctx, `SELECT t.created, t.exec_count, t.data
		FROM tasks t JOIN queues q ON q.id = t.queue_id WHERE q.name = ? AND t.id = ?`, queue, id)
	t, err := scanTask(row, queue, id)
	if errors.Is(err, sql.ErrNoRows) {
		dead, err := tombstoned(ctx, s.read, queue+"/tasks/"+id, s.now())
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
	s.overlay(t)
	return t, nil
}

// overlay shows a leased task as its attempt left it (see leases).
func (s *Store) overlay(t *store.Task) {
	if le := s.leases.get(t.Queue, t.ID); le != nil {
		le.show(t.Task)
		t.ExecutionCount = le.exec
	}
}

func (s *Store) DeleteTask(ctx context.Context, queue, id string, tombstoneUntil time.Time) error {
	return s.w.do(ctx, func(tx *sql.Tx) error {
		qid, err := s.w.queueID(tx, queue)
		if errors.Is(err, store.ErrQueueNotFound) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		res, err := s.w.exec(tx, `DELETE FROM tasks WHERE queue_id = ? AND id = ?`, qid, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if n == 0 {
				return store.ErrNotFound
			}
			return err
		}
		// An attempt in flight finds its task gone when it completes.
		s.leases.changed(queue)
		s.leases.drop(queue, id, nil)
		return s.w.tombstone(tx, queue+"/tasks/"+id, tombstoneUntil)
	})
}

func (s *Store) ListTasks(ctx context.Context, queue, after string, limit int) ([]*store.Task, error) {
	rows, err := s.query(ctx, `SELECT t.id, t.created, t.exec_count, t.data
		FROM tasks t JOIN queues q ON q.id = t.queue_id
		WHERE q.name = ? AND t.id > ? ORDER BY t.id LIMIT ?`, queue, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing tasks of %s: %w", queue, err)
	}
	defer rows.Close()
	var out []*store.Task
	for rows.Next() {
		var id string
		var created int64
		var exec int32
		var data []byte
		if err := rows.Scan(&id, &created, &exec, &data); err != nil {
			return nil, err
		}
		t, err := decodeTask(queue, id, created, exec, data)
		if err != nil {
			return nil, err
		}
		s.overlay(t)
		out = append(out, t)
	}
	return out, rows.Err()
}

func scanTask(row *sql.Row, queue, id string) (*store.Task, error) {
	var created int64
	var exec int32
	var data []byte
	if err := row.Scan(&created, &exec, &data); err != nil {
		return nil, err
	}
	return decodeTask(queue, id, created, exec, data)
}

func decodeTask(queue, id string, created int64, exec int32, data []byte) (*store.Task, error) {
	pb := new(cloudtaskspb.Task)
	if err := proto.Unmarshal(data, pb); err != nil {
		return nil, fmt.Errorf("decoding stored task %s/tasks/%s: %w", queue, id, err)
	}
	return &store.Task{Queue: queue, ID: id, Task: pb, Created: fromMicros(created), ExecutionCount: exec}, nil
}
