package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opentasks/opentasks/internal/store"
)

// TaskCounter is implemented by the stores (store/sqlite, store/postgres):
// how many tasks each queue holds, every queue when queues is nil, else
// those of the named queues that exist.
type TaskCounter interface {
	CountTasks(ctx context.Context, queues []string) (map[string]int64, error)
}

// Wrap counts the tasks of every queue in st (one grouped query) and
// returns st wrapped so that the depths stay right: use the result in
// place of st everywhere. The result is a store.Cluster when st is. st
// must implement TaskCounter.
func (m *Metrics) Wrap(ctx context.Context, st store.Store) (store.Store, error) {
	tc, ok := st.(TaskCounter)
	if !ok {
		return nil, fmt.Errorf("metrics: store %T cannot count its tasks", st)
	}
	w := &countingStore{Store: st, m: m, tc: tc}
	// Single-task writes are not timed: a clock read costs more than the
	// rest of their accounting, and their callers see their latency.
	for _, op := range []string{"lease_tasks", "complete_tasks", "purge_queue", "delete_queue"} {
		o := opMetrics{latency: m.storeWrite.WithLabelValues(op), errors: m.storeErrors.WithLabelValues(op)}
		if op == "lease_tasks" || op == "complete_tasks" {
			o.batch = m.storeBatch.WithLabelValues(op)
		}
		w.ops = append(w.ops, o)
	}
	if err := m.recount(ctx, tc, nil); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if c, ok := st.(store.Cluster); ok {
		m.cluster = true
		return &countingCluster{countingStore: w, cluster: c, owns: make(map[string]bool)}, nil
	}
	return w, nil
}

// recount counts the tasks of the named queues (nil: all) in one query
// and stores their depths. It holds no record: at start nothing changes
// them yet; on a cluster (where other nodes change them anyway), a change
// made between the count and its storing is counted twice or missed until
// the next recount.
func (m *Metrics) recount(ctx context.Context, tc TaskCounter, names []string) error {
	counts, err := tc.CountTasks(ctx, names)
	if err != nil {
		return err
	}
	for name, n := range counts {
		qs := m.queue(name)
		qs.depth.Store(n)
		qs.known.Store(true)
	}
	gone := func(name string, qs *queueStats) {
		if _, ok := counts[name]; !ok {
			// Deleted (on another node): it reports no depth.
			qs.known.Store(false)
			qs.depth.Store(0)
		}
	}
	if names != nil {
		for _, name := range names {
			gone(name, m.queue(name))
		}
		return nil
	}
	m.queues.Range(func(k, v any) bool {
		gone(k.(string), v.(*queueStats))
		return true
	})
	return nil
}

// Write operations timed by countingStore, indexes into countingStore.ops.
const (
	opLeaseTasks = iota
	opCompleteTasks
	opPurgeQueue
	opDeleteQueue
)

type opMetrics struct {
	latency prometheus.Observer
	batch   prometheus.Observer // nil for writes that are not batched
	errors  prometheus.Counter
}

// countingStore keeps the queues' depths and times the writes.
type countingStore struct {
	store.Store
	m   *Metrics
	tc  TaskCounter
	ops []opMetrics
}

// timed records a write of n tasks that started at start.
func (s *countingStore) timed(op int, start time.Time, n int, err error) {
	o := s.ops[op]
	o.latency.Observe(time.Since(start).Seconds())
	if o.batch != nil {
		o.batch.Observe(float64(n))
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrAlreadyExists) &&
		!errors.Is(err, store.ErrQueueNotFound) && !errors.Is(err, store.ErrTombstoned) {
		o.errors.Inc()
	}
}

func (s *countingStore) CreateQueue(ctx context.Context, q *cloudtaskspb.Queue) error {
	err := s.Store.CreateQueue(ctx, q)
	if err == nil {
		s.m.queue(q.GetName()).known.Store(true)
	}
	return err
}

func (s *countingStore) UpdateQueue(ctx context.Context, name string, fn func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error)) (*cloudtaskspb.Queue, error) {
	q, err := s.Store.UpdateQueue(ctx, name, fn)
	if err == nil {
		s.m.queue(name).known.Store(true) // it may have been created
	}
	return q, err
}

func (s *countingStore) DeleteQueue(ctx context.Context, name string, tombstoneUntil time.Time) error {
	qs := s.m.queue(name)
	qs.mu.Lock()
	defer qs.mu.Unlock()
	start := time.Now()
	err := s.Store.DeleteQueue(ctx, name, tombstoneUntil)
	s.timed(opDeleteQueue, start, 0, err)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		s.m.drop(name, qs)
	}
	return err
}

func (s *countingStore) PurgeQueue(ctx context.Context, name string, at, tombstoneUntil time.Time) (*cloudtaskspb.Queue, error) {
	qs := s.m.queue(name)
	qs.mu.Lock()
	defer qs.mu.Unlock()
	start := time.Now()
	q, err := s.Store.PurgeQueue(ctx, name, at, tombstoneUntil)
	s.timed(opPurgeQueue, start, 0, err)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.m.drop(name, qs)
		}
		return q, err
	}
	// Tasks created after at survive the purge: count what is left.
	counts, cerr := s.tc.CountTasks(ctx, []string{name})
	if cerr != nil {
		s.m.log.Error("metrics: counting a purged queue's tasks; its depth is wrong until the next purge or restart", "queue", name, "err", cerr)
		return q, nil
	}
	qs.depth.Store(counts[name])
	qs.known.Store(true)
	return q, nil
}

func (s *countingStore) CreateTask(ctx context.Context, t *store.Task) error {
	qs := s.m.lockQueue(t.Queue)
	err := s.Store.CreateTask(ctx, t)
	if err == nil {
		qs.depth.Add(1)
		qs.known.Store(true)
	}
	qs.mu.RUnlock()
	if errors.Is(err, store.ErrQueueNotFound) {
		s.m.forget(t.Queue)
	}
	return err
}

func (s *countingStore) DeleteTask(ctx context.Context, queue, id string, tombstoneUntil time.Time) error {
	qs := s.m.lockQueue(queue)
	err := s.Store.DeleteTask(ctx, queue, id, tombstoneUntil)
	if err == nil {
		qs.depth.Add(-1)
	}
	qs.mu.RUnlock()
	return err
}

func (s *countingStore) LeaseTasks(ctx context.Context, leases []store.Lease) ([]bool, error) {
	start := time.Now()
	ok, err := s.Store.LeaseTasks(ctx, leases)
	s.timed(opLeaseTasks, start, len(leases), err)
	return ok, err
}

func (s *countingStore) CompleteTasks(ctx context.Context, cs []store.Completion) ([]bool, error) {
	// The records of the queues the batch deletes from, held for reading;
	// nil for a queue without one (deleted meanwhile), which has no depth
	// to keep.
	held := make(map[string]*queueStats)
	for i := range cs {
		if _, seen := held[cs[i].Queue]; cs[i].Delete && !seen {
			held[cs[i].Queue] = s.m.lockExisting(cs[i].Queue)
		}
	}
	start := time.Now()
	ok, err := s.Store.CompleteTasks(ctx, cs)
	s.timed(opCompleteTasks, start, len(cs), err)
	if err == nil {
		for i := range cs {
			if qs := held[cs[i].Queue]; ok[i] && cs[i].Delete && qs != nil {
				qs.depth.Add(-1)
			}
		}
	}
	for _, qs := range held {
		if qs != nil {
			qs.mu.RUnlock()
		}
	}
	return ok, err
}

// forget drops the record of a queue that turned out not to exist, unless
// something showed it exists meanwhile, so that calls naming queues that
// do not exist leave nothing behind.
func (m *Metrics) forget(name string) {
	v, ok := m.queues.Load(name)
	if !ok {
		return
	}
	qs := v.(*queueStats)
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if !qs.dead && !qs.known.Load() && qs.depth.Load() == 0 && qs.inFlight.Load() == 0 {
		m.drop(name, qs)
	}
}

// countingCluster is countingStore over a store.Cluster: it follows which
// queues this node owns and recounts the depths.
type countingCluster struct {
	*countingStore
	cluster store.Cluster

	mu       sync.Mutex
	owns     map[string]bool // the queues this node owns now
	acquired []string        // queues gained, to count before reporting them
}

// RunNode runs the store's RunNode, marking the queues this node owns (the
// depths it reports). A queue gained is counted before its depth is
// reported, and every Config.Recount all are, since the other nodes change
// them too.
func (c *countingCluster) RunNode(ctx context.Context, on func(store.ClusterEvent)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gained := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.recountLoop(ctx, gained)
	}()
	defer wg.Wait()
	return c.cluster.RunNode(ctx, func(ev store.ClusterEvent) {
		switch ev.Kind {
		case store.QueueAcquired:
			c.mu.Lock()
			c.owns[ev.Queue] = true
			c.acquired = append(c.acquired, ev.Queue)
			c.mu.Unlock()
			select {
			case gained <- struct{}{}:
			default:
			}
		case store.QueueLost:
			c.mu.Lock()
			delete(c.owns, ev.Queue)
			c.m.queue(ev.Queue).owned.Store(false)
			c.mu.Unlock()
		}
		on(ev)
	})
}

// recountLoop counts the queues gained as they come, and all queues every
// Config.Recount.
func (c *countingCluster) recountLoop(ctx context.Context, gained <-chan struct{}) {
	t := time.NewTicker(c.m.cfg.Recount)
	defer t.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-gained:
			c.mu.Lock()
			names := c.acquired
			c.acquired = nil
			c.mu.Unlock()
			err = c.m.recount(ctx, c.tc, names)
			// Only those still owned: a queue may be lost while counted.
			c.mu.Lock()
			for _, name := range names {
				if c.owns[name] {
					c.m.queue(name).owned.Store(true)
				}
			}
			c.mu.Unlock()
		case <-t.C:
			err = c.m.recount(ctx, c.tc, nil)
		}
		if err != nil && ctx.Err() == nil {
			c.m.log.Warn("metrics: recounting the queues' depth", "err", err)
		}
	}
}
