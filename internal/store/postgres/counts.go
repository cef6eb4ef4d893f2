package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CountTasks returns how many tasks each queue holds (including those in
// flight), every queue listed even with none; given names, only those of
// them that exist, in one grouped query. The metrics' queue depth
// (internal/metrics) reads it at start, after a purge and every few
// seconds for the queues this node owns, never per scrape.
func (s *Store) CountTasks(ctx context.Context, queues []string) (map[string]int64, error) {
	var rows pgx.Rows
	var err error
	if queues == nil {
		rows, err = s.pool.Query(ctx, `SELECT q.name, count(t.id) FROM queues q LEFT JOIN tasks t ON t.queue_id = q.id GROUP BY q.id`)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT q.name, count(t.id) FROM queues q LEFT JOIN tasks t ON t.queue_id = q.id WHERE q.name = ANY($1) GROUP BY q.id`, queues)
	}
	if err != nil {
		return nil, fmt.Errorf("counting tasks: %w", err)
	}
	out := make(map[string]int64)
	var name string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		out[name] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("counting tasks: %w", err)
	}
	return out, nil
}
