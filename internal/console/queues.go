package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/metrics"
)

// How many tasks a queue's live numbers count at most (one ListTasks
// page): few on the Queues page, which counts every queue, more on a
// queue's own page. A count serves every viewer for sampleTTL; on the
// Queues page, for a second per sampledPerSecond queues shown, so that
// one viewer costs at most about that many ListTasks calls a second
// however many queues there are.
const (
	overviewSample   = 50
	queueSample      = 1000
	sampleTTL        = time.Second
	sampledPerSecond = 100
)

// sampleSpec is one count of a queue's tasks: the queue, the page size, and
// how long a count may be reused.
type sampleSpec struct {
	queue string
	size  int32
	ttl   time.Duration
}

// taskSample is what one bounded ListTasks page tells about a queue.
type taskSample struct {
	Tasks, DueNow, InFlight int64
	Oldest                  time.Time
	// More: the queue holds more tasks than were counted.
	More bool
}

type sampleKey struct {
	queue string
	size  int32
}

type sampleEntry struct {
	// seen is when a page last asked (under Console.sampleMu).
	seen time.Time
	mu   sync.Mutex
	at   time.Time
	s    taskSample
}

// sampleForget is how long a queue's sample is kept after the last page
// that showed it, so that queues deleted elsewhere do not pile up.
const sampleForget = time.Minute

// sample counts a queue's tasks from its first ListTasks page of size
// tasks, at most once per sampleTTL whoever asks. The queue was listed or read with the
// caller's own context before, so the counts are of a queue the caller can
// see.
func (c *Console) sample(ctx context.Context, sp sampleSpec) (taskSample, error) {
	now := c.cfg.Now()
	queue, size := sp.queue, sp.size
	key := sampleKey{queue, size}
	c.sampleMu.Lock()
	e := c.samples[key]
	if e == nil {
		for q, old := range c.samples {
			if now.Sub(old.seen) > sampleForget {
				delete(c.samples, q)
			}
		}
		e = &sampleEntry{}
		c.samples[key] = e
	}
	e.seen = now
	c.sampleMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.Sub(e.at) < sp.ttl && !e.at.IsZero() {
		return e.s, nil
	}
	resp, err := c.cfg.API.ListTasks(ctx, &cloudtaskspb.ListTasksRequest{Parent: queue, PageSize: size, ResponseView: cloudtaskspb.Task_BASIC})
	if err != nil {
		return taskSample{}, err
	}
	s := taskSample{Tasks: int64(len(resp.Tasks)), More: resp.NextPageToken != ""}
	for _, t := range resp.Tasks {
		switch stateOf(t) {
		case stateInFlight:
			s.InFlight++
		default:
			if !t.GetScheduleTime().AsTime().After(now) {
				s.DueNow++
			}
		}
		if ct := t.GetCreateTime().AsTime(); s.Oldest.IsZero() || ct.Before(s.Oldest) {
			s.Oldest = ct
		}
	}
	e.s, e.at = s, now
	return s, nil
}

// forget drops a deleted or purged queue's cached samples.
func (c *Console) forget(queue string) {
	c.sampleMu.Lock()
	delete(c.samples, sampleKey{queue, overviewSample})
	delete(c.samples, sampleKey{queue, queueSample})
	c.sampleMu.Unlock()
}

// numbers are a queue's live figures as the pages show them.
type numbers struct {
	Tasks, DueNow, InFlight, Oldest string
	Attempts, Failures              string
	Failing                         bool
	Spark                           template.HTML
}

// numbersOf combines the cheap in-memory stats (exact) with the sample
// (exact when the queue fits in it, lower bounds otherwise).
func (c *Console) numbersOf(ctx context.Context, sp sampleSpec) (numbers, error) {
	queue := sp.queue
	n := numbers{Attempts: "—", Failures: "—", Oldest: "—"}
	var st metrics.QueueStats
	haveStats := c.cfg.Metrics != nil
	if haveStats {
		st = c.cfg.Metrics.QueueStats(queue)
	}
	var s taskSample
	if !haveStats || st.Depth > 0 {
		var err error
		if s, err = c.sample(ctx, sp); err != nil {
			return n, err
		}
	}
	n.Tasks, n.InFlight = count(s.Tasks, s.More), count(s.InFlight, s.More)
	n.DueNow = count(s.DueNow, s.More)
	if !s.Oldest.IsZero() {
		n.Oldest = age(c.cfg.Now().Sub(s.Oldest))
		if s.More {
			n.Oldest = "≥ " + n.Oldest
		}
	}
	if haveStats {
		n.Tasks, n.InFlight = count(st.Depth, false), count(st.InFlight, false)
		n.Attempts = count(st.AttemptsLastMinute, false)
		n.Failures = count(st.FailuresLastMinute, false)
		n.Failing = st.FailuresLastMinute > 0
		n.Spark = sparkline(st.Deliveries)
	}
	return n, nil
}

// queueRow is one queue on the Queues page.
type queueRow struct {
	Name, ID, URL, State string
	Paused               bool
	Rate, Burst, MaxConc string
	Live                 numbers
	Err                  string
}

type queueGroup struct {
	Project, Location string
	Queues            []queueRow
}

type queueForm struct {
	Project, Location, ID, Rate, MaxConcurrent, MaxAttempts string
}

type queuesData struct {
	Groups    []queueGroup
	Total     int
	Locations []string
	Form      queueForm
	FormOpen  bool
	FormError string
	HaveStats bool
	// Hidden counts the locations whose queues the principal may not list.
	Hidden int
}

func (c *Console) queuesPage(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	c.showQueues(ctx, w, r, http.StatusOK, queueForm{}, "")
}

func (c *Console) showQueues(ctx context.Context, w http.ResponseWriter, r *http.Request, code int, form queueForm, formErr string) {
	parents, err := c.cfg.Parents(ctx)
	if err != nil {
		c.apiError(w, r, "Finding the locations that hold queues", err, crumb{})
		return
	}
	slices.Sort(parents)
	parents = slices.Compact(parents)
	d := queuesData{Form: form, FormError: formErr, FormOpen: formErr != "", HaveStats: c.cfg.Metrics != nil}
	for _, parent := range parents {
		queues, err := c.listQueues(ctx, parent)
		if status.Code(err) == codes.PermissionDenied {
			d.Hidden++ // a project this principal may not see
			continue
		}
		if err != nil {
			c.apiError(w, r, "Listing the queues of "+parent, err, crumb{})
			return
		}
		if len(queues) == 0 {
			continue
		}
		project, loc := splitParent(parent)
		g := queueGroup{Project: project, Location: loc}
		for _, q := range queues {
			g.Queues = append(g.Queues, rowOf(q))
		}
		d.Groups = append(d.Groups, g)
		d.Total += len(queues)
	}
	c.fillNumbers(ctx, d.Groups, d.Total)
	if d.Form.Project == "" {
		d.Form = queueForm{Project: "my-project", Location: "us-central1"}
		if len(d.Groups) > 0 {
			d.Form.Project, d.Form.Location = d.Groups[0].Project, d.Groups[0].Location
		}
	}
	d.Locations = c.locations(ctx, d.Form.Project)
	c.render(w, r, code, "queues", &page{Title: "Queues", Live: true}, d)
}

// overviewTTL is how long the Queues page reuses a queue's count when it
// shows total queues.
func overviewTTL(total int) time.Duration {
	return sampleTTL * time.Duration(max(1, (total+sampledPerSecond-1)/sampledPerSecond))
}

// fillNumbers reads every queue's live numbers, a few queues at a time.
func (c *Console) fillNumbers(ctx context.Context, groups []queueGroup, total int) {
	ttl := overviewTTL(total)
	var g errgroup.Group
	g.SetLimit(8)
	for gi := range groups {
		for qi := range groups[gi].Queues {
			row := &groups[gi].Queues[qi]
			g.Go(func() error {
				n, err := c.numbersOf(ctx, sampleSpec{row.Name, overviewSample, ttl})
				if err != nil {
					row.Err = errMessage(err)
				}
				row.Live = n
				return nil
			})
		}
	}
	_ = g.Wait() // errors are kept per row
}

func (c *Console) listQueues(ctx context.Context, parent string) ([]*cloudtaskspb.Queue, error) {
	var all []*cloudtaskspb.Queue
	req := &cloudtaskspb.ListQueuesRequest{Parent: parent, PageSize: 1000}
	for {
		resp, err := c.cfg.API.ListQueues(ctx, req)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.Queues...)
		if resp.NextPageToken == "" {
			return all, nil
		}
		req.PageToken = resp.NextPageToken
	}
}

// locations lists the location IDs offered for a new queue; a failure
// leaves the list empty (the field still takes any ID).
func (c *Console) locations(ctx context.Context, project string) []string {
	if c.cfg.Locations == nil {
		return nil
	}
	resp, err := c.cfg.Locations.ListLocations(ctx, &location.ListLocationsRequest{Name: "projects/" + project})
	if err != nil {
		return nil
	}
	var ids []string
	for _, l := range resp.Locations {
		ids = append(ids, l.LocationId)
	}
	return ids
}

func rowOf(q *cloudtaskspb.Queue) queueRow {
	rl := q.GetRateLimits()
	return queueRow{
		Name:    q.GetName(),
		ID:      lastSegment(q.GetName()),
		URL:     Prefix + q.GetName(),
		State:   stateName(q.GetState()),
		Paused:  q.GetState() == cloudtaskspb.Queue_PAUSED,
		Rate:    rate(rl.GetMaxDispatchesPerSecond()),
		Burst:   strconv.Itoa(int(rl.GetMaxBurstSize())),
		MaxConc: strconv.Itoa(int(rl.GetMaxConcurrentDispatches())),
	}
}

func stateName(s cloudtaskspb.Queue_State) string {
	switch s {
	case cloudtaskspb.Queue_RUNNING:
		return "Running"
	case cloudtaskspb.Queue_PAUSED:
		return "Paused"
	case cloudtaskspb.Queue_DISABLED:
		return "Disabled"
	}
	return "Unknown"
}

func splitParent(parent string) (project, loc string) {
	// parent is projects/P/locations/L
	parts := strings.Split(parent, "/")
	if len(parts) != 4 {
		return parent, ""
	}
	return parts[1], parts[3]
}

func lastSegment(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}

// createQueue creates a queue from the Queues page's form; numbers left
// empty take the API's defaults.
func (c *Console) createQueue(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	f := queueForm{
		Project:       strings.TrimSpace(r.PostForm.Get("project")),
		Location:      strings.TrimSpace(r.PostForm.Get("location")),
		ID:            strings.TrimSpace(r.PostForm.Get("id")),
		Rate:          strings.TrimSpace(r.PostForm.Get("rate")),
		MaxConcurrent: strings.TrimSpace(r.PostForm.Get("max_concurrent")),
		MaxAttempts:   strings.TrimSpace(r.PostForm.Get("max_attempts")),
	}
	q, err := f.queue()
	if err != nil {
		c.showQueues(ctx, w, r, http.StatusBadRequest, f, err.Error())
		return
	}
	parent := "projects/" + f.Project + "/locations/" + f.Location
	created, err := c.cfg.API.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: q})
	if err != nil {
		c.showQueues(ctx, w, r, httpStatusOf(err), f, errMessage(err))
		return
	}
	flash(w, r, "Created queue "+lastSegment(created.GetName())+".")
	http.Redirect(w, r, Prefix+created.GetName(), http.StatusSeeOther)
}

func (f queueForm) queue() (*cloudtaskspb.Queue, error) {
	if f.Project == "" || f.Location == "" || f.ID == "" {
		return nil, fmt.Errorf("project, location and queue ID are required")
	}
	q := &cloudtaskspb.Queue{Name: "projects/" + f.Project + "/locations/" + f.Location + "/queues/" + f.ID}
	if f.Rate != "" || f.MaxConcurrent != "" {
		q.RateLimits = &cloudtaskspb.RateLimits{}
	}
	if f.Rate != "" {
		v, err := strconv.ParseFloat(f.Rate, 64)
		if err != nil {
			return nil, fmt.Errorf("max dispatches per second %q is not a number", f.Rate)
		}
		q.RateLimits.MaxDispatchesPerSecond = v
	}
	if f.MaxConcurrent != "" {
		v, err := strconv.ParseInt(f.MaxConcurrent, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("max concurrent dispatches %q is not a whole number", f.MaxConcurrent)
		}
		q.RateLimits.MaxConcurrentDispatches = int32(v)
	}
	if f.MaxAttempts != "" {
		v, err := strconv.ParseInt(f.MaxAttempts, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("max attempts %q is not a whole number", f.MaxAttempts)
		}
		q.RetryConfig = &cloudtaskspb.RetryConfig{MaxAttempts: int32(v)}
	}
	return q, nil
}

// ParentsOf makes Config.Parents from a lister of every queue in name order
// (store.Dispatch.AllQueues): the API cannot list projects, so only the
// names of the locations that hold queues come from there; their queues
// are then read through the API.
func ParentsOf(all func(ctx context.Context, after string, limit int) ([]*cloudtaskspb.Queue, error)) func(context.Context) ([]string, error) {
	const batch = 1000
	return func(ctx context.Context) ([]string, error) {
		var parents []string
		for after := ""; ; {
			qs, err := all(ctx, after, batch)
			if err != nil {
				return nil, fmt.Errorf("listing queues: %w", err)
			}
			for _, q := range qs {
				parent, _, _ := strings.Cut(q.GetName(), "/queues/")
				if len(parents) == 0 || parents[len(parents)-1] != parent {
					parents = append(parents, parent)
				}
			}
			if len(qs) < batch {
				return parents, nil
			}
			after = qs[len(qs)-1].GetName()
		}
	}
}
