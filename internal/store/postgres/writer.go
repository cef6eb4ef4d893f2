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
// returns exactly one row. Its outcome is read from that row, never from a
// failed statement, because one failed statement aborts the whole batch.
type op struct {
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

func (w *writer) close() { w.units.Close() }

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
	b := &pgx.Batch{}
	for _, o := range ops {
		b.Queue(o.sql, o.args...)
	}
	br := w.pool.SendBatch(ctx, b)
	for _, o := range ops {
		if err := br.QueryRow().Scan(o.dest...); err != nil {
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

// lockOrder returns ops in the store's lock order: queue rows first (a KEY
// SHARE lock on each queue whose task rows ops write, in name order, taken
// by a statement of its own), then task rows by queue name and task id,
// each op's tombstone right after its task row.
//
// Without it a batch locked task rows in the order of its ops (outcomes in
// the order attempts finished) while a concurrent DeleteQueue (whose
// cascade deletes the queue's tasks) or PurgeQueue locked the same rows in
// table order, and PostgreSQL aborted one of them with a deadlock (40P01):
// when it was the batch, its tasks stayed leased until their leases ran
// out. Both lock the queue row FOR UPDATE first, which conflicts with KEY
// SHARE, so now whichever comes second waits at the queue row, holding no
// task row. KEY SHARE does not conflict with other batches' KEY SHARE (those
// of other nodes are kept apart by the task order) nor with the NO KEY
// UPDATE of a queue's pause, resume or update.
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
	var names []string
	for _, o := range ops {
		if o.queue != "" && (len(names) == 0 || names[len(names)-1] != o.queue) {
			names = append(names, o.queue)
		}
	}
	if len(names) == 0 {
		return ops
	}
	var n int64
	lock := &op{
		// LockRows sits above the sort, so rows are locked in name order.
		sql: `SELECT count(*) FROM (SELECT 1 FROM queues WHERE name = ANY ($1::text[])
			ORDER BY name FOR KEY SHARE) AS locked`,
		args: []any{names},
		dest: []any{&n},
	}
	return append([]*op{lock}, ops...)
}
