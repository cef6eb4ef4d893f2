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
// database's user_version, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	todo, err := migration.Newer(migrations, "migrations", version)
	if err != nil {
		return err
	}
	for _, m := range todo {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
	}
	return nil
}
