package sqlite

import (
	"context"
	"fmt"
)

// CountTasks returns how many tasks each queue holds (including those in
// flight), every queue listed even with none; given names, only those of
// them that exist. The metrics' queue depth (internal/metrics) reads it
// once at start and after a purge, not on every scrape.
func (s *Store) CountTasks(ctx context.Context, queues []string) (map[string]int64, error) {
	const all = `SELECT q.name, count(t.id) FROM queues q LEFT JOIN tasks t ON t.queue_id = q.id GROUP BY q.id`
	const one = `SELECT q.name, count(t.id) FROM queues q LEFT JOIN tasks t ON t.queue_id = q.id WHERE q.name = ? GROUP BY q.id`
	out := make(map[string]int64)
	scan := func(query string, args ...any) error {
		rows, err := s.query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var n int64
			if err := rows.Scan(&name, &n); err != nil {
				return err
			}
			out[name] = n
		}
		return rows.Err()
	}
	if queues == nil {
		if err := scan(all); err != nil {
			return nil, fmt.Errorf("counting tasks: %w", err)
		}
		return out, nil
	}
	for _, q := range queues {
		if err := scan(one, q); err != nil {
			return nil, fmt.Errorf("counting the tasks of %s: %w", q, err)
		}
	}
	return out, nil
}
