package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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

// rowsPerStatement bounds the rows of one multi-row statement (SQLite
// allows 32766 parameters; leases take 7 each).
const rowsPerStatement = 500

// taskKey identifies a task row inside the writer.
type taskKey struct {
	qid int64
	id  string
}

func (s *Store) LeaseTasks(ctx context.Context, leases []store.Lease) ([]bool, error) {
	data, err := encodeAll(len(leases), func(i int) *cloudtaskspb.Task { return leases[i].Task })
	if err != nil {
		return nil, err
	}
	ok := make([]bool, len(leases))
	err = s.w.do(ctx, func(tx *sql.Tx) error {
		clear(ok)
		return chunks(len(leases), func(from, to int) error {
			// One statement for many leases: per-statement overhead, not
			// the B-tree, dominates single-row updates.
			args := make([]any, 0, 7*(to-from))
			at := map[taskKey]int{}
			for i := from; i < to; i++ {
				l := leases[i]
				qid, err := s.w.queueID(tx, l.Queue)
				if errors.Is(err, store.ErrQueueNotFound) {
					qid = -1 // matches no row
				} else if err != nil {
					return err
				}
				at[taskKey{qid, l.ID}] = i
				args = append(args, qid, l.ID, boolInt(!l.Due.IsZero()), micros(l.Due), micros(leases[i].Until), l.ExecutionCount, data[i])
			}
			return s.w.returning(tx, `WITH v (vqid, vid, vcond, vdue, vuntil, vexec, vdata) AS (VALUES `+values(to-from, 7)+`)
				UPDATE tasks SET due = vuntil, leased_due = coalesce(leased_due, due), exec_count = vexec, data = vdata
				FROM v WHERE queue_id = vqid AND id = vid AND (vcond = 0 OR due = vdue)
				RETURNING queue_id, id`, args, func(k taskKey) { ok[at[k]] = true })
		})
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
	var dels, upds []int
	for i, c := range cs {
		if c.Delete {
			dels = append(dels, i)
		} else {
			upds = append(upds, i)
		}
	}
	ok := make([]bool, len(cs))
	err = s.w.do(ctx, func(tx *sql.Tx) error {
		clear(ok)
		if err := chunks(len(dels), func(from, to int) error {
			return s.deleteCompleted(tx, cs, dels[from:to], ok)
		}); err != nil {
			return err
		}
		for _, i := range upds {
			c := cs[i]
			qid, err := s.w.queueID(tx, c.Queue)
			if errors.Is(err, store.ErrQueueNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			res, err := s.w.exec(tx, `UPDATE tasks SET due = ?1, leased_due = NULL, exec_count = ?2, data = ?3
				WHERE queue_id = ?4 AND id = ?5 AND (?6 OR due = ?7)`,
				micros(c.Task.GetScheduleTime().AsTime()), c.ExecutionCount, data[i], qid, c.ID, c.Force, micros(c.Lease))
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
		return nil, fmt.Errorf("completing %d tasks: %w", len(cs), err)
	}
	return ok, nil
}

// deleteCompleted deletes the tasks cs[idx] that their attempts still own
// and tombstones their names, two statements for all of them.
func (s *Store) deleteCompleted(tx *sql.Tx, cs []store.Completion, idx []int, ok []bool) error {
	args := make([]any, 0, 4*len(idx))
	at := map[taskKey]int{}
	for _, i := range idx {
		c := cs[i]
		qid, err := s.w.queueID(tx, c.Queue)
		if errors.Is(err, store.ErrQueueNotFound) {
			qid = -1
		} else if err != nil {
			return err
		}
		at[taskKey{qid, c.ID}] = i
		args = append(args, qid, c.ID, c.Force, micros(c.Lease))
	}
	var gone []int
	if err := s.w.returning(tx, `WITH v (vqid, vid, vforce, vlease) AS (VALUES `+values(len(idx), 4)+`)
		DELETE FROM tasks WHERE rowid IN
			(SELECT t.rowid FROM v JOIN tasks t ON t.queue_id = vqid AND t.id = vid WHERE vforce OR t.due = vlease)
		RETURNING queue_id, id`, args, func(k taskKey) {
		ok[at[k]] = true
		gone = append(gone, at[k])
	}); err != nil || len(gone) == 0 {
		return err
	}
	args = args[:0]
	for _, i := range gone {
		args = append(args, cs[i].Queue+"/tasks/"+cs[i].ID, micros(cs[i].TombstoneUntil))
	}
	_, err := s.w.exec(tx, `INSERT INTO tombstones (name, expires) VALUES `+values(len(gone), 2)+`
		ON CONFLICT (name) DO UPDATE SET expires = max(expires, excluded.expires)`, args...)
	return err
}

// chunks calls fn over [0, n) in ranges of at most rowsPerStatement.
func chunks(n int, fn func(from, to int) error) error {
	for from := 0; from < n; from += rowsPerStatement {
		if err := fn(from, min(n, from+rowsPerStatement)); err != nil {
			return err
		}
	}
	return nil
}

// returning runs a statement whose RETURNING clause yields (queue_id, id)
// and calls row for each.
func (w *writer) returning(tx *sql.Tx, query string, args []any, row func(taskKey)) error {
	st, err := w.prepare(tx, query)
	if err != nil {
		return err
	}
	rows, err := st.Query(args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k taskKey
		if err := rows.Scan(&k.qid, &k.id); err != nil {
			return err
		}
		row(k)
	}
	return rows.Err()
}

// values returns n parenthesised groups of cols placeholders.
func values(n, cols int) string {
	group := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return group + strings.Repeat(", "+group, n-1)
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
