package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/opentasks/opentasks/internal/store/migration"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies, in order, each embedded migration newer than the
// database's user_version, each in its own transaction. The version is
// read inside the transaction, which takes the write lock at once (the
// write connection begins IMMEDIATE): of two processes migrating a new
// file at once, the second waits, then finds the migration applied
// instead of failing on "table queues already exists".
//
// A connection that meets the file while another turns it to WAL mode can
// get SQLITE_BUSY at once, without its busy timeout; the step is tried
// again then, for up to busyRetries.
func migrate(ctx context.Context, db *sql.DB) error {
	for busy := time.Duration(0); ; {
		done, err := migrateOne(ctx, db)
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY && busy < busyRetries {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			busy += 50 * time.Millisecond
			continue
		}
		if err != nil || done {
			return err
		}
	}
}

// busyRetries bounds how long migrate retries a step that found the file
// busy, as the connections' busy_timeout does for other statements.
const busyRetries = 10 * time.Second

// migrateOne applies the first migration newer than the database's
// version; done when there is none.
func migrateOne(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("starting migration: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("reading schema version: %w", err)
	}
	todo, err := migration.Newer(migrations, "migrations", version)
	if err != nil || len(todo) == 0 {
		return true, err
	}
	m := todo[0]
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("applying migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
		return false, fmt.Errorf("applying migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("applying migration %s: %w", m.Name, err)
	}
	return false, nil
}
