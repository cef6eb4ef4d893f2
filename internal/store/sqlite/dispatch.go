package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// DueTasks reads on the writer's connection (see writer.read) and decodes
// outside it, since the writer is the store's bottleneck.
func (s *Store) DueTasks(ctx context.Context, queue string, now time.Time, limit int) ([]*store.Task, time.Time, error) {
	var rows []dueRow
	var snapshot uint64
	var next time.Time // earliest due time not returned
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	err := s.w.read(ctx, func(tx *sql.Tx) error {
		qid, err := s.w.queueID(tx, queue)
		if err != nil {
			return err
		}
		var leased map[string]*lease
		leased, snapshot = s.leases.ofQueue(queue)
		// A task whose lease ran out is due at the lease's end.
		for id, le := range leased {
			if le.until.After(now) {
				later(le.until)
				continue
			}
			r := dueRow{id: id, due: micros(le.until), lease: le}
			err := s.w.queryRow(tx, `SELECT created, exec_count, data FROM tasks WHERE queue_id = ? AND id = ?`,
				qid, id).Scan(&r.created, &r.exec, &r.data)
			if errors.Is(err, sql.ErrNoRows) {
				s.leases.drop(queue, id, le)
				continue
			}
			if err != nil {
				return err
			}
			rows = append(rows, r)
		}
		// Stored due times. The subquery reads only tasks_due, whose
		// entries hold the key, so tasks in flight are skipped without
		// reading their rows: a scheduler reads again as soon as it has
		// dispatched what it read, when most of the tasks at the front of
		// its queue are still in flight (two in three in the bench). No
		// outer ORDER BY: the rows are sorted below, with the leased ones,
		// and SQLite would copy each row, blob and all, through a sorter.
		skip := make([]string, 0, len(leased))
		for id := range leased {
			skip = append(skip, id)
		}
		skipJSON, err := json.Marshal(skip)
		if err != nil {
			return err
		}
		st, err := s.w.prepare(tx, `SELECT t.id, d.due, t.created, t.exec_count, t.data
			FROM (SELECT id, due FROM tasks WHERE queue_id = ?1 AND due <= ?2
				AND id NOT IN (SELECT value FROM json_each(?3)) ORDER BY due, id LIMIT ?4) AS d
			JOIN tasks AS t ON t.queue_id = ?1 AND t.id = d.id`)
		if err != nil {
			return err
		}
		// As text: SQLite may read a blob as its binary JSON.
		res, err := st.Query(qid, micros(now), string(skipJSON), limit+1)
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			var r dueRow
			if err := res.Scan(&r.id, &r.due, &r.created, &r.exec, &r.data); err != nil {
				return err
			}
			rows = append(rows, r)
		}
		if err := errors.Join(res.Err(), res.Close()); err != nil {
			return err
		}
		slices.SortFunc(rows, func(a, b dueRow) int {
			return cmp.Or(cmp.Compare(a.due, b.due), strings.Compare(a.id, b.id))
		})
		for _, r := range rows[:min(limit, len(rows))] {
			if r.lease != nil {
				s.leases.see(r.lease)
			}
		}
		if len(rows) > limit {
			// More are due: the caller looks again at once, and no task
			// due later can come before.
			later(fromMicros(rows[limit].due))
			rows = rows[:limit]
			return nil
		}
		var future sql.NullInt64
		if err := s.w.queryRow(tx, `SELECT min(due) FROM tasks WHERE queue_id = ? AND due > ?`,
			qid, micros(now)).Scan(&future); err != nil {
			return err
		}
		if future.Valid {
			later(fromMicros(future.Int64))
		}
		return nil
	})
	if errors.Is(err, store.ErrQueueNotFound) {
		return nil, time.Time{}, err
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading due tasks of %s: %w", queue, err)
	}
	out := make([]*store.Task, len(rows))
	for i, r := range rows {
		t, err := decodeTask(queue, r.id, r.created, r.exec, r.data)
		if err != nil {
			return nil, time.Time{}, err
		}
		if r.lease != nil {
			// Shown as its attempt left it.
			r.lease.show(t.Task)
			t.ExecutionCount = r.lease.exec
		}
		t.Due, t.Snapshot = fromMicros(r.due), snapshot
		out[i] = t
	}
	return out, next, nil
}

// dueRow is a due task as DueTasks reads it; lease is set for a task whose
// lease ran out.
type dueRow struct {
	id           string
	due, created int64
	exec         int32
	data         []byte
	lease        *lease
}

// rowsPerStatement bounds the rows of one multi-row statement (SQLite
// allows 32766 parameters; deletes take 1 per row, tombstones 2).
const rowsPerStatement = 500

// LeaseTasks keeps leases in memory (see leases). A task read at a
// snapshot its queue still has needs no reading; the others are checked
// against the store in the writer goroutine, where no write can land
// between the check and the lease.
func (s *Store) LeaseTasks(ctx context.Context, ls []store.Lease) ([]bool, error) {
	ok := make([]bool, len(ls))
	les := make([]*lease, len(ls))
	var stale []int
	for i, l := range ls {
		les[i] = newLease(l)
		if l.Due.IsZero() || l.Snapshot == 0 {
			stale = append(stale, i)
			continue
		}
		// Unchanged since the read, the task is due when it was read
		// unless a lease (one that ran out, or a newer one) says otherwise.
		var known bool
		ok[i], known = s.leases.set(l.Queue, l.ID, l.Snapshot, les[i], func(cur *lease) bool {
			return cur == nil || cur.until.Equal(l.Due)
		})
		if !known {
			stale = append(stale, i)
		}
	}
	if len(stale) == 0 {
		return ok, nil
	}
	err := s.w.read(ctx, func(tx *sql.Tx) error {
		stored, err := s.storedDue(tx, ls, stale)
		if err != nil {
			return err
		}
		for _, i := range stale {
			l := ls[i]
			due, exists := stored[[2]string{l.Queue, l.ID}]
			if !exists {
				continue
			}
			ok[i], _ = s.leases.set(l.Queue, l.ID, 0, les[i], func(cur *lease) bool {
				if l.Due.IsZero() {
					return true
				}
				if cur != nil {
					due = cur.until
				}
				return due.Equal(l.Due)
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("leasing %d tasks: %w", len(ls), err)
	}
	return ok, nil
}

// storedDue returns the stored due time of each task of ls[idx] that
// exists.
func (s *Store) storedDue(tx *sql.Tx, ls []store.Lease, idx []int) (map[[2]string]time.Time, error) {
	out := make(map[[2]string]time.Time, len(idx))
	byQueue := map[string][]any{}
	for _, i := range idx {
		byQueue[ls[i].Queue] = append(byQueue[ls[i].Queue], ls[i].ID)
	}
	for queue, ids := range byQueue {
		qid, err := s.w.queueID(tx, queue)
		if errors.Is(err, store.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := chunks(len(ids), func(from, to int) error {
			return scan(s.w, tx, `SELECT id, due FROM tasks WHERE queue_id = ? AND id IN (?`+strings.Repeat(", ?", to-from-1)+`)`,
				append([]any{qid}, ids[from:to]...), func(id string, due int64) {
					out[[2]string{queue, id}] = fromMicros(due)
				})
		}); err != nil {
			return nil, err
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
	// Each completion must hold the task's current lease (or be forced).
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
		if err := s.deleteCompleted(tx, cs, dels, ok); err != nil {
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
		// In the writer goroutine, so that no read sees the lease once
		// the outcome is written (see leases).
		for _, i := range append(dels, upds...) {
			if ok[i] {
				s.leases.completed(cs[i].Queue, held[i])
			}
			if held[i] != nil || cs[i].Delete {
				s.leases.drop(cs[i].Queue, cs[i].ID, held[i])
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("completing %d tasks: %w", len(cs), err)
	}
	return ok, nil
}

// deleteCompleted deletes the tasks cs[idx] and tombstones their names,
// with a statement per queue and one for the tombstones (per
// rowsPerStatement rows), and sets ok for the tasks it deleted.
//
// The deletes are one-pass: with RETURNING, SQLite collected the rows
// first, then sought and read each row again, blob and all (a sixth of the
// server's CPU under delivery load). Without it, a delete says only how
// many rows went; when a task was already gone (deleted while in flight),
// the deletes are undone and done again with RETURNING to learn which.
func (s *Store) deleteCompleted(tx *sql.Tx, cs []store.Completion, idx []int, ok []bool) error {
	byQueue := map[string][]int{}
	for _, i := range idx {
		byQueue[cs[i].Queue] = append(byQueue[cs[i].Queue], i)
	}
	if _, err := s.w.exec(tx, `SAVEPOINT completing`); err != nil {
		return err
	}
	gone, exact, err := s.deleteTasks(tx, cs, byQueue, false)
	if err == nil && !exact {
		if _, err = s.w.exec(tx, `ROLLBACK TO completing`); err == nil {
			gone, _, err = s.deleteTasks(tx, cs, byQueue, true)
		}
	}
	if err != nil {
		return err
	}
	if _, err := s.w.exec(tx, `RELEASE completing`); err != nil {
		return err
	}
	for _, i := range gone {
		ok[i] = true
	}
	return chunks(len(gone), func(from, to int) error {
		args := make([]any, 0, 2*(to-from))
		for _, i := range gone[from:to] {
			args = append(args, cs[i].Queue+"/tasks/"+cs[i].ID, micros(cs[i].TombstoneUntil))
		}
		_, err := s.w.exec(tx, `INSERT INTO tombstones (name, expires) VALUES `+values(to-from, 2)+`
			ON CONFLICT (name) DO UPDATE SET expires = max(expires, excluded.expires)`, args...)
		return err
	})
}

// deleteTasks deletes the tasks of byQueue (indexes into cs) and returns
// those it deleted. Without returning, it assumes every task of a queue
// that exists went, and exact says whether as many rows did.
func (s *Store) deleteTasks(tx *sql.Tx, cs []store.Completion, byQueue map[string][]int, returning bool) (gone []int, exact bool, err error) {
	exact = true
	for queue, idx := range byQueue {
		qid, err := s.w.queueID(tx, queue)
		if errors.Is(err, store.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		at := make(map[string]int, len(idx))
		for _, i := range idx {
			at[cs[i].ID] = i
		}
		if err := chunks(len(idx), func(from, to int) error {
			args := []any{qid}
			for _, i := range idx[from:to] {
				args = append(args, cs[i].ID)
			}
			// The key, not a row-value IN, which SQLite would plan as a
			// scan of the queue.
			del := `DELETE FROM tasks WHERE queue_id = ? AND id IN (?` + strings.Repeat(", ?", to-from-1) + `)`
			if returning {
				return scan(s.w, tx, del+` RETURNING queue_id, id`, args, func(_ int64, id string) {
					gone = append(gone, at[id])
				})
			}
			res, err := s.w.exec(tx, del, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			exact = exact && int(n) == to-from
			gone = append(gone, idx[from:to]...)
			return nil
		}); err != nil {
			return nil, false, err
		}
	}
	return gone, exact, nil
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

// scan runs a statement that yields two columns in the writer's
// transaction and calls row for each row.
func scan[A, B any](w *writer, tx *sql.Tx, query string, args []any, row func(A, B)) error {
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
		var a A
		var b B
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		row(a, b)
	}
	return errors.Join(rows.Err(), rows.Close())
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
