package dispatch

import (
	"context"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/store"
)

// maxCompletions bounds one CompleteTasks call, and completionLinger is
// how long the completer gathers outcomes for one: a commit per few
// outcomes rewrites the same pages (one per queue and index) many times
// over, and an outcome's lease keeps its task safe meanwhile.
const (
	maxCompletions   = 1024
	completionLinger = 20 * time.Millisecond
)

// done is a finished attempt on its way to the store.
type done struct {
	c   store.Completion
	res deliver.Result
	q   *cloudtaskspb.Queue
}

// completer writes outcomes in batches: it takes one, waits out the
// linger, takes whatever else has arrived and writes them all in one
// CompleteTasks call, so the store sees one write for many attempts however
// fast they finish.
func (d *Dispatcher) completer() {
	defer close(d.completed)
	batch := make([]done, 0, maxCompletions)
	cs := make([]store.Completion, 0, maxCompletions)
	linger := time.NewTimer(completionLinger)
	defer linger.Stop()
	for first := range d.done {
		batch = append(batch[:0], first)
		// Sleep through the linger, then take what came meanwhile (d.done
		// holds it): waking for each outcome as it arrived cost a
		// goroutine switch per delivered task. With a batch already
		// waiting, the linger would only slow the store's pace.
		if len(d.done) < maxCompletions {
			linger.Reset(completionLinger)
			<-linger.C
		}
	gather:
		for len(batch) < maxCompletions {
			select {
			case x, ok := <-d.done:
				if !ok {
					break gather
				}
				batch = append(batch, x)
			default:
				break gather
			}
		}
		cs = cs[:0]
		for _, x := range batch {
			cs = append(cs, x.c)
		}
		// Not d.ctx: outcomes in hand are written even while stopping.
		ok, err := d.st.CompleteTasks(context.Background(), cs)
		d.observe(batch, ok, err)
		if err != nil {
			// The tasks stay leased and come back when their leases end.
			d.log.Error("dispatch: writing outcomes", "count", len(cs), "err", err)
			continue
		}
		for i, x := range batch {
			if ok[i] && !x.c.Delete {
				if r := d.runner(x.c.Queue); r != nil {
					r.rescheduled(x.c.Task.GetScheduleTime().AsTime())
				}
			}
			if d.cfg.OnComplete != nil {
				d.cfg.OnComplete(Outcome{
					Queue: x.c.Queue, TaskID: x.c.ID, Result: x.res,
					Task: x.c.Task, Deleted: x.c.Delete, Applied: ok[i],
				})
			}
		}
	}
}

// observe reports a written (or failed) batch of outcomes to the observer.
func (d *Dispatcher) observe(batch []done, ok []bool, err error) {
	if d.cfg.Observer == nil {
		return
	}
	var o Outcome
	for i, x := range batch {
		o = Outcome{
			Queue: x.c.Queue, TaskID: x.c.ID, Result: x.res,
			Task: x.c.Task, Deleted: x.c.Delete, Applied: err == nil && ok[i],
			QueueConfig: x.q, Err: err,
		}
		d.cfg.Observer.Attempted(&o)
	}
}
