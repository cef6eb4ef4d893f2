package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/groupcommit"
)

// maxBatch bounds one group commit so that a flood of writes still commits
// (and acknowledges) regularly.
const maxBatch = 1024

// op is one write: fn runs inside the batch's transaction. An fn that
// returns an API error (see apiError) must not have written anything.
// A read op writes nothing and is answered as soon as it has run.
type op struct {
	fn     func(tx *sql.Tx) error
	create *taskRow // instead of fn: see createTasks
	done   chan error
	read   bool
}

// writer owns the only write connection and commits queued ops in groups.
type writer struct {
	db  *sql.DB
	ops *groupcommit.Queue[op]
	// queueIDs caches queue name → row id. Only the writer goroutine
	// touches it, and every change to queues goes through the writer.
	queueIDs map[string]int64
	// prepared holds statements prepared on the pool's only connection,
	// which a transaction uses (tx.Stmt) without SQLite parsing them
	// again. A query first seen inside a transaction is prepared there
	// (the connection is busy) and listed in unprepared, to be prepared
	// on the connection once the transaction ends. stmts holds the
	// current transaction's statements.
	prepared   map[string]*sql.Stmt
	unprepared []string
	stmts      map[string]*sql.Stmt
	// dirty: a batch has committed since the checkpointer last looked;
	// finish: it asks the writer to complete its checkpoint (see
	// Store.checkpoint).
	dirty, finish atomic.Bool
}

// maxPrepared bounds the statements kept on the connection; multi-row
// statements come in a variant per row count.
const maxPrepared = 512

func newWriter(db *sql.DB) *writer {
	w := &writer{
		db:       db,
		queueIDs: make(map[string]int64),
		prepared: make(map[string]*sql.Stmt),
		stmts:    make(map[string]*sql.Stmt),
	}
	w.ops = groupcommit.Start(maxBatch, func(op) int { return 1 }, w.commit,
		func(o op) { o.done <- errClosed })
	return w
}

var errClosed = errors.New("sqlite: store is closed")

// do queues fn and waits until the batch that ran it has been committed.
func (w *writer) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return w.put(ctx, op{fn: fn, done: make(chan error, 1)})
}

// read runs fn, which must not write, on the writer's connection at the
// start of a coming batch, where it sees everything committed so far.
// The dispatcher reads this way: SQLite empties a connection's page cache
// whenever another connection commits, so under a stream of commits each
// read on the read pool would fetch every page it touches from the file
// again, while the writer's cache is always warm.
func (w *writer) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return w.put(ctx, op{fn: fn, done: make(chan error, 1), read: true})
}

func (w *writer) put(ctx context.Context, o op) error {
	switch err := w.ops.Put(ctx, o); {
	case errors.Is(err, groupcommit.ErrClosed):
		return errClosed
	case err != nil:
		return err
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		// The write may still land; the caller only stops waiting.
		return ctx.Err()
	}
}

// close stops the writer once it has answered every queued op.
func (w *writer) close() {
	w.ops.Close()
	for _, st := range w.prepared {
		st.Close()
	}
}

// exec runs query in tx through a statement prepared once.
func (w *writer) exec(tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := w.prepare(tx, query)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

// queryRow is exec's counterpart for reads inside a write.
func (w *writer) queryRow(tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := w.prepare(tx, query)
	if err != nil {
		// The unprepared query reports the same error through Scan.
		return tx.QueryRow(query, args...)
	}
	return st.QueryRow(args...)
}

func (w *writer) prepare(tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if p, ok := w.prepared[query]; ok {
		st = tx.Stmt(p)
	} else {
		var err error
		if st, err = tx.Prepare(query); err != nil {
			return nil, fmt.Errorf("preparing %q: %w", query, err)
		}
		if len(w.prepared)+len(w.unprepared) < maxPrepared {
			w.unprepared = append(w.unprepared, query)
		}
	}
	w.stmts[query] = st
	return st, nil
}

// endTx forgets the transaction's statements and prepares on the
// connection the queries it met for the first time.
func (w *writer) endTx() {
	clear(w.stmts)
	for _, q := range w.unprepared {
		if st, err := w.db.Prepare(q); err == nil {
			w.prepared[q] = st
		}
	}
	w.unprepared = w.unprepared[:0]
}

// commit runs batch in one transaction, its reads first. If anything
// other than an API error occurs, it falls back to one transaction per
// write.
func (w *writer) commit(batch []op) {
	var reads, writes []op
	for _, o := range batch {
		if o.read {
			reads = append(reads, o)
		} else {
			writes = append(writes, o)
		}
	}
	errs, err := w.tx(reads, writes)
	if err != nil && len(writes) > 1 {
		for _, o := range writes {
			w.commit([]op{o})
		}
		return
	}
	for i, o := range writes {
		if err != nil {
			o.done <- err
		} else {
			o.done <- errs[i]
		}
	}
	if w.finish.Swap(false) {
		// Between two batches, once this one is answered; a failure
		// leaves the WAL to grow until the next one.
		w.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

// tx answers reads, then runs writes and commits them.
func (w *writer) tx(reads, writes []op) ([]error, error) {
	tx, err := w.db.Begin()
	if err != nil {
		err = fmt.Errorf("beginning write transaction: %w", err)
		for _, o := range reads {
			o.done <- err
		}
		return nil, err
	}
	// The transaction closes its statements when it ends.
	defer w.endTx()
	for _, o := range reads {
		o.done <- o.fn(tx)
	}
	if len(writes) == 0 {
		return nil, tx.Rollback()
	}
	errs := make([]error, len(writes))
	for i := 0; i < len(writes); {
		// A run of creates is one statement (see createTasks).
		n := 1
		if writes[i].create != nil {
			for i+n < len(writes) && writes[i+n].create != nil {
				n++
			}
			err = w.createTasks(tx, writes[i:i+n], errs[i:i+n])
		} else {
			errs[i] = writes[i].fn(tx)
			err = errs[i]
		}
		if err != nil && !apiError(err) {
			tx.Rollback()
			// Writer caches may describe the rolled-back state.
			clear(w.queueIDs)
			return nil, err
		}
		i += n
	}
	if err := tx.Commit(); err != nil {
		clear(w.queueIDs)
		return nil, fmt.Errorf("committing: %w", err)
	}
	w.dirty.Store(true)
	return errs, nil
}

// apiError reports whether err is an expected outcome of an op (the
// store's sentinels, or an error of the caller's own fn) rather than a
// failure of the database.
func apiError(err error) bool {
	var fe fnError
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyExists) ||
		errors.Is(err, store.ErrTombstoned) || errors.Is(err, store.ErrQueueNotFound) ||
		errors.As(err, &fe)
}

// fnError carries an error returned by a caller's update function, which
// runs before the op writes anything.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }
func (e fnError) Unwrap() error { return e.err }
