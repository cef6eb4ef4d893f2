package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/store"
)

func (s *Store) AllQueues(ctx context.Context, after string, limit int) ([]*cloudtaskspb.Queue, error) {
	rows, err := s.query(ctx, `SELECT data FROM queues WHERE name > ? ORDER BY name LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing all queues: %w", err)
	}
	defer rows.Close()
	var out []*cloudtaskspb.Queue
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		q, err := unmarshalQueue(data)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

func (s *Store) DueTasks(ctx context.Context, queue string, now time.Time, limit int) ([]*store.Task, time.Time, error) {
	var qid int64
	err := s.queryRow(ctx, `SELECT id FROM queues WHERE name = ?`, queue).Scan(&qid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, store.ErrQueueNotFound
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading queue %s: %w", queue, err)
	}
	rows, err := s.query(ctx, `SELECT id, due, created, exec_count, data FROM tasks
		WHERE queue_id = ? AND due <= ? ORDER BY due, id LIMIT ?`, qid, micros(now), limit)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading due tasks of %s: %w", queue, err)
	}
	defer rows.Close()
	out := make([]*store.Task, 0, min(limit, 64))
	var last int64
	for rows.Next() {
		var id string
		var created int64
		var exec int32
		var data []byte
		if err := rows.Scan(&id, &last, &created, &exec, &data); err != nil {
			return nil, time.Time{}, err
		}
		t, err := decodeTask(queue, id, created, exec, data)
		if err != nil {
			return nil, time.Time{}, err
		}
		t.Due = fromMicros(last)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, err
	}
	if len(out) == limit {
		// More may be due; the caller looks again at once.
		return out, fromMicros(last), nil
	}
	var next sql.NullInt64
	if err := s.queryRow(ctx, `SELECT min(due) FROM tasks WHERE queue_id = ? AND due > ?`,
		qid, micros(now)).Scan(&next); err != nil {
		return nil, time.Time{}, fmt.Errorf("reading next due time of %s: %w", queue, err)
	}
	if !next.Valid {
		return out, time.Time{}, nil
	}
	return out, fromMicros(next.Int64), nil
}

func (s *Store) LeaseTasks(ctx context.Context, leases []store.Lease) ([]bool, error) {
	data, err := encodeAll(len(leases), func(i int) *cloudtaskspb.Task { return leases[i].Task })
	if err != nil {
		return nil, err
	}
	ok := make([]bool, len(leases))
	err = s.w.do(ctx, func(tx *sql.Tx) error {
		clear(ok)
		stmt, err := tx.Prepare(`UPDATE tasks SET due = ?1, leased_due = coalesce(leased_due, due), exec_count = ?2, data = ?3
			WHERE queue_id = ?4 AND id = ?5 AND (?6 = 0 OR due = ?7)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, l := range leases {
			qid, err := s.w.queueID(tx, l.Queue)
			if errors.Is(err, store.ErrQueueNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			res, err := stmt.Exec(micros(l.Until), l.ExecutionCount, data[i], qid, l.ID, boolInt(!l.Due.IsZero()), micros(l.Due))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			ok[i] = n == 1
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("leasing %d tasks: %w", len(leases), err)
	}
	return ok, nil
}

func (s *Store) CompleteTasks(ctx context.Context, cs []store.Completion) ([]bool, error) {
	data, err := encodeAll(len(cs), func(i int) *cloudtaskspb.Task {
		if cs[i].Delete {
			return nil
		}
		return cs[i].Task
	})
	if err != nil {
		return nil, err
	}
	ok := make([]bool, len(cs))
	err = s.w.do(ctx, func(tx *sql.Tx) error {
		clear(ok)
		del, err := tx.Prepare(`DELETE FROM tasks WHERE queue_id = ?1 AND id = ?2 AND (?3 OR due = ?4)`)
		if err != nil {
			return err
		}
		defer del.Close()
		upd, err := tx.Prepare(`UPDATE tasks SET due = ?1, leased_due = NULL, exec_count = ?2, data = ?3
			WHERE queue_id = ?4 AND id = ?5 AND (?6 OR due = ?7)`)
		if err != nil {
			return err
		}
		defer upd.Close()
		for i, c := range cs {
			qid, err := s.w.queueID(tx, c.Queue)
			if errors.Is(err, store.ErrQueueNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var res sql.Result
			if c.Delete {
				res, err = del.Exec(qid, c.ID, c.Force, micros(c.Lease))
			} else {
				due := micros(c.Task.GetScheduleTime().AsTime())
				res, err = upd.Exec(due, c.ExecutionCount, data[i], qid, c.ID, c.Force, micros(c.Lease))
			}
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if ok[i] = n == 1; ok[i] && c.Delete {
				if err := s.w.tombstone(tx, c.Queue+"/tasks/"+c.ID, c.TombstoneUntil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("completing %d tasks: %w", len(cs), err)
	}
	return ok, nil
}

// RecoverLeases ends every lease: one process owns the file, so after a
// restart no attempt is in flight.
func (s *Store) RecoverLeases(ctx context.Context) (int, error) {
	var n int64
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE tasks SET due = leased_due, leased_due = NULL WHERE leased_due IS NOT NULL`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ending leases: %w", err)
	}
	return int(n), nil
}

// encodeAll marshals n tasks (nil stays nil) outside the writer goroutine,
// which is the store's bottleneck.
func encodeAll(n int, task func(i int) *cloudtaskspb.Task) ([][]byte, error) {
	out := make([][]byte, n)
	for i := range out {
		t := task(i)
		if t == nil {
			continue
		}
		b, err := proto.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("encoding task: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
