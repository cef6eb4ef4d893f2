package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cloudtasksapi "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config says what to measure; zero fields take the defaults in brackets.
type Config struct {
	Servers  []string // gRPC addresses of the OpenTasks servers to drive
	Location string   // [projects/bench/locations/us-central1]
	Callers  int      // concurrent CreateTask callers [64]
	Queues   int      // queues for the delivery phase [64]
	// CreateQueues lists the queue counts that creates alone are measured
	// into, each against the loopback ceiling measured around it [1, 128];
	// an empty, non-nil list skips the phase.
	CreateQueues []int
	// CreatesOnly measures that phase alone: against another
	// implementation of the API, say, which need not deliver.
	CreatesOnly bool
	// ServerCPU, if set, reads the CPU time the server has used, so that
	// the creates phase reports it per create.
	ServerCPU func() (time.Duration, error)
	Tasks     int // tasks for the create and delivery phases [100000]
	// Ceiling is how long the loopback ceiling is measured [5s]: half
	// just before the deliveries, half just after.
	Ceiling time.Duration
	// LatenessRate and LatenessFor set the offered load of the lateness
	// phase [1000/s for 10s].
	LatenessRate int
	LatenessFor  time.Duration
	// Rate is the configured rate of the rate-accuracy phase [50/s], over
	// RateTasks tasks [500].
	Rate      float64
	RateTasks int
	// Pending, if positive, is how many future tasks the memory phase adds
	// while Memory watches the server's resident memory.
	Pending int
	Memory  Memory
	// Timeout bounds each phase that waits for deliveries [5m].
	Timeout time.Duration
}

// Memory reads a server's resident memory.
type Memory interface {
	// Resident returns the resident bytes now and at their peak since the
	// last ResetPeak.
	Resident() (now, peak int64, err error)
	ResetPeak() error
}

// DefaultConfig is the Config whose values Run uses for zero fields.
func DefaultConfig() Config {
	var c Config
	c.defaults()
	return c
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Callers, 64)
	def(&c.Queues, 64)
	def(&c.Tasks, 100000)
	def(&c.LatenessRate, 1000)
	def(&c.RateTasks, 500)
	if c.CreateQueues == nil {
		c.CreateQueues = []int{1, 128}
	}
	if c.Location == "" {
		c.Location = "projects/bench/locations/us-central1"
	}
	if c.Ceiling <= 0 {
		c.Ceiling = 5 * time.Second
	}
	if c.LatenessFor <= 0 {
		c.LatenessFor = 10 * time.Second
	}
	if c.Rate <= 0 {
		c.Rate = 50
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
}

// Report holds the figures of one run.
type Report struct {
	// Creates measures creates alone, into each of Config.CreateQueues;
	// with CreatesOnly, nothing else was measured.
	Creates         []Creates
	CreatesOnly     bool
	CeilingPerSec   float64
	CreatesPerSec   float64
	CreateP50       time.Duration
	CreateP99       time.Duration
	DeliveredPerSec float64
	LatenessP50     time.Duration
	LatenessP99     time.Duration
	LatenessMax     time.Duration
	RateConfigured  float64
	RateMeasured    float64
	PendingTasks    int
	PendingRSSBytes int64 // resident memory the pending tasks added
	// PendingPeakBytes is the highest the resident memory rose above its
	// start while they were created, if PendingPeakKnown.
	PendingPeakBytes int64
	PendingPeakKnown bool
}

// Creates is the create rate into a number of queues, and the loopback
// ceiling measured just before and just after it.
type Creates struct {
	Queues        int
	PerSec        float64
	P50, P99      time.Duration
	CeilingPerSec float64
	// CPU per create of the load generator (the callers, and the idle
	// target) and, if Config.ServerCPU is set, of the server.
	LoadgenCPU, ServerCPU time.Duration
}

// WriteTo prints the report as a table.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, c := range r.Creates {
		name := fmt.Sprintf("creates into %d queues", c.Queues)
		if c.Queues == 1 {
			name = "creates into 1 queue"
		}
		fmt.Fprintf(&b, "%-28s %10.0f /s   (%.2f of the ceiling, %.0f req/s)  p50 %v  p99 %v  CPU per create: load generator %v",
			name, c.PerSec, c.PerSec/c.CeilingPerSec, c.CeilingPerSec, c.P50, c.P99, c.LoadgenCPU)
		if c.ServerCPU > 0 {
			fmt.Fprintf(&b, ", server %v", c.ServerCPU)
		}
		b.WriteString("\n")
	}
	if r.CreatesOnly {
		n, err := io.WriteString(w, b.String())
		return int64(n), err
	}
	fmt.Fprintf(&b, "loopback HTTP ceiling        %10.0f req/s\n", r.CeilingPerSec)
	fmt.Fprintf(&b, "creates                      %10.0f /s   p50 %v  p99 %v\n", r.CreatesPerSec, r.CreateP50, r.CreateP99)
	fmt.Fprintf(&b, "delivered, end to end        %10.0f /s   (%.0f%% of the ceiling)\n", r.DeliveredPerSec, 100*r.DeliveredPerSec/r.CeilingPerSec)
	fmt.Fprintf(&b, "lateness vs schedule_time    p50 %v  p99 %v  max %v\n", r.LatenessP50, r.LatenessP99, r.LatenessMax)
	fmt.Fprintf(&b, "rate limit                   configured %.1f/s  measured %.2f/s  (%+.1f%%)\n",
		r.RateConfigured, r.RateMeasured, 100*(r.RateMeasured-r.RateConfigured)/r.RateConfigured)
	if r.PendingTasks > 0 {
		fmt.Fprintf(&b, "memory for pending tasks     %d tasks add %.1f MB RSS (%.0f bytes each)",
			r.PendingTasks, float64(r.PendingRSSBytes)/1e6, float64(r.PendingRSSBytes)/float64(r.PendingTasks))
		if r.PendingPeakKnown {
			fmt.Fprintf(&b, ", peak %+.1f MB while created", float64(r.PendingPeakBytes)/1e6)
		}
		b.WriteString("\n")
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// bench is one run's shared state.
type bench struct {
	cfg     Config
	clients []*cloudtasksapi.Client
	target  *target
	run     string // makes queue names unique per run
	log     io.Writer
}

// Run measures every phase in turn, logging progress to log.
func Run(ctx context.Context, cfg Config, log io.Writer) (Report, error) {
	cfg.defaults()
	if len(cfg.Servers) == 0 {
		return Report{}, errors.New("loadgen: no server to drive")
	}
	b := &bench{cfg: cfg, log: log, run: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffff)}
	for _, addr := range cfg.Servers {
		c, err := cloudtasksapi.NewClient(ctx, option.WithEndpoint(addr), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithGRPCConnectionPool(2))
		if err != nil {
			return Report{}, err
		}
		defer c.Close()
		b.clients = append(b.clients, c)
	}
	t, err := startTarget()
	if err != nil {
		return Report{}, err
	}
	defer t.close()
	b.target = t

	type phase struct {
		name string
		fn   func(context.Context, *Report) error
	}
	creates := phase{"creates against the loopback ceiling", b.creates}
	phases := []phase{
		{"creates, loopback ceiling and end-to-end delivery", b.throughput},
		creates,
		{"lateness", b.lateness},
		{"rate accuracy", b.rateAccuracy},
		{"memory", b.memory},
	}
	if cfg.CreatesOnly {
		phases = []phase{creates}
	}
	r := Report{CreatesOnly: cfg.CreatesOnly}
	for _, phase := range phases {
		fmt.Fprintf(log, "bench: %s...\n", phase.name)
		if err := phase.fn(ctx, &r); err != nil {
			return r, fmt.Errorf("%s: %w", phase.name, err)
		}
	}
	return r, nil
}

func (b *bench) client(i int) *cloudtasksapi.Client { return b.clients[i%len(b.clients)] }

// ceiling hammers the target with a plain keep-alive client for d and
// returns how many requests it answered.
func (b *bench) ceiling(ctx context.Context, d time.Duration) (int64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: b.cfg.Callers, MaxConnsPerHost: b.cfg.Callers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Value
	for range b.cfg.Callers {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.target.url, strings.NewReader(`{"n":1}`))
				res, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Store(err)
					}
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	b.target.take("")
	if err, ok := failed.Load().(error); ok {
		return 0, err
	}
	return n.Load(), nil
}

// newQueue creates a queue, paused if asked, with the given rate.
func (b *bench) newQueue(ctx context.Context, name string, rate float64, paused bool) (string, error) {
	q := &cloudtaskspb.Queue{
		Name:       fmt.Sprintf("%s/queues/%s-%s", b.cfg.Location, name, b.run),
		RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: rate},
	}
	if _, err := b.client(0).CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: b.cfg.Location, Queue: q}); err != nil {
		return "", err
	}
	if paused {
		if _, err := b.client(0).PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: q.Name}); err != nil {
			return "", err
		}
	}
	return q.Name, nil
}

func (b *bench) task(queue string, at time.Time) *cloudtaskspb.CreateTaskRequest {
	req := &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: &cloudtaskspb.Task{
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: b.target.url, Body: []byte(`{"n":1}`),
		}},
	}}
	if !at.IsZero() {
		req.Task.ScheduleTime = timestamppb.New(at)
	}
	return req
}

// throughput creates Tasks tasks over Queues paused queues with Callers
// concurrent callers, then resumes the queues and times the deliveries,
// measuring the loopback ceiling just before and just after them.
func (b *bench) throughput(ctx context.Context, r *Report) error {
	queues := make([]string, b.cfg.Queues)
	for i := range queues {
		var err error
		if queues[i], err = b.newQueue(ctx, fmt.Sprintf("tp%d", i), 500, true); err != nil {
			return err
		}
	}
	rate, p50, p99, err := b.createMany(ctx, queues)
	if err != nil {
		return err
	}
	r.CreatesPerSec, r.CreateP50, r.CreateP99 = rate, p50, p99
	waits := make([]<-chan struct{}, len(queues))
	for i, q := range queues {
		n := b.cfg.Tasks / len(queues)
		if i < b.cfg.Tasks%len(queues) {
			n++
		}
		waits[i] = b.target.await(shortName(q), n)
	}
	// The ceiling brackets the deliveries, so that both are measured on
	// the machine as it is at the time: its speed drifts by more than
	// the gap between them would otherwise be worth.
	start := time.Now()
	requests, err := b.ceiling(ctx, b.cfg.Ceiling/2)
	if err != nil {
		return err
	}
	ceilingFor := time.Since(start)
	// All at once: resumed one by one while the first are delivering, the
	// last queue would start a second after the first.
	fmt.Fprintf(b.log, "bench: resuming %d queues\n", len(queues))
	start = time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i, q := range queues {
		g.Go(func() error {
			_, err := b.client(i).ResumeQueue(gctx, &cloudtaskspb.ResumeQueueRequest{Name: q})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := b.wait(ctx, waits...); err != nil {
		return fmt.Errorf("waiting for %d deliveries: %w", b.cfg.Tasks, err)
	}
	elapsed := time.Since(start)
	r.DeliveredPerSec = float64(b.cfg.Tasks) / elapsed.Seconds()
	fmt.Fprintf(b.log, "bench: %d deliveries in %v\n", b.cfg.Tasks, elapsed.Round(time.Millisecond))
	start = time.Now()
	after, err := b.ceiling(ctx, b.cfg.Ceiling-b.cfg.Ceiling/2)
	if err != nil {
		return err
	}
	r.CeilingPerSec = float64(requests+after) / (ceilingFor + time.Since(start)).Seconds()
	for _, q := range queues {
		b.target.take(shortName(q))
		if err := b.client(0).DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: q}); err != nil {
			return err
		}
	}
	return nil
}

// createMany creates Tasks tasks round-robin over queues with Callers
// concurrent callers and returns the rate and latency percentiles.
func (b *bench) createMany(ctx context.Context, queues []string) (perSec float64, p50, p99 time.Duration, err error) {
	var next atomic.Int64
	lat := make([][]time.Duration, b.cfg.Callers)
	errs := make(chan error, b.cfg.Callers)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range b.cfg.Callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.cfg.Tasks {
					return
				}
				t0 := time.Now()
				if _, err := b.client(c).CreateTask(ctx, b.task(queues[i%len(queues)], time.Time{})); err != nil {
					errs <- err
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, 0, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	fmt.Fprintf(b.log, "bench: %d creates over %d queues in %v\n", len(all), len(queues), elapsed.Round(time.Millisecond))
	return float64(len(all)) / elapsed.Seconds(), percentile(all, 0.50), percentile(all, 0.99), nil
}

// cpu returns the CPU time this process and, if known, the server have
// used; server is -1 where it is not known. A server whose CPU cannot be
// read (no /proc, as on macOS, or a process elsewhere) only goes without
// that figure: the rest of the run is still worth having.
func (b *bench) cpu() (self, server time.Duration, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, err
	}
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	server = -1
	if b.cfg.ServerCPU != nil {
		var err error
		if server, err = b.cfg.ServerCPU(); err != nil {
			fmt.Fprintf(b.log, "bench: no server CPU: %v\n", err)
			server = -1
		}
	}
	return self, server, nil
}

// creates measures creates alone into each of CreateQueues paused queues,
// with the loopback ceiling measured half just before and half just
// after, then deletes the queues and their tasks.
func (b *bench) creates(ctx context.Context, r *Report) error {
	for _, n := range b.cfg.CreateQueues {
		queues := make([]string, n)
		for i := range queues {
			var err error
			if queues[i], err = b.newQueue(ctx, fmt.Sprintf("cr%d-%d", n, i), 500, true); err != nil {
				return err
			}
		}
		start := time.Now()
		before, err := b.ceiling(ctx, b.cfg.Ceiling/2)
		if err != nil {
			return err
		}
		ceilingFor := time.Since(start)
		c := Creates{Queues: n}
		self0, server0, err := b.cpu()
		if err != nil {
			return err
		}
		if c.PerSec, c.P50, c.P99, err = b.createMany(ctx, queues); err != nil {
			return err
		}
		self1, server1, err := b.cpu()
		if err != nil {
			return err
		}
		c.LoadgenCPU = (self1 - self0) / time.Duration(b.cfg.Tasks)
		if server0 >= 0 && server1 >= 0 {
			c.ServerCPU = (server1 - server0) / time.Duration(b.cfg.Tasks)
		}
		start = time.Now()
		after, err := b.ceiling(ctx, b.cfg.Ceiling-b.cfg.Ceiling/2)
		if err != nil {
			return err
		}
		c.CeilingPerSec = float64(before+after) / (ceilingFor + time.Since(start)).Seconds()
		r.Creates = append(r.Creates, c)
		for _, q := range queues {
			if err := b.client(0).DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: q}); err != nil {
				return err
			}
		}
	}
	return nil
}

// lateness offers LatenessRate tasks/s for LatenessFor, each scheduled
// 500 ms after it is created, spread over enough queues that no queue's
// 500/s cap is the limit, and measures arrival minus schedule time.
func (b *bench) lateness(ctx context.Context, r *Report) error {
	total := int(float64(b.cfg.LatenessRate) * b.cfg.LatenessFor.Seconds())
	if total == 0 {
		return fmt.Errorf("%d/s for %v offers no task to measure", b.cfg.LatenessRate, b.cfg.LatenessFor)
	}
	nq := (b.cfg.LatenessRate + 249) / 250
	queues := make([]string, nq)
	for i := range queues {
		var err error
		if queues[i], err = b.newQueue(ctx, fmt.Sprintf("late%d", i), 500, false); err != nil {
			return err
		}
	}
	counts := make([]int, nq)
	for i := range total {
		counts[i%nq]++
	}
	waits := make([]<-chan struct{}, nq)
	for i, q := range queues {
		waits[i] = b.target.await(shortName(q), counts[i])
	}
	// Pace creations from a few callers on a shared schedule.
	interval := time.Second / time.Duration(b.cfg.LatenessRate)
	start := time.Now()
	var next atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				at := start.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					time.Sleep(d) // pacing an offered load, not waiting for a result
				}
				if _, err := b.client(c).CreateTask(ctx, b.task(queues[i%nq], at.Add(500*time.Millisecond))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := b.wait(ctx, waits...); err != nil {
		return err
	}
	var late []time.Duration
	for _, q := range queues {
		for _, a := range b.target.take(shortName(q)) {
			late = append(late, a.at.Sub(a.eta))
		}
		if err := b.client(0).DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: q}); err != nil {
			return err
		}
	}
	slices.Sort(late)
	r.LatenessP50, r.LatenessP99, r.LatenessMax = percentile(late, 0.50), percentile(late, 0.99), late[len(late)-1]
	return nil
}

// rateAccuracy queues RateTasks tasks on a paused queue limited to Rate,
// resumes it and measures the steady rate after the initial burst.
func (b *bench) rateAccuracy(ctx context.Context, r *Report) error {
	q, err := b.newQueue(ctx, "rate", b.cfg.Rate, true)
	if err != nil {
		return err
	}
	if err := b.createAll(ctx, q, b.cfg.RateTasks, time.Time{}); err != nil {
		return err
	}
	got, err := b.client(0).GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: q})
	if err != nil {
		return err
	}
	burst := int(got.GetRateLimits().GetMaxBurstSize())
	if burst >= b.cfg.RateTasks-1 {
		return fmt.Errorf("rate tasks (%d) must exceed the burst (%d) to measure a rate", b.cfg.RateTasks, burst)
	}
	done := b.target.await(shortName(q), b.cfg.RateTasks)
	if _, err := b.client(0).ResumeQueue(ctx, &cloudtaskspb.ResumeQueueRequest{Name: q}); err != nil {
		return err
	}
	if err := b.wait(ctx, done); err != nil {
		return err
	}
	arr := b.target.take(shortName(q))
	slices.SortFunc(arr, func(a, b arrival) int { return a.at.Compare(b.at) })
	// The first burst tokens are spent at once; after that, one arrival
	// per token refilled.
	window := arr[len(arr)-1].at.Sub(arr[burst-1].at)
	r.RateConfigured = b.cfg.Rate
	r.RateMeasured = float64(len(arr)-burst) / window.Seconds()
	return b.client(0).DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: q})
}

// memory adds Pending tasks scheduled a day ahead and reports how much
// the server's resident memory grew, and its peak while they were created
// where the peak can be reset.
func (b *bench) memory(ctx context.Context, r *Report) error {
	if b.cfg.Pending <= 0 || b.cfg.Memory == nil {
		return nil
	}
	q, err := b.newQueue(ctx, "pending", 500, false)
	if err != nil {
		return err
	}
	// The peak so far belongs to the earlier phases.
	reset := b.cfg.Memory.ResetPeak()
	if reset != nil {
		fmt.Fprintf(b.log, "bench: no peak memory: %v\n", reset)
	}
	before, _, err := b.cfg.Memory.Resident()
	if err != nil {
		return err
	}
	if err := b.createAll(ctx, q, b.cfg.Pending, time.Now().Add(24*time.Hour)); err != nil {
		return err
	}
	after, peak, err := b.cfg.Memory.Resident()
	if err != nil {
		return err
	}
	r.PendingTasks, r.PendingRSSBytes = b.cfg.Pending, after-before
	r.PendingPeakBytes, r.PendingPeakKnown = peak-before, reset == nil
	return b.client(0).DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: q})
}

// createAll creates n tasks on queue with BatchCreateTasks from Callers
// concurrent callers.
func (b *bench) createAll(ctx context.Context, queue string, n int, at time.Time) error {
	const per = 100 // BatchCreateTasks' limit
	var next atomic.Int64
	errs := make(chan error, b.cfg.Callers)
	var wg sync.WaitGroup
	for c := range b.cfg.Callers {
		wg.Go(func() {
			for {
				from := int(next.Add(per)) - per
				if from >= n {
					return
				}
				req := &cloudtaskspb.BatchCreateTasksRequest{Parent: queue}
				for range min(per, n-from) {
					req.Requests = append(req.Requests, b.task(queue, at))
				}
				op, err := b.client(c).BatchCreateTasks(ctx, req)
				if err == nil {
					_, err = op.Wait(ctx)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (b *bench) wait(ctx context.Context, chs ...<-chan struct{}) error {
	timeout := time.NewTimer(b.cfg.Timeout)
	defer timeout.Stop()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-timeout.C:
			return fmt.Errorf("not all deliveries arrived within %v", b.cfg.Timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1))]
}

func shortName(queue string) string { return queue[strings.LastIndexByte(queue, '/')+1:] }
