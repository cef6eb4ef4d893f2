package postgres

import (
	"context"

	"github.com/opentasks/opentasks/internal/store"
)

// Assign and NodeID let the cluster tests predict the queues' owners.
var Assign = assign

func NodeID(s *Store) string { return s.nodeID }

// CreateTwice creates t twice in one group commit and returns the two
// outcomes.
func CreateTwice(ctx context.Context, s *Store, t *store.Task) (error, error) {
	a, err := s.createOp(t)
	if err != nil {
		return err, err
	}
	b, err := s.createOp(t)
	if err != nil {
		return err, err
	}
	if err := s.w.doAll(ctx, []*op{a, b}); err != nil {
		return err, err
	}
	return a.outcome(), b.outcome()
}
