package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
)

// queueID returns the row id of the named queue, or store.ErrQueueNotFound.
// It runs on the writer goroutine only.
func (w *writer) queueID(tx *sql.Tx, name string) (int64, error) {
	if id, ok := w.queueIDs[name]; ok {
		return id, nil
	}
	var id int64
	err := w.queryRow(tx, `SELECT id FROM queues WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrQueueNotFound
	}
	if err != nil {
		return 0, err
	}
	w.queueIDs[name] = id
	return id, nil
}

func (s *Store) CreateQueue(ctx context.Context, q *cloudtaskspb.Queue) error {
	data, err := proto.Marshal(q)
	if err != nil {
		return fmt.Errorf("encoding queue: %w", err)
	}
	return s.w.do(ctx, func(tx *sql.Tx) error {
		if dead, err := tombstoned(ctx, tx, q.GetName(), s.now()); err != nil || dead {
			if dead {
				return store.ErrTombstoned
			}
			return err
		}
		res, err := tx.Exec(`INSERT INTO queues (name, data) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, q.GetName(), data)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if n == 0 {
				return store.ErrAlreadyExists
			}
			return err
		}
		return nil
	})
}

func (s *Store) GetQueue(ctx context.Context, name string) (*cloudtaskspb.Queue, error) {
	var data []byte
	err := s.queryRow(ctx, `SELECT data FROM queues WHERE name = ?`, name).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading queue %s: %w", name, err)
	}
	return unmarshalQueue(data)
}

func (s *Store) UpdateQueue(ctx context.Context, name string, fn func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error)) (*cloudtaskspb.Queue, error) {
	var out *cloudtaskspb.Queue
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		var data []byte
		var cur *cloudtaskspb.Queue
		err := tx.QueryRow(`SELECT data FROM queues WHERE name = ?`, name).Scan(&data)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if dead, err := tombstoned(ctx, tx, name, s.now()); err != nil || dead {
				if dead {
					return store.ErrTombstoned
				}
				return err
			}
		case err != nil:
			return err
		default:
			if cur, err = unmarshalQueue(data); err != nil {
				return err
			}
		}
		next, err := fn(cur)
		if err != nil {
			return fnError{err}
		}
		if data, err = proto.Marshal(next); err != nil {
			return fnError{fmt.Errorf("encoding queue: %w", err)}
		}
		if _, err := tx.Exec(`INSERT INTO queues (name, data) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data`, name, data); err != nil {
			return err
		}
		out = next
		return nil
	})
	var fe fnError
	if errors.As(err, &fe) {
		return nil, fe.err
	}
	return out, err
}

func (s *Store) DeleteQueue(ctx context.Context, name string, tombstoneUntil time.Time) error {
	return s.w.do(ctx, func(tx *sql.Tx) error {
		id, err := s.w.queueID(tx, name)
		if errors.Is(err, store.ErrQueueNotFound) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		delete(s.w.queueIDs, name)
		s.leases.changed(name)
		for _, stmt := range []string{
			`DELETE FROM tasks WHERE queue_id = ?`,
			`DELETE FROM queues WHERE id = ?`,
		} {
			if _, err := tx.Exec(stmt, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`DELETE FROM records WHERE kind = ? AND key = ?`, store.KindQueuePolicy, name); err != nil {
			return err
		}
		return s.w.tombstone(tx, name, tombstoneUntil)
	})
}

func (s *Store) PurgeQueue(ctx context.Context, name string, at, tombstoneUntil time.Time) (*cloudtaskspb.Queue, error) {
	var out *cloudtaskspb.Queue
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		var id int64
		var data []byte
		err := tx.QueryRow(`SELECT id, data FROM queues WHERE name = ?`, name).Scan(&id, &data)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		q, err := unmarshalQueue(data)
		if err != nil {
			return err
		}
		q.PurgeTime = timestamppb.New(at)
		if data, err = proto.Marshal(q); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO tombstones (name, expires)
			SELECT ? || '/tasks/' || id, ? FROM tasks WHERE queue_id = ? AND created < ?
			ON CONFLICT (name) DO UPDATE SET expires = max(expires, excluded.expires)`,
			name, micros(tombstoneUntil), id, micros(at)); err != nil {
			return err
		}
		s.leases.changed(name)
		if _, err := tx.Exec(`DELETE FROM tasks WHERE queue_id = ? AND created < ?`, id, micros(at)); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE queues SET data = ? WHERE id = ?`, data, id); err != nil {
			return err
		}
		out = q
		return nil
	})
	return out, err
}

func (s *Store) ListQueues(ctx context.Context, parent, after string, limit int) ([]*cloudtaskspb.Queue, error) {
	prefix := parent + "/queues/"
	if after < prefix {
		after = prefix
	}
	// Names under prefix sort between prefix and prefix with its last byte
	// incremented ('/' + 1 == '0').
	end := strings.TrimSuffix(prefix, "/") + "0"
	rows, err := s.query(ctx, `SELECT data FROM queues WHERE name > ? AND name < ? ORDER BY name LIMIT ?`, after, end, limit)
	if err != nil {
		return nil, fmt.Errorf("listing queues of %s: %w", parent, err)
	}
	return scanQueues(rows)
}

// scanQueues decodes a result of queue data columns and closes it.
func scanQueues(rows *sql.Rows) ([]*cloudtaskspb.Queue, error) {
	defer rows.Close()
	var out []*cloudtaskspb.Queue
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		q, err := unmarshalQueue(data)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
