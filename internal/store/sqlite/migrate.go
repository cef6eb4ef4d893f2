package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

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
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateOne(ctx, db)
		if err != nil || done {
			return err
		}
	}
}

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
