package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// fasthttp's sweepers of idle connections sleep out their period (up to
// 10 seconds) after the last connection closes.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"))
}

const loc = "projects/p/locations/us-central1"

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// harness is a dispatcher over a real SQLite file delivering to a real
// HTTP target.
type harness struct {
	t        *testing.T
	path     string
	st       *sqlite.Store
	d        *dispatch.Dispatcher
	clock    *storetest.Clock
	now      func() time.Time
	target   *httptest.Server
	outcomes chan dispatch.Outcome
	tokens   deliver.Tokens
	// reads has each queue the dispatcher read (see settle).
	reads chan *cloudtaskspb.Queue
	// closeStore closes the current store once.
	closeStore func() error
	// configure adjusts the dispatcher's configuration at each start.
	configure []func(*dispatch.Config)
}

// newHarness starts a dispatcher on the fake clock (real clock if clock
// is nil) delivering to handler, configured by configure.
func newHarness(t *testing.T, clock *storetest.Clock, handler http.Handler, configure ...func(*dispatch.Config)) *harness {
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "tasks.db"), clock: clock, outcomes: make(chan dispatch.Outcome, 1000),
		reads: make(chan *cloudtaskspb.Queue, 256), configure: configure}
	h.now = time.Now
	if clock != nil {
		h.now = clock.Now
	}
	h.target = httptest.NewServer(handler)
	t.Cleanup(h.target.Close)
	h.open()
	return h
}

func (h *harness) open() {
	st, err := sqlite.Open(context.Background(), h.path, sqlite.WithClock(h.now))
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	h.closeStore = sync.OnceValue(st.Close)
	h.t.Cleanup(func() { h.closeStore() })
	h.start()
}

func (h *harness) start() {
	cfg := dispatch.Config{
		Now:        h.now,
		Deliver:    deliver.New(deliver.Config{Tokens: h.tokens, AppEngineHost: h.target.Listener.Addr().String()}),
		OnComplete: func(o dispatch.Outcome) { h.outcomes <- o },
	}
	for _, c := range h.configure {
		c(&cfg)
	}
	h.d = dispatch.New(readsStore{h.st, h.reads}, cfg)
	if err := h.d.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.d.Stop)
}

// restart stops the dispatcher and closes the store, as a killed process
// leaves them, then opens both again.
func (h *harness) restart() {
	h.d.Stop()
	if err := h.closeStore(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

// queue creates a queue as the API would (defaults filled in).
func (h *harness) queue(id string, edit func(*cloudtaskspb.Queue)) *cloudtaskspb.Queue {
	q := &cloudtaskspb.Queue{
		Name:       loc + "/queues/" + id,
		State:      cloudtaskspb.Queue_RUNNING,
		RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 500, MaxBurstSize: 100, MaxConcurrentDispatches: 1000},
		RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 100, MinBackoff: durationpb.New(100 * time.Millisecond),
			MaxBackoff: durationpb.New(time.Hour), MaxDoublings: 16},
	}
	if edit != nil {
		edit(q)
	}
	if err := h.st.CreateQueue(context.Background(), q); err != nil {
		h.t.Fatal(err)
	}
	h.d.Changed(q.Name)
	return q
}

// setState sets q's state in the store, as Pause/ResumeQueue would; the
// caller tells the dispatcher (settle or Changed).
func (h *harness) setState(q *cloudtaskspb.Queue, state cloudtaskspb.Queue_State) {
	h.t.Helper()
	if _, err := h.st.UpdateQueue(h.t.Context(), q.Name, func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		cur.State = state
		return cur, nil
	}); err != nil {
		h.t.Fatal(err)
	}
}

// task creates an HTTP task to the target's path /id due at due.
func (h *harness) task(q *cloudtaskspb.Queue, id string, due time.Time, edit func(*cloudtaskspb.Task)) *store.Task {
	now := h.now()
	tk := &store.Task{Queue: q.Name, ID: id, Created: now, Task: &cloudtaskspb.Task{
		Name: q.Name + "/tasks/" + id,
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: h.target.URL + "/" + id, HttpMethod: cloudtaskspb.HttpMethod_POST,
			Headers: map[string]string{"User-Agent": "Google-Cloud-Tasks"}, Body: []byte(id),
		}},
		ScheduleTime:     timestamppb.New(due),
		CreateTime:       timestamppb.New(now.Truncate(time.Second)),
		DispatchDeadline: durationpb.New(30 * time.Second),
	}}
	if edit != nil {
		edit(tk.Task)
	}
	if err := h.st.CreateTask(context.Background(), tk); err != nil {
		h.t.Fatal(err)
	}
	h.d.Changed(q.Name)
	return tk
}

// outcome waits for the next durable outcome.
func (h *harness) outcome() dispatch.Outcome {
	h.t.Helper()
	select {
	case o := <-h.outcomes:
		return o
	case <-time.After(hangAfter):
		h.t.Fatalf("no attempt finished within %v", hangAfter)
	}
	return dispatch.Outcome{}
}

func (h *harness) get(q *cloudtaskspb.Queue, id string) *store.Task {
	h.t.Helper()
	tk, err := h.st.GetTask(context.Background(), q.Name, id)
	if err != nil {
		h.t.Fatalf("GetTask(%s): %v", id, err)
	}
	return tk
}

// hangAfter is how long a wait for an attempt or a value may take before the
// test calls it hung: generous, since CI runs on a loaded 2-core machine
// under -race, and it only bounds a failing test.
const hangAfter = time.Minute

// recv waits for a value from ch.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangAfter):
		t.Fatalf("nothing arrived within %v", hangAfter)
	}
	var zero T
	return zero
}

// readsStore reports every queue the dispatcher reads. A scheduler reads
// its queue only when told of a change, then takes one step; so the read
// after one proves that step over.
type readsStore struct {
	*sqlite.Store
	reads chan<- *cloudtaskspb.Queue
}

func (s readsStore) GetQueue(ctx context.Context, name string) (*cloudtaskspb.Queue, error) {
	q, err := s.Store.GetQueue(ctx, name)
	if err == nil {
		select {
		case s.reads <- q:
		default: // nobody is settling; settle drains what is stale
		}
	}
	return q, err
}

// settle returns once q's scheduler has seen q in state want and finished
// the step that followed.
func (h *harness) settle(q *cloudtaskspb.Queue, want cloudtaskspb.Queue_State) {
	h.t.Helper()
	for len(h.reads) > 0 {
		<-h.reads
	}
	for seen := false; ; {
		h.d.Changed(q.Name)
		for {
			got := recv(h.t, h.reads)
			if got.GetName() != q.Name {
				continue
			}
			if seen {
				return
			}
			seen = got.GetState() == want
			break
		}
	}
}

// failUntilGone follows task id through failing attempts, moving the
// clock to each retry, and checks that it ends (is deleted) at exactly
// attempt n and is then gone from the store.
func (h *harness) failUntilGone(q *cloudtaskspb.Queue, id string, n int) {
	h.t.Helper()
	for i := 1; i <= n; i++ {
		o := h.outcome()
		if o.TaskID != id || o.Deleted != (i == n) {
			h.t.Fatalf("attempt %d of %s: task %s deleted=%v, want deleted=%v", i, id, o.TaskID, o.Deleted, i == n)
		}
		if !o.Deleted {
			h.clock.Advance(o.Task.ScheduleTime.AsTime().Sub(h.now()))
			h.d.Changed(q.Name)
		}
	}
	if _, err := h.st.GetTask(h.t.Context(), q.Name, id); err == nil {
		h.t.Fatalf("task %s still stored after it ended", id)
	}
}
