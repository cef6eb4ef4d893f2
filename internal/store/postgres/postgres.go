package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/store"
)

// Store is the PostgreSQL backend. It implements store.Store.
type Store struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for the listener's own connection
	w       *writer
	now     func() time.Time
	ttl     time.Duration
	log     *slog.Logger
	stop    chan struct{}
	swept   chan struct{}

	// nodeID names this process in the cluster tables and notifications;
	// channel is the schema's notification channel.
	nodeID, channel string
	clustering      atomic.Bool
	nodeMu          sync.Mutex // orders RunNode's start against Close
	node            sync.WaitGroup
	// owned is the set of queues RunNode holds, nil when it is not running.
	owned atomic.Pointer[map[string]bool]
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithClock makes the store judge tombstone expiry by now instead of the
// wall clock.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// DefaultLeaseTTL is how long a node's ownership of its queues lasts
// unless renewed: a dead node's queues move within about this long.
const DefaultLeaseTTL = 6 * time.Second

// WithLeaseTTL sets how long queue ownership lasts unless renewed (see
// RunNode); nodes renew every quarter of it.
func WithLeaseTTL(d time.Duration) Option { return func(s *Store) { s.ttl = d } }

// WithLogger sets where the store reports database trouble it rides out.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Open connects to the database at url (postgres://user@host/db?...; a
// search_path parameter selects the schema) and brings its schema up to
// date.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing PostgreSQL URL: %w", err)
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "opentasks"
	}
	// A write is acknowledged only once PostgreSQL has flushed it. Only a
	// URL that names another level explicitly (e.g. remote_apply) changes it.
	if rp["synchronous_commit"] == "" {
		rp["synchronous_commit"] = "on"
	}
	// pgxpool's default of 4 connections would starve API reads behind the
	// writer and the cluster's renewals.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrating PostgreSQL schema: %w", err)
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reading the current schema: %w", err)
	}
	s := &Store{
		pool: pool, connCfg: cfg.ConnConfig, now: time.Now, ttl: DefaultLeaseTTL, log: slog.Default(),
		stop: make(chan struct{}), swept: make(chan struct{}),
		nodeID: newNodeID(), channel: channelName(schema),
	}
	for _, o := range opts {
		o(s)
	}
	// The writer runs one batch at a time, on a connection of its own that
	// plans each of its statements once, for any batch, and never reads a
	// whole table: its statements find every row by key. Custom plans,
	// made for the first five runs of a prepared statement, see how many
	// rows a batch's arrays hold and hashed all of tasks or tombstones to
	// join them (6 ms for 500 rows among 30,000, where probing the indexes
	// took 1 ms); and a plan made while a table was small, as it is in a
	// new schema, read the whole table at every batch from then on.
	wcfg := cfg.Copy()
	wcfg.MaxConns, wcfg.MinConns = 1, 0
	wcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	wcfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	wpool, err := pgxpool.NewWithConfig(ctx, wcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	s.w = newWriter(wpool, s.wakeOp, s.log)
	go s.sweep()
	return s, nil
}

// Close makes RunNode leave the cluster, then stops the writer after it has
// answered every queued write.
func (s *Store) Close() error {
	s.nodeMu.Lock()
	close(s.stop)
	s.nodeMu.Unlock()
	s.node.Wait()
	<-s.swept
	s.w.close()
	s.pool.Close()
	return nil
}

// sweepEvery is how often expired tombstones are removed; they are
// ignored once expired, so this only bounds the table's size.
const sweepEvery = time.Minute

func (s *Store) sweep() {
	defer close(s.swept)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// Small batches keep each transaction's locks short; SKIP
			// LOCKED leaves the tombstones that writes hold to a later
			// sweep, so the sweep never waits and never deadlocks.
			for {
				tag, err := s.pool.Exec(context.Background(), `DELETE FROM tombstones WHERE name IN
					(SELECT name FROM tombstones WHERE expires <= $1 LIMIT 5000 FOR UPDATE SKIP LOCKED)`, micros(s.now()))
				if err != nil || tag.RowsAffected() < 5000 {
					break
				}
			}
		}
	}
}

// inTx runs fn in a transaction of its own, for writes too large or too
// interactive for the group-commit writer. PostgreSQL may abort it to break
// a deadlock with a concurrent batch; then it runs again.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, fn)
	for attempt := 1; attempt < maxAttempts && retryable(err); attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
	}
	return err
}

// maxAttempts bounds how often a transaction that lost a deadlock or a
// serialization conflict is run.
const maxAttempts = 4

// retryable reports whether err is a deadlock (40P01) or serialization
// failure (40001): PostgreSQL rolled the transaction back, and running it
// again may succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// newNodeID returns a name for this process that no other node has used.
func newNodeID() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}

// channelName returns the notification channel of the schema's nodes, so
// that clusters in different schemas of one database do not hear each
// other. Channel names are identifiers: at most 63 bytes.
func channelName(schema string) string {
	if c := "opentasks." + schema; len(c) <= 63 {
		return c
	}
	h := fnv.New64a()
	h.Write([]byte(schema))
	return fmt.Sprintf("opentasks.%x", h.Sum64())
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// tombstoned reports whether name has an unexpired tombstone.
func tombstoned(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string, now time.Time) (bool, error) {
	var dead bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tombstones WHERE name = $1 AND expires > $2)`, name, micros(now)).Scan(&dead)
	return dead, err
}

func tombstone(ctx context.Context, tx pgx.Tx, name string, until time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO tombstones (name, expires) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET expires = greatest(tombstones.expires, excluded.expires)`, name, micros(until))
	return err
}

func unmarshalQueue(b []byte) (*cloudtaskspb.Queue, error) {
	q := new(cloudtaskspb.Queue)
	if err := proto.Unmarshal(b, q); err != nil {
		return nil, fmt.Errorf("decoding stored queue: %w", err)
	}
	return q, nil
}
