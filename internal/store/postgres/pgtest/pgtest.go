// Package pgtest gives tests a PostgreSQL schema of their own on the
// database named by OPENTASKS_TEST_POSTGRES, so that tests of every
// package run in parallel on one database and leave nothing behind.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env is the variable that holds the test database's URL.
const Env = "OPENTASKS_TEST_POSTGRES"

// BaseURL returns the test database's URL, or skips the test with a
// message that says how to run it.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		t.Skip("PostgreSQL tests skipped: set " + Env + " to a database URL, e.g.\n" +
			"\t" + Env + "='postgres://root@127.0.0.1:5432/test?sslmode=disable' go test ./...")
	}
	return u
}

// SchemaURL creates a schema of the test's own, dropped at cleanup, and
// returns the test database's URL with search_path set to it. It skips the
// test when OPENTASKS_TEST_POSTGRES is unset.
func SchemaURL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s must be a URL: %v", Env, err)
	}
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "opentasks_test_" + hex.EncodeToString(b)
	if err := exec(ctx, base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating a schema on %s: %v", Env, err)
	}
	t.Cleanup(func() {
		if err := exec(ctx, base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func exec(ctx context.Context, dbURL, sql string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
