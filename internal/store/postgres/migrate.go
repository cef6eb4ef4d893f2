package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opentasks/opentasks/internal/store/migration"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies, in order, each embedded migration newer than the
// schema's recorded version, each in its own transaction. A session-level
// advisory lock, keyed by the schema, makes nodes that start together take
// turns: the first applies the migrations, the others find them applied.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	const key = `hashtextextended('opentasks.migrate:' || coalesce(current_schema(), ''), 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	// Unlock with a fresh context: ctx may be why we are leaving.
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS opentasks_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("creating the migrations table: %w", err)
	}
	var version int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM opentasks_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	todo, err := migration.Newer(migrations, "migrations", version)
	if err != nil {
		return err
	}
	for _, m := range todo {
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO opentasks_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
	}
	return nil
}
