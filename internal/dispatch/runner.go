package dispatch

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/time/rate"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/store"
)

// retryStoreErrors is how long a scheduler waits after a store error.
const retryStoreErrors = time.Second

// runner schedules one queue. Its goroutine owns every field above mu.
type runner struct {
	d     *Dispatcher
	queue string
	// changed: re-read the queue (Changed). poke: a slot freed or a task
	// was rescheduled.
	changed, poke chan struct{}
	// stop is closed when this node loses the queue (cluster); nil
	// otherwise.
	stop chan struct{}

	q        *cloudtaskspb.Queue
	lim      *rate.Limiter
	buf      []*store.Task // due tasks read but not yet leased, in due order
	next     time.Time     // when to read again; zero: only when told
	mustRead bool
	throttle throttle
	inLine   bool // the last step ended waiting for a slot

	mu       sync.Mutex
	inflight map[string]struct{} // tasks this scheduler is delivering
	// atCap: the last step found max_concurrent_dispatches in flight, so
	// the next attempt to finish pokes (else freed slots go by the line).
	atCap    bool
	earliest time.Time // earliest due time written by completions since the last look
}

func newRunner(d *Dispatcher, queue string) *runner {
	return &runner{
		d:        d,
		queue:    queue,
		changed:  make(chan struct{}, 1),
		poke:     make(chan struct{}, 1),
		inflight: make(map[string]struct{}),
	}
}

func (r *runner) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (r *runner) run(ctx context.Context) {
	defer r.d.schedulers.Done()
	defer r.d.slots.leave(r)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	reload := true
	for {
		// Checked between steps, not through ctx: a lease write cut short
		// could still land, and leave its tasks undelivered until it ends.
		select {
		case <-r.stop:
			return
		default:
		}
		wait := time.Duration(-1) // forever
		r.inLine = false
		if reload {
			switch err := r.reload(ctx); {
			case errors.Is(err, store.ErrNotFound):
				if r.d.retire(r) {
					return
				}
				continue
			case err != nil:
				if ctx.Err() != nil {
					return
				}
				r.d.log.Error("dispatch: reading queue", "queue", r.queue, "err", err)
				wait = retryStoreErrors
			default:
				reload = false
			}
		}
		if !reload {
			var err error
			if wait, err = r.step(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, store.ErrQueueNotFound) {
					// Deleted while this step ran: normal. Reloading
					// retires the scheduler.
					r.d.log.Debug("dispatch: queue deleted while scheduling", "queue", r.queue)
					reload = true
					continue
				}
				r.d.log.Error("dispatch: scheduling", "queue", r.queue, "err", err)
				r.buf, r.mustRead, wait = nil, true, retryStoreErrors
			}
			if wait == 0 {
				continue
			}
		}
		if !r.inLine {
			r.d.slots.leave(r)
		}
		var tc <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-r.changed:
			reload = true
		case <-r.poke:
		case <-tc:
		}
		timer.Stop()
	}
}

// reload reads the queue's configuration and state.
func (r *runner) reload(ctx context.Context) error {
	q, err := r.d.st.GetQueue(ctx, r.queue)
	if err != nil {
		return err
	}
	r.q = q
	rl := q.GetRateLimits()
	burst := int(rl.GetMaxBurstSize())
	if burst <= 0 {
		burst = int(min(100, max(1, math.Ceil(rl.GetMaxDispatchesPerSecond()))))
	}
	now := r.d.now()
	if r.lim == nil {
		// A new bucket starts full, as a new queue may burst at once.
		r.lim = rate.NewLimiter(r.rate(now), burst)
	} else {
		r.lim.SetBurstAt(now, burst)
		r.lim.SetLimitAt(now, r.rate(now))
	}
	r.mustRead = true
	return nil
}

// rate is the queue's effective dispatch rate at now.
func (r *runner) rate(now time.Time) rate.Limit {
	base := r.q.GetRateLimits().GetMaxDispatchesPerSecond()
	if base <= 0 {
		base = 500
	}
	return rate.Limit(base * r.throttle.factor(now))
}

// step dispatches what the queue may dispatch now and returns how long to
// wait before the next step (0: at once; negative: until told).
func (r *runner) step(ctx context.Context) (time.Duration, error) {
	if r.q.GetState() != cloudtaskspb.Queue_RUNNING {
		r.buf = nil
		return -1, nil
	}
	now := r.d.now()
	r.mu.Lock()
	free := r.maxConcurrent() - len(r.inflight)
	r.atCap = free <= 0
	if !r.earliest.IsZero() {
		if r.next.IsZero() || r.earliest.Before(r.next) {
			r.next = r.earliest
		}
		r.earliest = time.Time{}
	}
	r.mu.Unlock()
	if lim := r.rate(now); math.Abs(float64(lim-r.lim.Limit())) > 0.01*float64(lim) {
		r.lim.SetLimitAt(now, lim)
	}
	tokens := r.lim.TokensAt(now)
	if len(r.buf) == 0 && (r.mustRead || (!r.next.IsZero() && !r.next.After(now))) {
		if free <= 0 {
			return -1, nil // an answered attempt pokes
		}
		// Read about what can go out in the next 100ms, within the window.
		want := min(r.d.cfg.Window, free, max(1, int(tokens)+int(float64(r.lim.Limit())/10)))
		if err := r.read(ctx, now, want); err != nil {
			return 0, err
		}
	}
	if len(r.buf) == 0 {
		if r.next.IsZero() {
			return -1, nil
		}
		return max(r.next.Sub(now), time.Millisecond), nil
	}
	if free <= 0 {
		return -1, nil
	}
	n := min(len(r.buf), free, int(tokens))
	if n <= 0 {
		// Wait for the next token.
		return max(time.Duration((1-tokens)/float64(r.lim.Limit())*float64(time.Second)), 100*time.Microsecond), nil
	}
	wanted := n
	if n = r.d.slots.take(r, n); n == 0 {
		r.inLine = true
		return -1, nil // poked when handed a slot
	}
	r.lim.AllowN(now, n)
	batch := r.buf[:n]
	r.buf = r.buf[n:]
	if len(r.buf) == 0 {
		r.buf = nil
	}
	if err := r.dispatch(ctx, now, batch); err != nil {
		return 0, err
	}
	if n < wanted {
		// In line for the rest: stepping again at once would find no slot.
		r.inLine = true
		return -1, nil
	}
	return 0, nil
}

func (r *runner) maxConcurrent() int {
	if c := r.q.GetRateLimits().GetMaxConcurrentDispatches(); c > 0 {
		return int(c)
	}
	return 1000
}

// read fills the buffer with up to limit due tasks, skipping those this
// scheduler is delivering (their lease may have run out). A task past its
// retention is deleted instead (spec 4.5): one that waited out 31 days in
// a paused queue, or in a backlog, is not delivered.
func (r *runner) read(ctx context.Context, now time.Time, limit int) error {
	due, next, err := r.d.st.DueTasks(ctx, r.queue, now, limit)
	if err != nil {
		return err
	}
	r.mustRead = false
	r.next = next
	var expired []store.Completion
	r.mu.Lock()
	for _, t := range due {
		switch _, busy := r.inflight[t.ID]; {
		case busy:
		case !now.Before(t.Created.Add(retention)):
			expired = append(expired, store.Completion{Queue: t.Queue, ID: t.ID, Force: true, Delete: true,
				TombstoneUntil: now.Add(r.d.cfg.TaskTombstone)})
		default:
			r.buf = append(r.buf, t)
		}
	}
	r.mu.Unlock()
	if len(expired) > 0 {
		if _, err := r.d.st.CompleteTasks(ctx, expired); err != nil {
			return err
		}
	}
	return nil
}

// dispatch leases batch in one write and starts an attempt for each task
// it could lease (the others were deleted or taken meanwhile).
func (r *runner) dispatch(ctx context.Context, now time.Time, batch []*store.Task) error {
	leases := make([]store.Lease, len(batch))
	starts := make([]start, len(batch))
	for i, t := range batch {
		starts[i] = begin(t.Task, now)
		leases[i] = store.Lease{
			Queue: r.queue, ID: t.ID, Due: t.Due, Snapshot: t.Snapshot,
			Until:          now.Add(deliver.Deadline(t.Task) + r.d.cfg.LeaseMargin),
			Task:           t.Task,
			ExecutionCount: t.ExecutionCount,
		}
	}
	ok, err := r.d.st.LeaseTasks(ctx, leases)
	if err != nil {
		r.d.slots.give(r, len(batch))
		return err
	}
	q := r.q
	leased := 0
	for _, applied := range ok {
		if applied {
			leased++
		}
	}
	r.d.dispatched(r.queue, leased)
	for i, t := range batch {
		if !ok[i] {
			r.d.slots.give(r, 1)
			continue
		}
		r.mu.Lock()
		r.inflight[t.ID] = struct{}{}
		r.mu.Unlock()
		r.d.attempts.Add(1)
		s, until := starts[i], leases[i].Until
		r.d.pool.run(func(ctx context.Context) { r.d.attempt(ctx, r, q, t, s, until, time.Time{}) })
	}
	return nil
}

// answered frees the task's place among the queue's attempts in flight
// once its target has answered (the dispatcher's slot is freed apart,
// see Dispatcher.attempt).
func (r *runner) answered(id string) {
	r.mu.Lock()
	delete(r.inflight, id)
	poke := r.atCap
	r.atCap = false
	r.mu.Unlock()
	if poke {
		r.signal(r.poke)
	}
}

// rescheduled tells the scheduler that a task of its queue is due at due.
func (r *runner) rescheduled(due time.Time) {
	r.mu.Lock()
	if r.earliest.IsZero() || due.Before(r.earliest) {
		r.earliest = due
	}
	r.mu.Unlock()
	r.signal(r.poke)
}
