package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/store"
)

// Config tunes a Dispatcher; zero fields take the defaults documented on
// each.
type Config struct {
	// Deliver sends attempts; default deliver.New with no tokens.
	Deliver *deliver.Deliverer
	// Now is the clock for schedule times, backoff and rate limits;
	// default time.Now. Timers still run on the real clock: with a fake
	// clock, call Changed to make the dispatcher look again.
	Now func() time.Time
	// TaskTombstone is how long a finished task's name stays reserved;
	// default 1h.
	TaskTombstone time.Duration
	// LeaseMargin is added to an attempt's dispatch deadline to make its
	// lease, covering the write of its outcome; default 10s.
	LeaseMargin time.Duration
	// Window bounds the due tasks read (and held) per queue at a time;
	// default 256.
	Window int
	// MaxInFlight bounds the attempts in flight across all queues that
	// have waited less than SlowAfter for their target (RunTask's
	// excepted), shared fairly among the queues with due tasks; default
	// 256.
	MaxInFlight int
	// SlowAfter is how long an attempt waits for its target before it
	// gives its place under MaxInFlight back and counts only against its
	// queue's max_concurrent_dispatches; default 1s.
	SlowAfter time.Duration
	// OnComplete, if set, is called with every attempt's outcome once it
	// is durable (tests, metrics). It must not block.
	OnComplete func(Outcome)
	// Observer, if set, is told of every attempt as it starts and ends
	// (metrics, attempt logs).
	Observer Observer
	// Logger reports store errors; default slog.Default().
	Logger *slog.Logger
}

// Dispatcher delivers the tasks of every queue in a store. It implements
// cloudtasks.Dispatcher.
type Dispatcher struct {
	st  store.Store
	cfg Config
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	ctx     context.Context // nil until Start
	cancel  context.CancelFunc
	pool    *pool // runs attempts; nil until Start
	runners map[string]*runner
	slots   *slots

	// cluster is the store when several processes share it, else nil;
	// then owned holds the queues RunNode gave this node (under mu), and
	// nodeDone is closed when RunNode returns.
	cluster  store.Cluster
	owned    map[string]bool
	nodeDone chan struct{}

	schedulers sync.WaitGroup
	attempts   sync.WaitGroup
	done       chan done
	completed  chan struct{}
}

// New returns a Dispatcher for st; Start sets it going.
func New(st store.Store, cfg Config) *Dispatcher {
	if cfg.Deliver == nil {
		cfg.Deliver = deliver.New(deliver.Config{})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TaskTombstone <= 0 {
		cfg.TaskTombstone = time.Hour
	}
	if cfg.LeaseMargin <= 0 {
		cfg.LeaseMargin = 10 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 256
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.SlowAfter <= 0 {
		cfg.SlowAfter = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Dispatcher{
		st:        st,
		cfg:       cfg,
		now:       func() time.Time { return cfg.Now().UTC().Truncate(time.Microsecond) },
		log:       cfg.Logger,
		runners:   make(map[string]*runner),
		slots:     newSlots(cfg.MaxInFlight),
		done:      make(chan done, 4096),
		completed: make(chan struct{}),
	}
	if c, ok := st.(store.Cluster); ok {
		d.cluster, d.owned, d.nodeDone = c, make(map[string]bool), make(chan struct{})
	}
	return d
}

// Start ends leases left by an earlier run (see store.Dispatch
// RecoverLeases) and starts a scheduler for every queue; on a store.Cluster
// it joins the cluster instead, and schedules the queues it is given.
func (d *Dispatcher) Start(ctx context.Context) error {
	if _, err := d.st.RecoverLeases(ctx); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	d.mu.Lock()
	if d.ctx != nil {
		d.mu.Unlock()
		return errors.New("dispatch: started twice")
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.pool = newPool(d.ctx)
	d.mu.Unlock()
	go d.completer()
	if d.cluster != nil {
		go d.runNode()
		return nil
	}
	for after := ""; ; {
		qs, err := d.st.AllQueues(ctx, after, 1000)
		if err != nil {
			d.Stop()
			return fmt.Errorf("dispatch: listing queues: %w", err)
		}
		for _, q := range qs {
			d.Changed(q.GetName())
		}
		if len(qs) < 1000 {
			return nil
		}
		after = qs[len(qs)-1].GetName()
	}
}

// Stop stops dispatching and waits for the outcomes already in hand to be
// written. Attempts still in flight are abandoned: their tasks stay leased
// and are delivered again after a restart (or when the lease runs out).
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	cancel := d.cancel
	d.cancel = nil
	d.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	d.pool.stop()
	d.cfg.Deliver.Close() // ends the attempts in flight
	if d.cluster != nil {
		<-d.nodeDone // it reports every queue lost, stopping their schedulers
	}
	d.schedulers.Wait()
	d.attempts.Wait()
	close(d.done)
	<-d.completed
}

// Changed makes the queue's scheduler re-read the queue and its due tasks
// now, starting a scheduler if the queue has none (on a cluster, only if
// this node owns the queue).
func (d *Dispatcher) Changed(queue string) {
	if r := d.runner(queue); r != nil {
		r.signal(r.changed)
	}
}

// Scheduled tells the queue's scheduler that a task became due at due
// (created), so it looks again then without re-reading the queue.
func (d *Dispatcher) Scheduled(queue string, due time.Time) {
	if r := d.runner(queue); r != nil {
		r.rescheduled(due)
	}
}

// runner returns the queue's scheduler, starting it if needed; nil when
// the dispatcher is not running or, on a cluster, another node owns the
// queue.
func (d *Dispatcher) runner(queue string) *runner {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		return nil
	}
	r := d.runners[queue]
	if r == nil {
		if d.cluster != nil && !d.owned[queue] {
			return nil
		}
		r = newRunner(d, queue)
		if d.cluster != nil {
			r.stop = make(chan struct{}) // closed on QueueLost
		}
		d.runners[queue] = r
		d.schedulers.Add(1)
		go r.run(d.ctx)
	}
	return r
}

// retire removes r if nothing asked it to look again meanwhile; a queue
// re-created in that moment keeps its scheduler.
func (d *Dispatcher) retire(r *runner) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-r.changed:
		return false
	default:
	}
	if d.runners[r.queue] == r {
		delete(d.runners, r.queue)
	}
	return true
}
