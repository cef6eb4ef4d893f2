package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/postgres"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// baseURL returns the test database's URL or skips the test.
func baseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("OPENTASKS_TEST_POSTGRES")
	if u == "" {
		t.Skip("PostgreSQL tests skipped: set OPENTASKS_TEST_POSTGRES to a database URL, e.g.\n" +
			"\tOPENTASKS_TEST_POSTGRES='postgres://root@127.0.0.1:5432/test?sslmode=disable' go test ./internal/store/postgres")
	}
	return u
}

// schemaURL creates a schema of the test's own, dropped at cleanup, and
// returns the test database's URL with search_path set to it, so tests
// run in parallel on one database and leave nothing behind.
func schemaURL(t testing.TB) string {
	t.Helper()
	base := baseURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to OPENTASKS_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "opentasks_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("OPENTASKS_TEST_POSTGRES must be a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

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
