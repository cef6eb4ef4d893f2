package postgres

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
)

var (
	//go:embed sql/create_queue.sql
	createQueueSQL string
	//go:embed sql/purge_queue.sql
	purgeQueueSQL string
)

func (s *Store) CreateQueue(ctx context.Context, q *cloudtaskspb.Queue) error {
	data, err := proto.Marshal(q)
	if err != nil {
		return fmt.Errorf("encoding queue: %w", err)
	}
	var dead, inserted bool
	return s.w.do(ctx, &op{
		sql:  createQueueSQL,
		args: []any{q.GetName(), data, micros(s.now())},
		dest: []any{&dead, &inserted},
		outcome: func() error {
			switch {
			case dead:
				return store.ErrTombstoned
			case !inserted:
				return store.ErrAlreadyExists
			}
			return nil
		},
		wake: s.queueChanged(q.GetName()),
	})
}

func (s *Store) GetQueue(ctx context.Context, name string) (*cloudtaskspb.Queue, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM queues WHERE name = $1`, name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading queue %s: %w", name, err)
	}
	return unmarshalQueue(data)
}

// lockName serialises read-modify-write transactions on one name, whether
// or not its row exists yet (FOR UPDATE can only lock rows that exist).
func lockName(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, name)
	return err
}

func (s *Store) UpdateQueue(ctx context.Context, name string, fn func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error)) (*cloudtaskspb.Queue, error) {
	var out *cloudtaskspb.Queue
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockName(ctx, tx, "queue "+name); err != nil {
			return err
		}
		var data []byte
		var cur *cloudtaskspb.Queue
		err := tx.QueryRow(ctx, `SELECT data FROM queues WHERE name = $1`, name).Scan(&data)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
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
			return err
		}
		if data, err = proto.Marshal(next); err != nil {
			return fmt.Errorf("encoding queue: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO queues (name, data) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data`, name, data); err != nil {
			return err
		}
		if err := s.notify(ctx, tx, *s.queueChanged(name)); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}

func (s *Store) DeleteQueue(ctx context.Context, name string, tombstoneUntil time.Time) error {
	// Its own transaction, not the writer's: the queue's tasks can be many.
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// The queue row first (lock order): deleting it waits for the write
		// batches that hold it FOR KEY SHARE, and later ones find no queue,
		// so no task of the queue is left or added (see migration 0005).
		var id int64
		err := tx.QueryRow(ctx, `DELETE FROM queues WHERE name = $1 RETURNING id`, name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tasks WHERE queue_id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM records WHERE kind = $1 AND key = $2`, store.KindQueuePolicy, name); err != nil {
			return err
		}
		if err := tombstone(ctx, tx, name, tombstoneUntil); err != nil {
			return err
		}
		return s.notify(ctx, tx, *s.queueChanged(name))
	})
}

func (s *Store) PurgeQueue(ctx context.Context, name string, at, tombstoneUntil time.Time) (*cloudtaskspb.Queue, error) {
	var out *cloudtaskspb.Queue
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var id int64
		var data []byte
		// FOR UPDATE, not NO KEY UPDATE: it must conflict with the KEY SHARE
		// that write batches take before their task rows (see lockOrder),
		// or a batch and this purge could lock the queue's tasks in
		// opposite orders and deadlock.
		err := tx.QueryRow(ctx, `SELECT id, data FROM queues WHERE name = $1 FOR UPDATE`, name).Scan(&id, &data)
		if errors.Is(err, pgx.ErrNoRows) {
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
		if _, err := tx.Exec(ctx, purgeQueueSQL, id, name, micros(at), micros(tombstoneUntil)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE queues SET data = $1 WHERE id = $2`, data, id); err != nil {
			return err
		}
		if err := s.notify(ctx, tx, *s.queueChanged(name)); err != nil {
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
	rows, err := s.pool.Query(ctx, `SELECT data FROM queues WHERE name > $1 AND name < $2 ORDER BY name LIMIT $3`, after, end, limit)
	if err != nil {
		return nil, fmt.Errorf("listing queues of %s: %w", parent, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*cloudtaskspb.Queue, error) {
		var data []byte
		if err := row.Scan(&data); err != nil {
			return nil, err
		}
		return unmarshalQueue(data)
	})
	if err != nil {
		return nil, fmt.Errorf("listing queues of %s: %w", parent, err)
	}
	return out, nil
}
