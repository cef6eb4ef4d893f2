package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/opentasks/opentasks/internal/store"
)

// Store is the SQLite backend. It implements store.Store.
type Store struct {
	read *sql.DB
	// reads holds the read pool's prepared statements by query text.
	reads sync.Map
	write *sql.DB
	w     *writer
	// ckpt is the checkpointer's own connection (see checkpoint).
	ckpt *sql.DB
	// leases are the attempts in flight (see leases).
	leases *leases
	now    func() time.Time
	stop   chan struct{}
	swept  chan struct{}
	// checkpointed is closed when the checkpointer has stopped.
	checkpointed chan struct{}
	lock         *fileLock
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithClock makes the store judge tombstone expiry by now instead of the
// wall clock.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open opens (creating if needed) the database file at path and brings its
// schema up to date. It fails with ErrLocked while another process (or
// another Store in this one) has the file open.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, path, opts...)
	if err != nil {
		lock.release()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	dsn := func(mode string) string {
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(OFF)")
		if mode == "" {
			q.Add("_txlock", "immediate")
			// Checkpoints run beside the writer (see checkpoint).
			q.Add("_pragma", "wal_autocheckpoint(0)")
			q.Add("_pragma", "journal_size_limit(67108864)")
			// Multi-row statements keep a statement journal; in memory it
			// costs no system calls.
			q.Add("_pragma", "temp_store(MEMORY)")
			// A 32 MB page cache (default 2 MB) keeps the indexes' hot
			// pages in memory under load, sparing reads in the writer.
			q.Add("_pragma", "cache_size(-32768)")
		} else {
			q.Add("mode", mode)
		}
		return "file:" + path + "?" + q.Encode()
	}
	write, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn("ro"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	read.SetMaxOpenConns(2 * runtime.GOMAXPROCS(0))
	read.SetMaxIdleConns(2 * runtime.GOMAXPROCS(0))
	ckpt, err := sql.Open("sqlite", dsn("rw"))
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	ckpt.SetConnMaxIdleTime(0)
	s := &Store{read: read, write: write, ckpt: ckpt, leases: newLeases(), now: time.Now,
		stop: make(chan struct{}), swept: make(chan struct{}), checkpointed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.w = newWriter(write)
	go s.every(sweepEvery, s.swept, s.sweep)
	go s.every(checkpointEvery, s.checkpointed, s.checkpoint)
	return s, nil
}

// Close stops the writer after it has answered every queued write.
func (s *Store) Close() error {
	close(s.stop)
	<-s.swept
	<-s.checkpointed
	s.w.close()
	s.reads.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return errors.Join(s.read.Close(), s.ckpt.Close(), s.write.Close(), s.lock.release())
}

// checkpointEvery is how often the checkpointer copies what the writer has
// committed to the WAL into the database file.
const checkpointEvery = 250 * time.Millisecond

// finishAt is the WAL size, in frames (4 KB pages), from which the writer
// is asked to finish a checkpoint so that the WAL starts over.
const finishAt = 4000

// checkpoint copies committed pages from the WAL into the database on its
// own connection. In the writer (SQLite's autocheckpoint) a checkpoint
// stalled every write and every scheduler's read for 35 to 60 ms at a
// time under load, and lateness with it. A checkpoint beside the writer
// copies what was committed when it began; the WAL starts over only once
// a checkpoint has copied all of it, so when it has grown past finishAt,
// the writer copies the rest (a few pages) between two batches.
func (s *Store) checkpoint() {
	if !s.w.dirty.Swap(false) {
		return
	}
	// A PASSIVE checkpoint never waits for the writer or readers; one that
	// fails or falls short is taken up by the next. Before the writer is
	// asked to finish, a second pass copies what was committed during the
	// first, so that the writer's share is small.
	for pass := 0; pass < 2; pass++ {
		var busy, frames, copied int
		if err := s.ckpt.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			s.w.finish.Store(true) // the writer's connection may fare better
			return
		}
		if frames < finishAt {
			return
		}
		if pass == 1 {
			s.w.finish.Store(true)
		}
	}
}

// every calls fn every d until the store closes, then closes done.
func (s *Store) every(d time.Duration, done chan struct{}, fn func()) {
	defer close(done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// sweepEvery is how often expired tombstones are removed; they are
// ignored once expired, so this only bounds the table's size.
const sweepEvery = time.Minute

func (s *Store) sweep() {
	// Small batches keep each commit short for the writers behind it.
	for {
		var n int64
		err := s.w.do(context.Background(), func(tx *sql.Tx) error {
			res, err := tx.Exec(`DELETE FROM tombstones WHERE name IN
				(SELECT name FROM tombstones WHERE expires <= ? LIMIT 5000)`, micros(s.now()))
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil || n < 5000 {
			return
		}
	}
}

// readStmt returns query prepared on the read pool; database/sql prepares
// it again on each connection that runs it, once.
func (s *Store) readStmt(query string) (*sql.Stmt, error) {
	if st, ok := s.reads.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.read.Prepare(query)
	if err != nil {
		return nil, fmt.Errorf("preparing %q: %w", query, err)
	}
	if prev, loaded := s.reads.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs a one-row read through a prepared statement.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.readStmt(query)
	if err != nil {
		// The unprepared query reports the same error through Scan.
		return s.read.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a read through a prepared statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.readStmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// tombstoned reports whether name has an unexpired tombstone.
func tombstoned(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string, now time.Time) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM tombstones WHERE name = ? AND expires > ?`, name, micros(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (w *writer) tombstone(tx *sql.Tx, name string, until time.Time) error {
	_, err := w.exec(tx, `INSERT INTO tombstones (name, expires) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET expires = max(expires, excluded.expires)`, name, micros(until))
	return err
}

func unmarshalQueue(b []byte) (*cloudtaskspb.Queue, error) {
	q := new(cloudtaskspb.Queue)
	if err := proto.Unmarshal(b, q); err != nil {
		return nil, fmt.Errorf("decoding stored queue: %w", err)
	}
	return q, nil
}
