package dispatch

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/store"
)

// ErrNotRunning: Run was called before Start or after Stop.
var ErrNotRunning = errors.New("dispatch: dispatcher is not running")

// Run is RunTask (spec 6): it dispatches t now, whatever the queue's state,
// rate, concurrency or t's own attempts in flight, and returns t as it
// stands once dispatched, before the target answers. Run takes ownership
// of t. It leases t first, so the scheduler does not deliver it again at
// its old schedule_time; on failure the task is due at the time of this
// call plus its retry delay. store.ErrNotFound if t no longer exists.
func (d *Dispatcher) Run(ctx context.Context, t *store.Task, q *cloudtaskspb.Queue) (*store.Task, error) {
	d.mu.Lock()
	running := d.cancel != nil
	if running {
		// Counted under mu so that Stop waits for this attempt.
		d.attempts.Add(1)
	}
	d.mu.Unlock()
	if !running {
		return nil, ErrNotRunning
	}
	now := d.now()
	s := begin(t.Task, now)
	until := now.Add(deliver.Deadline(t.Task) + d.cfg.LeaseMargin)
	ok, err := d.st.LeaseTasks(ctx, []store.Lease{{
		Queue: t.Queue, ID: t.ID, Until: until, Task: t.Task, ExecutionCount: t.ExecutionCount,
	}})
	if err != nil || !ok[0] {
		d.attempts.Done()
		if err != nil {
			return nil, fmt.Errorf("dispatch: leasing %s for RunTask: %w", t.Task.GetName(), err)
		}
		return nil, store.ErrNotFound
	}
	d.dispatched(t.Queue, 1)
	out := *t
	out.Task = proto.Clone(t.Task).(*cloudtaskspb.Task)
	d.pool.run(func(ctx context.Context) { d.attempt(ctx, nil, q, t, s, until, now) })
	return &out, nil
}
