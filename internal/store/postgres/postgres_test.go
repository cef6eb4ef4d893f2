package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/postgres"
	"github.com/opentasks/opentasks/internal/store/postgres/pgtest"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// baseURL returns the test database's URL or skips the test.
func baseURL(t testing.TB) string { return pgtest.BaseURL(t) }

// schemaURL returns a URL for a fresh schema of the test's own.
func schemaURL(t testing.TB) string { return pgtest.SchemaURL(t) }

func open(t testing.TB, dbURL string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	opts = append([]postgres.Option{postgres.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))}, opts...)
	s, err := postgres.Open(context.Background(), dbURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sideTx begins a transaction on a connection of its own, as another
// client of the database would; it is rolled back at cleanup if still open.
func sideTx(t *testing.T, dbURL string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	return tx
}

func TestStore(t *testing.T) {
	baseURL(t)
	storetest.Run(t, func(t *testing.T, clock func() time.Time) store.Store {
		return open(t, schemaURL(t), postgres.WithClock(clock))
	})
}

// TestConcurrentMigrations opens several stores on one empty schema at
// once, as nodes starting together do: each must come up, and each
// migration must be applied once.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	const nodes = 4
	errs := make(chan error, nodes)
	for range nodes {
		go func() {
			s, err := postgres.Open(context.Background(), dbURL)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatalf("Open beside other nodes: %v", err)
		}
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var applied, distinct int
	if err := conn.QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT version) FROM opentasks_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied == 0 || applied != distinct {
		t.Fatalf("migrations table holds %d rows for %d versions, want each version once", applied, distinct)
	}
}

func TestWorkflowStore(t *testing.T) {
	baseURL(t)
	storetest.RunWorkflows(t, func(t *testing.T) store.WorkflowStore {
		return open(t, schemaURL(t))
	})
}

// TestCreateTwiceInOneBatch creates one task twice in one group commit,
// whose creates share one statement: the first must be told it created
// the task, the second that it already exists.
func TestCreateTwiceInOneBatch(t *testing.T) {
	t.Parallel()
	s := open(t, schemaURL(t))
	ctx := context.Background()
	const queue = "projects/p/locations/l/queues/q"
	if err := s.CreateQueue(ctx, &cloudtaskspb.Queue{Name: queue}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	task := &cloudtaskspb.Task{Name: queue + "/tasks/t", ScheduleTime: timestamppb.New(now)}
	first, second := postgres.CreateTwice(ctx, s, &store.Task{Queue: queue, ID: "t", Task: task, Created: now})
	if first != nil || !errors.Is(second, store.ErrAlreadyExists) {
		t.Fatalf("creating one task twice in one batch: first %v, second %v; want nil, %v", first, second, store.ErrAlreadyExists)
	}
}
