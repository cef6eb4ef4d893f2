package postgres

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// Write is one write for Batch: "create", "end" (delete) or
// "reschedule" (lease) task ID of Queue.
type Write struct{ Kind, Queue, ID string }

// Batch runs ws, as one caller's, in one group commit and returns their
// outcomes (ErrNotFound for an end or reschedule that found no task).
func Batch(ctx context.Context, s *Store, now time.Time, ws ...Write) ([]error, error) {
	ops := make([]*op, len(ws))
	for i, w := range ws {
		name := w.Queue + "/tasks/" + w.ID
		var done bool
		found := func() error {
			if !done {
				return store.ErrNotFound
			}
			return nil
		}
		switch w.Kind {
		case "create":
			task := &cloudtaskspb.Task{Name: name, ScheduleTime: timestamppb.New(now)}
			o, err := s.createOp(&store.Task{Queue: w.Queue, ID: w.ID, Task: task, Created: now})
			if err != nil {
				return nil, err
			}
			ops[i] = o
		case "end":
			ops[i] = &op{kind: endTasks, args: []any{w.Queue, w.ID, (*int64)(nil), name, micros(now.Add(time.Hour))},
				dest: []any{&done}, outcome: found, queue: w.Queue, task: w.ID}
		case "reschedule":
			ops[i] = &op{kind: rescheduleTasks, args: []any{w.Queue, w.ID, (*int64)(nil), micros(now.Add(time.Hour)), []byte{}, int32(0)},
				dest: []any{&done}, outcome: found, queue: w.Queue, task: w.ID}
		default:
			return nil, fmt.Errorf("no write of kind %q", w.Kind)
		}
	}
	if err := s.w.doAll(ctx, ops); err != nil {
		return nil, err
	}
	outcomes := make([]error, len(ops))
	for i, o := range ops {
		outcomes[i] = o.outcome()
	}
	return outcomes, nil
}
