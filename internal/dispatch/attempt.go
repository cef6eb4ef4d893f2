package dispatch

import (
	"context"
	"sync/atomic"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/store"
)

// start is what an attempt must remember of the task before it began.
type start struct {
	retryCount int32
	previous   *cloudtaskspb.Attempt
}

// begin records the start of an attempt in t (spec 5.5): dispatch_count,
// first_attempt, and a last_attempt without a response.
func begin(t *cloudtaskspb.Task, now time.Time) start {
	s := start{retryCount: t.DispatchCount, previous: t.LastAttempt}
	at := timestamppb.New(now)
	t.DispatchCount++
	t.LastAttempt = &cloudtaskspb.Attempt{ScheduleTime: t.ScheduleTime, DispatchTime: at}
	if t.FirstAttempt == nil {
		t.FirstAttempt = &cloudtaskspb.Attempt{DispatchTime: at}
	}
	return s
}

// Outcome is an attempt's result once it is durable.
type Outcome struct {
	Queue, TaskID string
	Result        deliver.Result
	// Task is the task as the attempt left it; Deleted: it ended (success
	// or permanent failure) instead of being rescheduled.
	Task    *cloudtaskspb.Task
	Deleted bool
	// Applied is false when the task had been deleted or taken by a later
	// attempt, so this outcome changed nothing.
	Applied bool
	// Queue is the queue's configuration the attempt ran with (only
	// Observer gets it).
	QueueConfig *cloudtaskspb.Queue
	// Err: writing the outcome failed, so the task stays leased and is
	// delivered again (only Observer sees such outcomes).
	Err error
}

// attempt delivers t (already leased until leaseEnd) and hands the outcome
// to the completer; ctx ends when the dispatcher stops. ranAt is the
// RunTask call time, zero for scheduled attempts; r is nil for RunTask,
// which takes no slot.
func (d *Dispatcher) attempt(ctx context.Context, r *runner, q *cloudtaskspb.Queue, t *store.Task, s start, leaseEnd, ranAt time.Time) {
	defer d.attempts.Done()
	var release func()
	if r != nil {
		release = d.holdSlot(r)
	}
	res := d.cfg.Deliver.Deliver(ctx, &deliver.Attempt{
		Queue:          q,
		Task:           t.Task,
		RetryCount:     s.retryCount,
		Previous:       s.previous,
		ExecutionCount: t.ExecutionCount,
		QueueID:        lastSegment(t.Queue),
		TaskID:         t.ID,
	})
	// The dispatcher's slot is freed once the outcome is in the
	// completer's hands: an attempt that freed it on the target's answer
	// let the next ones start while outcomes piled up faster than the
	// store took them, and one run held 20,000 finished attempts
	// (goroutines and leases) in memory. The task leaves the queue's
	// attempts in flight before its outcome can be written, so that a
	// read after the write does not take the task for one still running.
	if r != nil {
		r.answered(t.ID)
		defer release()
	}
	if ctx.Err() != nil {
		return // stopping: the lease brings the task back
	}
	now := d.now()
	if res.Status == 0 {
		d.log.Warn("dispatch: attempt got no response", "queue", t.Queue, "task", t.ID,
			"outcome", res.Failure, "err", res.Err)
	}
	c := d.outcome(q, t, res, now, ranAt)
	c.Lease = leaseEnd
	if throttled(res) {
		d.runner(t.Queue).throttleAt(now)
	}
	d.done <- done{c: c, res: res, q: q}
}

// outcome records res in t and says what becomes of it (spec 3.4, 5.5).
func (d *Dispatcher) outcome(q *cloudtaskspb.Queue, t *store.Task, res deliver.Result, now, ranAt time.Time) store.Completion {
	pb := t.Task
	c := store.Completion{Queue: t.Queue, ID: t.ID, Task: pb, TombstoneUntil: now.Add(d.cfg.TaskTombstone)}
	if res.Status != 0 {
		pb.ResponseCount++
		// HTTP targets count executions that did not end in a 5xx; App
		// Engine counts every response.
		if res.AppEngine || res.Status < 500 {
			t.ExecutionCount++
		}
	}
	c.ExecutionCount = t.ExecutionCount
	if pb.LastAttempt != nil {
		pb.LastAttempt.ResponseTime = timestamppb.New(now)
		pb.LastAttempt.ResponseStatus = deliver.ResponseStatus(res)
	}
	if res.Succeeded() {
		// A success ends the task, whoever else is running it.
		c.Delete, c.Force = true, true
		return c
	}
	p := policyFor(pb, q)
	if p.permanentlyFailed(pb.DispatchCount, pb.GetFirstAttempt().GetDispatchTime().AsTime(), now) {
		c.Delete = true
		return c
	}
	delay := p.interval(pb.DispatchCount)
	if throttled(res) {
		delay = max(2*delay, res.RetryAfter)
	}
	base := now
	if !ranAt.IsZero() {
		base = ranAt // RunTask: call time + retry delay (spec 6)
	}
	next := base.Add(delay).Truncate(time.Microsecond)
	if next.After(t.Created.Add(retention)) {
		// A retry past the task's retention would never run (spec 4.5).
		c.Delete = true
		return c
	}
	pb.ScheduleTime = timestamppb.New(next)
	return c
}

// retention is how long a task lives after it was created, dispatched or
// not (spec 4.5, 7); a retry that would fall after it ends the task.
const retention = 31 * 24 * time.Hour

// throttled reports a response that slows the queue: 429 or 503, but for
// App Engine only 503 (spec 5.2, 5.4).
func throttled(res deliver.Result) bool {
	return res.Status == 503 || (res.Status == 429 && !res.AppEngine)
}

func (r *runner) throttleAt(now time.Time) {
	if r != nil {
		r.throttle.slowDown(now)
	}
}

func lastSegment(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[i+1:]
		}
	}
	return name
}

// holdSlot returns the function that frees r's slot for an attempt
// starting now; it frees it at the latest after the dispatcher's
// SlowAfter, if the target has not answered by then. A slow attempt costs
// memory (a goroutine, a request, perhaps a connection: see
// docs/architecture.md) but no CPU, so it stops counting against the
// bound that keeps fast attempts from piling up, and counts only against
// its own queue's max_concurrent_dispatches. The slot of an attempt
// answered in time is freed only once its outcome is queued: see attempt.
func (d *Dispatcher) holdSlot(r *runner) func() {
	var freed atomic.Bool
	free := func() {
		if freed.CompareAndSwap(false, true) {
			d.slots.give(r, 1)
		}
	}
	slow := time.AfterFunc(d.cfg.SlowAfter, free)
	return func() {
		slow.Stop()
		free()
	}
}
