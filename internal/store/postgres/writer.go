package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opentasks/opentasks/internal/store/groupcommit"
)

// maxBatch bounds one group commit so that a flood of writes still commits
// (and acknowledges) regularly.
const maxBatch = 1024

// op is one write of the group-committed kind: a single statement that
// returns exactly one row, or one row of a multi-row statement (kind). Its
// outcome is read from that row, never from a failed statement, because
// one failed statement aborts the whole batch.
type op struct {
	// kind, if set, is the statement that writes this op together with
	// the batch's other ops of its kind, and args are the op's row;
	// otherwise sql and args are a statement of the op's own.
	kind *kind
	sql  string
	args []any
	// dest receives the statement's row; outcome, once the batch has
	// committed, turns it into the op's result: nil or a sentinel error.
	dest    []any
	outcome func() error
	// wake, if set, is announced to the other nodes at commit.
	wake *note
	// queue and task, if set, name the task row the op writes: the batch
	// locks the queue's row before any task row and writes task rows in
	// order of these names (see lockOrder).
	queue, task string
}

// A kind is a write that one statement makes for any number of ops: its
// SQL takes one array per column, built by arrays from the ops' args, and
// returns one row per op, in their order. PostgreSQL's work per statement
// (bind, executor start-up, the implicit savepoint of a CTE) then falls on
// the batch instead of on each write: it was most of its CPU per create.
type kind struct {
	sql    string
	arrays func(ops []*op) []any
	// existing: the statement updates or deletes rows that exist, so the
	// batch locks their queues' rows FOR NO KEY UPDATE (see lockOrder).
	existing bool
}

// column returns the j-th arg of each op, the j-th array of a kind.
func column[T any](ops []*op, j int) []T {
	c := make([]T, len(ops))
	for i, o := range ops {
		c[i] = o.args[j].(T)
	}
	return c
}

// statement is one statement of a batch and the ops that read its rows.
type statement struct {
	sql  string
	args []any
	ops  []*op
}

// statements turns ops, in lock order, into statements: each op of no
// kind alone, and each run of ops between them as one statement per kind.
// A run ends where an op names the task of the op before it (ops on one
// task are adjacent in lock order), so that a statement never writes a
// task twice and ops on one task keep their order.
//
// Within a run, inserts go before the writes to existing rows. An insert
// waits for another batch's uncommitted insert or delete of the same key,
// and no queue lock keeps two batches' inserts apart; a batch that had
// already deleted a task before inserting could wait for a batch whose
// insert of that task waits for the delete (40P01). Inserted first, a
// batch holds no existing row while its inserts wait, and other batches'
// writes to existing rows of a queue wait for each other at its row.
func statements(ops []*op) []statement {
	var out []statement
	var kinds []*kind
	run := map[*kind][]*op{}
	flush := func() {
		// Stable: kinds of one sort keep the order they came in.
		slices.SortStableFunc(kinds, func(a, b *kind) int {
			switch {
			case a.existing == b.existing:
				return 0
			case b.existing:
				return -1
			}
			return 1
		})
		for _, k := range kinds {
			out = append(out, statement{sql: k.sql, args: k.arrays(run[k]), ops: run[k]})
		}
		kinds = kinds[:0]
		clear(run)
	}
	var prev *op
	for _, o := range ops {
		if o.kind == nil {
			flush()
			out = append(out, statement{sql: o.sql, args: o.args, ops: []*op{o}})
			continue
		}
		if prev != nil && prev.queue == o.queue && prev.task == o.task {
			flush()
		}
		if run[o.kind] == nil {
			kinds = append(kinds, o.kind)
		}
		run[o.kind] = append(run[o.kind], o)
		prev = o
	}
	flush()
	return out
}

// unit is what one caller queues: ops that share a batch and its fate.
type unit struct {
	ops  []*op
	done chan error
}

// writer runs queued units in groups: each group is one pipelined
// pgx.Batch, which PostgreSQL runs as one implicit transaction and commits
// once.
type writer struct {
	pool *pgxpool.Pool
	// announce returns a statement to add to a batch that tells the other
	// nodes of its ops' wakes, or nil.
	announce func([]*unit) *op
	units    *groupcommit.Queue[*unit]
	log      *slog.Logger
}

func newWriter(pool *pgxpool.Pool, announce func([]*unit) *op, log *slog.Logger) *writer {
	w := &writer{pool: pool, announce: announce, log: log}
	w.units = groupcommit.Start(maxBatch, func(u *unit) int { return len(u.ops) }, w.commit,
		func(u *unit) { u.done <- errClosed })
	return w
}

var errClosed = errors.New("postgres: store is closed")

// do runs o in the next group commit and returns its outcome.
func (w *writer) do(ctx context.Context, o *op) error {
	if err := w.doAll(ctx, []*op{o}); err != nil {
		return err
	}
	return o.outcome()
}

// doAll queues ops as one unit and waits until the batch that ran them has
// been committed. It returns an error only if they were not: the outcomes
// are the caller's to read.
func (w *writer) doAll(ctx context.Context, ops []*op) error {
	u := &unit{ops: ops, done: make(chan error, 1)}
	switch err := w.units.Put(ctx, u); {
	case errors.Is(err, groupcommit.ErrClosed):
		return errClosed
	case err != nil:
		return err
	}
	select {
	case err := <-u.done:
		return err
	case <-ctx.Done():
		// The write may still land; the caller only stops waiting.
		return ctx.Err()
	}
}

func (w *writer) close() {
	w.units.Close()
	w.pool.Close()
}

// commit runs batch in one transaction. If a statement fails, nothing of
// the batch was committed: a batch that lost a deadlock or a serialization
// conflict runs again, as such a failure is transient by definition; after
// any other failure each unit is re-run alone so that one bad write cannot
// fail its neighbours.
func (w *writer) commit(batch []*unit) {
	err := w.send(batch)
	for attempt := 1; attempt < maxAttempts && retryable(err); attempt++ {
		w.log.Warn("postgres: running a write batch again", "units", len(batch), "err", err)
		err = w.send(batch)
	}
	if err != nil && len(batch) > 1 {
		for _, u := range batch {
			w.commit([]*unit{u})
		}
		return
	}
	for _, u := range batch {
		u.done <- err
	}
}

func (w *writer) send(batch []*unit) error {
	// Not a caller's context: a batch serves many callers.
	ctx := context.Background()
	var ops []*op
	for _, u := range batch {
		ops = append(ops, u.ops...)
	}
	ops = lockOrder(ops)
	if a := w.announce(batch); a != nil {
		ops = append(ops, a)
	}
	stmts := statements(ops)
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	br := w.pool.SendBatch(ctx, b)
	for _, st := range stmts {
		if err := scan(br, st.ops); err != nil {
			br.Close()
			return fmt.Errorf("writing: %w", err)
		}
	}
	// Close reads the end of the implicit transaction: nil means committed.
	if err := br.Close(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// scan reads the next statement's rows into ops' dests, one row each.
func scan(br pgx.BatchResults, ops []*op) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for i, o := range ops {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%d rows for %d writes", i, len(ops))
		}
		if err := rows.Scan(o.dest...); err != nil {
			return err
		}
	}
	if rows.Next() {
		return fmt.Errorf("more rows than the %d writes", len(ops))
	}
	rows.Close()
	return rows.Err()
}

// lockOrder returns ops in the store's lock order, after statements that
// take the locks: queue rows first, in name order, then task rows by queue
// name and task id, then tombstones, each written only by a transaction
// that holds its task's row or its queue's row.
//
// Each queue whose task rows ops write is locked by a statement of its
// own: FOR KEY SHARE where they only insert, FOR NO KEY UPDATE where they
// update or delete existing rows (kind.existing). A multi-row statement
// writes its rows in whatever order its plan takes them, so two batches
// (of two nodes) updating or deleting the same tasks could take them in
// opposite orders; NO KEY UPDATE makes the second wait for the first at
// the queue row instead. It does not conflict with KEY SHARE, so creates
// into a queue still run beside it, and it costs one lock per queue and
// batch, where locking the task rows in order first cost PostgreSQL 15 to
// 25 µs per delivered task (a lease and an end each locked a row twice).
// Batches take their NO KEY UPDATE locks in name order, in one statement;
// their KEY SHARE locks block no batch (inserts of one key do wait for each
// other, see statements).
//
// Without a lock order a batch locked task rows in the order of its ops
// (outcomes in the order attempts finished) while a concurrent DeleteQueue
// (which deletes the queue's tasks) or PurgeQueue locked the same
// rows in table order, and PostgreSQL aborted one of them with a deadlock
// (40P01): when it was the batch, its tasks stayed leased until their
// leases ran out. Both lock the queue row FOR UPDATE first, which
// conflicts with KEY SHARE, so now whichever comes second waits at the
// queue row, holding no task row. KEY SHARE does not conflict with the NO
// KEY UPDATE of a queue's pause, resume or update; NO KEY UPDATE does, so
// those wait for a batch that updates or deletes the queue's tasks (one
// commit at most), holding nothing a batch needs.
//
// The sort is stable: ops on one task keep their order. Ops on different
// tasks come from callers none of whom waited for another, so any order
// of them is one the callers could have seen. Ops without a task (queue
// creations) go first, so a queue created in the batch exists for its
// tasks' ops.
func lockOrder(ops []*op) []*op {
	slices.SortStableFunc(ops, func(a, b *op) int {
		return cmp.Or(strings.Compare(a.queue, b.queue), strings.Compare(a.task, b.task))
	})
	var share, update []string
	for i := 0; i < len(ops); {
		q, existing := ops[i].queue, false
		for ; i < len(ops) && ops[i].queue == q; i++ {
			existing = existing || ops[i].kind != nil && ops[i].kind.existing
		}
		switch {
		case q == "":
		case existing:
			update = append(update, q)
		default:
			share = append(share, q)
		}
	}
	var locks []*op
	// LockRows sits above the sort, so rows are locked in name order.
	for _, l := range []struct {
		names []string
		mode  string
	}{{share, "KEY SHARE"}, {update, "NO KEY UPDATE"}} {
		if len(l.names) > 0 {
			locks = append(locks, &op{
				sql: `SELECT count(*) FROM (SELECT 1 FROM queues WHERE name = ANY ($1::text[])
					ORDER BY name FOR ` + l.mode + `) AS locked`,
				args: []any{l.names},
				dest: []any{new(int64)},
			})
		}
	}
	return append(locks, ops...)
}
