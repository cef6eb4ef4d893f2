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
	return scanQueues(rows)
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
	leased := s.leases.ofQueue(queue)
	var next time.Time // earliest due time not returned
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	out := make([]*store.Task, 0, min(limit, 64))
	// A task whose lease ran out is due at the lease's end.
	for id, le := range leased {
		if le.until.After(now) {
			later(le.until)
			continue
		}
		if len(out) == limit {
			later(le.until)
			continue
		}
		t, err := s.GetTask(ctx, queue, id)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTombstoned) {
			s.leases.drop(queue, id, le)
			continue
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		t.Due = le.until
		out = append(out, t)
	}
	// Stored due times; leased rows among them are skipped, so read past
	// them.
	rows, err := s.query(ctx, `SELECT id, due, created, exec_count, data FROM tasks
		WHERE queue_id = ? AND due <= ? ORDER BY due, id LIMIT ?`, qid, micros(now), limit-len(out)+len(leased)+1)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading due tasks of %s: %w", queue, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var due, created int64
		var exec int32
		var data []byte
		if err := rows.Scan(&id, &due, &created, &exec, &data); err != nil {
			return nil, time.Time{}, err
		}
		if _, ok := leased[id]; ok {
			continue
		}
		if len(out) == limit {
			later(fromMicros(due)) // more are due: the caller looks again at once
			break
		}
		t, err := decodeTask(queue, id, created, exec, data)
		if err != nil {
			return nil, time.Time{}, err
		}
		t.Due = fromMicros(due)
		out = append(out, t)
	}
	// Close before the next query: an open result holds its connection,
	// and the read pool's connections are few.
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, time.Time{}, err
	}
	var future sql.NullInt64
	if err := s.queryRow(ctx, `SELECT min(due) FROM tasks WHERE queue_id = ? AND due > ?`,
		qid, micros(now)).Scan(&future); err != nil {
		return nil, time.Time{}, fmt.Errorf("reading next due time of %s: %w", queue, err)
	}
	if future.Valid {
		later(fromMicros(future.Int64))
	}
	return out, next, nil
}

// rowsPerStatement bounds the rows of one multi-row statement (SQLite
// allows 32766 parameters; deletes take 2 each, tombstones 2).
const rowsPerStatement = 500

// taskKey identifies a task row inside the writer.
type taskKey struct {
	qid int64
	id  string
}

// LeaseTasks keeps leases in memory (see leases); it reads only to check
// that each task exists and is still due when its lease says.
func (s *Store) LeaseTasks(ctx context.Context, ls []store.Lease) ([]bool, error) {
	data, err := encodeAll(len(ls), func(i int) *cloudtaskspb.Task { return ls[i].Task })
	if err != nil {
		return nil, err
	}
	stored, err := s.storedDue(ctx, ls)
	if err != nil {
		return nil, fmt.Errorf("leasing %d tasks: %w", len(ls), err)
	}
	ok := make([]bool, len(ls))
	for i, l := range ls {
		due, exists := stored[[2]string{l.Queue, l.ID}]
		if !exists {
			continue
		}
		le := &lease{until: l.Until, task: data[i], exec: l.ExecutionCount}
		ok[i] = s.leases.set(l.Queue, l.ID, le, func(cur *lease) bool {
			if l.Due.IsZero() {
				return true
			}
			if cur != nil {
				due = cur.until
			}
			return due.Equal(l.Due)
		})
	}
	return ok, nil
}

// storedDue returns the stored due time of each leased task that exists.
func (s *Store) storedDue(ctx context.Context, ls []store.Lease) (map[[2]string]time.Time, error) {
	out := make(map[[2]string]time.Time, len(ls))
	byQueue := map[string][]string{}
	for _, l := range ls {
		byQueue[l.Queue] = append(byQueue[l.Queue], l.ID)
	}
	for queue, ids := range byQueue {
		for from := 0; from < len(ids); from += rowsPerStatement {
			chunk := ids[from:min(len(ids), from+rowsPerStatement)]
			args := make([]any, 0, len(chunk)+1)
			args = append(args, queue)
			for _, id := range chunk {
				args = append(args, id)
			}
			rows, err := s.query(ctx, `SELECT t.id, t.due FROM tasks t JOIN queues q ON q.id = t.queue_id
				WHERE q.name = ? AND t.id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var id string
				var due int64
				if err := rows.Scan(&id, &due); err != nil {
					rows.Close()
					return nil, err
				}
				out[[2]string{queue, id}] = fromMicros(due)
			}
			if err := rows.Close(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
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
	// Each completion must hold the task's current lease (or be forced);
	// the leases it ends are dropped once the outcome is durable.
	held := make([]*lease, len(cs))
	var dels, upds []int
	for i, c := range cs {
		cur := s.leases.get(c.Queue, c.ID)
		if !c.Force && (cur == nil || !cur.until.Equal(c.Lease)) {
			continue
		}
		held[i] = cur
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
			res, err := s.w.exec(tx, `UPDATE tasks SET due = ?, exec_count = ?, data = ? WHERE queue_id = ? AND id = ?`,
				micros(c.Task.GetScheduleTime().AsTime()), c.ExecutionCount, data[i], qid, c.ID)
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
	for _, i := range append(dels, upds...) {
		if held[i] != nil || cs[i].Delete {
			s.leases.drop(cs[i].Queue, cs[i].ID, held[i])
		}
	}
	return ok, nil
}

// deleteCompleted deletes the tasks cs[idx] and tombstones their names,
// two statements for all of them.
func (s *Store) deleteCompleted(tx *sql.Tx, cs []store.Completion, idx []int, ok []bool) error {
	args := make([]any, 0, 2*len(idx))
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
		args = append(args, qid, c.ID)
	}
	var gone []int
	if err := s.w.returning(tx, `WITH v (vqid, vid) AS (VALUES `+values(len(idx), 2)+`)
		DELETE FROM tasks WHERE rowid IN
			(SELECT t.rowid FROM v JOIN tasks t ON t.queue_id = vqid AND t.id = vid)
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

// RecoverLeases has nothing to end: leases live in memory (see leases),
// so none survives the process that took it.
func (s *Store) RecoverLeases(context.Context) (int, error) { return 0, nil }

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
