package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opentasks/opentasks/internal/store"
)

func (s *Store) GetRecord(ctx context.Context, kind, key string) ([]byte, error) {
	var v []byte
	err := s.queryRow(ctx, `SELECT value FROM records WHERE kind = ? AND key = ?`, kind, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s record %s: %w", kind, key, err)
	}
	return v, nil
}

func (s *Store) UpdateRecord(ctx context.Context, kind, key string, fn func(cur []byte) ([]byte, error)) error {
	err := s.w.do(ctx, func(tx *sql.Tx) error {
		var cur []byte
		err := tx.QueryRow(`SELECT value FROM records WHERE kind = ? AND key = ?`, kind, key).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return fnError{err}
		}
		if next == nil {
			_, err = tx.Exec(`DELETE FROM records WHERE kind = ? AND key = ?`, kind, key)
		} else {
			_, err = tx.Exec(`INSERT INTO records (kind, key, value) VALUES (?, ?, ?)
				ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value`, kind, key, next)
		}
		return err
	})
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}
