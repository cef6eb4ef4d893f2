package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/opentasks/opentasks/internal/store"
)

func (s *Store) GetRecord(ctx context.Context, kind, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM records WHERE kind = $1 AND key = $2`, kind, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s record %s: %w", kind, key, err)
	}
	return v, nil
}

func (s *Store) UpdateRecord(ctx context.Context, kind, key string, fn func(cur []byte) ([]byte, error)) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockName(ctx, tx, "record "+kind+" "+key); err != nil {
			return err
		}
		var cur []byte
		err := tx.QueryRow(ctx, `SELECT value FROM records WHERE kind = $1 AND key = $2`, kind, key).Scan(&cur)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next == nil {
			_, err = tx.Exec(ctx, `DELETE FROM records WHERE kind = $1 AND key = $2`, kind, key)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO records (kind, key, value) VALUES ($1, $2, $3)
				ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value`, kind, key, next)
		}
		return err
	})
}
