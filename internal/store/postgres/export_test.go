package postgres

import (
	"context"
	"time"

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

// CreateBetween runs, in one group commit, the deletion of task before,
// the creation of t and a lease of task after until then (each of before
// and after a queue name and a task id), and returns the create's
// outcome. Their kinds differ, so that, with the queues' names in that
// order, they are the batch's three statements in that order.
func CreateBetween(ctx context.Context, s *Store, before [2]string, t *store.Task, after [2]string, until time.Time) error {
	create, err := s.createOp(t)
	if err != nil {
		return err
	}
	ops := []*op{
		{kind: endTasks, args: []any{before[0], before[1], (*int64)(nil), before[0] + "/tasks/" + before[1], micros(until)},
			dest: []any{new(bool)}, queue: before[0], task: before[1]},
		create,
		{kind: rescheduleTasks, args: []any{after[0], after[1], (*int64)(nil), micros(until), []byte{}, int32(0)},
			dest: []any{new(bool)}, queue: after[0], task: after[1]},
	}
	if err := s.w.doAll(ctx, ops); err != nil {
		return err
	}
	return create.outcome()
}
