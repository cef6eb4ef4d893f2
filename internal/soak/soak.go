package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	cloudtasksapi "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/time/rate"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config says what to run.
type Config struct {
	Server   string        // host:port of the server to drive
	Duration time.Duration // how long the load runs [10m]
	Queues   int           // [64]
	// FaultyEvery: queue i's target is faulty unless i%FaultyEvery is at
	// least the number of fault kinds, so 8 makes half of them faulty [8].
	FaultyEvery int
	Rate        float64       // creates per second [300]
	Workers     int           // concurrent callers [16]
	Report      time.Duration // how often to print the server's figures [10s]
	Settle      time.Duration // how long to wait for the queues to empty at the end [2m]
	// Sample reads the server's figures; nil prints none.
	Sample func() (Sample, error)
}

// Sample is what the server costs at one moment.
type Sample struct {
	RSS        int64
	LiveHeap   int64 // after a collection
	FDs        int
	Goroutines int
}

// Result is what a run found.
type Result struct {
	Acked, Delivered, Deleted, Purged int
	Lost                              []string
	Duplicates, RunDuplicates         int
	// Samples are the server's figures at each report; the first
	// LoadSamples were taken while the load ran.
	Samples     []Sample
	LoadSamples int
}

const parent = "projects/soak/locations/us-central1"

type task struct {
	queue                int
	id                   string
	deleted, purged, ran bool
}

type soak struct {
	cfg     Config
	c       *cloudtasksapi.Client
	targets [faults]*target
	queues  []*cloudtaskspb.Queue
	qlocks  []sync.RWMutex // creates (read) against purges (write)
	mu      sync.Mutex
	tasks   map[string]*task
	order   []*task // for picking a recent task
	seq     atomic.Int64
}

// Run drives the server as Config says, writing progress to out.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	c, err := cloudtasksapi.NewClient(ctx, option.WithEndpoint(cfg.Server), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	s := &soak{cfg: cfg, c: c, tasks: make(map[string]*task), qlocks: make([]sync.RWMutex, cfg.Queues)}
	for f := range faults {
		s.targets[f] = newTarget(f)
		defer s.targets[f].close()
	}
	for i := range cfg.Queues {
		q, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{
			Name:        fmt.Sprintf("%s/queues/soak-%d-%02d", parent, time.Now().Unix(), i),
			RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: -1, MinBackoff: durationpb.New(100 * time.Millisecond), MaxBackoff: durationpb.New(time.Second)},
		}})
		if err != nil {
			return nil, fmt.Errorf("creating queue %d: %w", i, err)
		}
		s.queues = append(s.queues, q)
	}
	fmt.Fprintf(out, "soak: %v over %d queues (%d with faulty targets), %.0f creates/s\n",
		cfg.Duration, cfg.Queues, s.faultyQueues(), cfg.Rate)
	res := &Result{}
	loadCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	lim := rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Workers)
	errs := make(chan error, cfg.Workers)
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for lim.Wait(loadCtx) == nil {
				if err := s.step(loadCtx, rnd); err != nil && !ended(loadCtx) {
					errs <- err
					stop()
					return
				}
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(cfg.Report)
	defer tick.Stop()
	sample := func() {
		if cfg.Sample == nil {
			return
		}
		sm, err := cfg.Sample()
		if err != nil {
			fmt.Fprintf(out, "soak: sampling the server: %v\n", err)
			return
		}
		res.Samples = append(res.Samples, sm)
		s.mu.Lock()
		acked := len(s.tasks)
		s.mu.Unlock()
		fmt.Fprintf(out, "soak: %6s  rss %6.1f MB  live heap %6.1f MB  fds %5d  goroutines %6d  acknowledged %d\n",
			time.Since(start).Round(time.Second), mb(sm.RSS), mb(sm.LiveHeap), sm.FDs, sm.Goroutines, acked)
	}
	sample()
load:
	for {
		select {
		case <-loadCtx.Done():
			break load
		case <-tick.C:
			sample()
		}
	}
	res.LoadSamples = len(res.Samples)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := s.settle(ctx, out); err != nil {
		return nil, err
	}
	sample()
	s.account(res)
	return res, nil
}

// ended reports whether the load's time is up: a call cut short by its
// end fails with the deadline the client saw, which may come a moment
// before ctx's own timer. Such a call's task is not acknowledged.
func ended(ctx context.Context) bool {
	d, _ := ctx.Deadline()
	return ctx.Err() != nil || !time.Now().Before(d)
}

func (s *soak) faultyQueues() int {
	n := 0
	for i := range s.cfg.Queues {
		if s.fault(i) != healthy {
			n++
		}
	}
	return n
}

func (s *soak) fault(queue int) fault {
	if f := fault(queue%s.cfg.FaultyEvery + 1); f < faults {
		return f
	}
	return healthy
}

// step does one operation: mostly creates, and now and then a delete, a
// RunTask, a pause (and resume) or a purge.
func (s *soak) step(ctx context.Context, rnd *rand.Rand) error {
	qi := rnd.IntN(len(s.queues))
	switch n := rnd.IntN(1000); {
	case n < 40:
		return s.deleteOne(ctx, rnd)
	case n < 80:
		return s.runOne(ctx, rnd)
	case n < 84:
		return s.pause(ctx, qi)
	case n < 86:
		return s.purge(ctx, qi)
	}
	return s.create(ctx, qi, rnd)
}

func (s *soak) create(ctx context.Context, qi int, rnd *rand.Rand) error {
	id := fmt.Sprintf("t%d", s.seq.Add(1))
	f := s.fault(qi)
	tk := &cloudtaskspb.Task{
		Name:             s.queues[qi].Name + "/tasks/" + id,
		ScheduleTime:     timestamppb.New(time.Now().Add(time.Duration(rnd.IntN(2000)) * time.Millisecond)),
		DispatchDeadline: durationpb.New(15 * time.Second), // Cloud Tasks' shortest
		MessageType:      &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: s.targets[f].srv.URL + "/"}},
	}
	s.qlocks[qi].RLock()
	defer s.qlocks[qi].RUnlock()
	if _, err := s.c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: s.queues[qi].Name, Task: tk}); err != nil {
		return fmt.Errorf("CreateTask: %w", err)
	}
	t := &task{queue: qi, id: id}
	s.mu.Lock()
	s.tasks[id] = t
	s.order = append(s.order, t)
	s.mu.Unlock()
	return nil
}

// recent picks one of the last thousand tasks created.
func (s *soak) recent(rnd *rand.Rand) *task {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return nil
	}
	return s.order[len(s.order)-1-rnd.IntN(min(1000, len(s.order)))]
}

// gone reports the errors that say the task is no longer there.
func gone(err error) bool { return status.Code(err) == codes.NotFound }

func (s *soak) deleteOne(ctx context.Context, rnd *rand.Rand) error {
	t := s.recent(rnd)
	if t == nil {
		return nil
	}
	err := s.c.DeleteTask(ctx, &cloudtaskspb.DeleteTaskRequest{Name: s.queues[t.queue].Name + "/tasks/" + t.id})
	switch {
	case err == nil:
		s.mu.Lock()
		t.deleted = true
		s.mu.Unlock()
	case !gone(err):
		return fmt.Errorf("DeleteTask: %w", err)
	}
	return nil
}

func (s *soak) runOne(ctx context.Context, rnd *rand.Rand) error {
	t := s.recent(rnd)
	if t == nil {
		return nil
	}
	_, err := s.c.RunTask(ctx, &cloudtaskspb.RunTaskRequest{Name: s.queues[t.queue].Name + "/tasks/" + t.id})
	switch {
	case err == nil:
		s.mu.Lock()
		t.ran = true
		s.mu.Unlock()
	case !gone(err):
		return fmt.Errorf("RunTask: %w", err)
	}
	return nil
}

// pause pauses the queue for half a second.
func (s *soak) pause(ctx context.Context, qi int) error {
	name := s.queues[qi].Name
	if _, err := s.c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: name}); err != nil {
		return fmt.Errorf("PauseQueue: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(500 * time.Millisecond):
	}
	// Not ctx: a queue left paused would never empty.
	if _, err := s.c.ResumeQueue(context.Background(), &cloudtaskspb.ResumeQueueRequest{Name: name}); err != nil {
		return fmt.Errorf("ResumeQueue: %w", err)
	}
	return nil
}

// purge purges the queue; every task acknowledged before it began counts
// as deliberately deleted if it was not delivered.
func (s *soak) purge(ctx context.Context, qi int) error {
	s.qlocks[qi].Lock()
	defer s.qlocks[qi].Unlock()
	s.mu.Lock()
	var before []*task
	for _, t := range s.order {
		if t.queue == qi {
			before = append(before, t)
		}
	}
	s.mu.Unlock()
	if _, err := s.c.PurgeQueue(ctx, &cloudtaskspb.PurgeQueueRequest{Name: s.queues[qi].Name}); err != nil {
		return fmt.Errorf("PurgeQueue: %w", err)
	}
	s.mu.Lock()
	for _, t := range before {
		t.purged = true
	}
	s.mu.Unlock()
	return nil
}

// settle waits until every queue is empty, or the settle time ends.
func (s *soak) settle(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Settle)
	defer cancel()
	fmt.Fprintf(out, "soak: load stopped; waiting up to %v for the queues to empty\n", s.cfg.Settle)
	for {
		left := 0
		for _, q := range s.queues {
			it := s.c.ListTasks(ctx, &cloudtaskspb.ListTasksRequest{Parent: q.Name, PageSize: 1000})
			for {
				_, err := it.Next()
				if errors.Is(err, iterator.Done) {
					break
				}
				if err != nil {
					if ctx.Err() != nil {
						fmt.Fprintf(out, "soak: %d tasks still queued when the settle time ended\n", left)
						return nil
					}
					return fmt.Errorf("ListTasks: %w", err)
				}
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(out, "soak: %d tasks still queued when the settle time ended\n", left)
			return nil
		case <-time.After(time.Second):
		}
	}
}

// account sorts every acknowledged task into what became of it.
func (s *soak) account(r *Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.order {
		r.Acked++
		n := s.targets[s.fault(t.queue)].delivered(t.id)
		switch {
		case n > 0:
			r.Delivered++
			if n > 1 {
				if t.ran {
					r.RunDuplicates++
				} else {
					r.Duplicates++
				}
			}
		case t.deleted:
			r.Deleted++
		case t.purged:
			r.Purged++
		default:
			r.Lost = append(r.Lost, s.queues[t.queue].Name+"/tasks/"+t.id)
		}
	}
}

// WriteTo prints the result: the counts, and the growth of each figure
// from the end of the warm-up (the first fifth of the load) to the end of
// the load.
func (r *Result) WriteTo(w io.Writer) (int64, error) {
	n, err := fmt.Fprintf(w, "acknowledged %d: delivered %d, deleted %d, purged %d, lost %d\n"+
		"delivered twice: %d (and %d after a RunTask while the scheduled attempt was in flight)\n",
		r.Acked, r.Delivered, r.Deleted, r.Purged, len(r.Lost), r.Duplicates, r.RunDuplicates)
	for i, name := range r.Lost {
		if i == 10 {
			fmt.Fprintf(w, "  ...\n")
			break
		}
		fmt.Fprintf(w, "  lost: %s\n", name)
	}
	if load := r.Samples[:r.LoadSamples]; len(load) >= 5 {
		a, b := load[len(load)/5], load[len(load)-1]
		m, _ := fmt.Fprintf(w, "from warm-up to the end of the load: rss %.1f -> %.1f MB, live heap %.1f -> %.1f MB, fds %d -> %d, goroutines %d -> %d\n",
			mb(a.RSS), mb(b.RSS), mb(a.LiveHeap), mb(b.LiveHeap), a.FDs, b.FDs, a.Goroutines, b.Goroutines)
		n += m
	}
	return int64(n), err
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
