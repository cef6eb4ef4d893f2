package postgres

import (
	"context"
	"errors"
	"fmt"

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
}

func newWriter(pool *pgxpool.Pool, announce func([]*unit) *op) *writer {
	w := &writer{pool: pool, announce: announce}
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
// the batch was committed, and each unit is re-run alone so that one bad
// write cannot fail its neighbours.
func (w *writer) commit(batch []*unit) {
	err := w.send(batch)
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
