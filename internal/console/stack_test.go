package console

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/metrics"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// stack is the whole server with the console on a real SQLite file: the
// API a test prepares data with, and every attempt's outcome once durable.
type stack struct {
	URL      string
	api      *cloudtasks.Service
	outcomes chan dispatch.Outcome
	console  *Console
}

// newStack starts the server; edit adjusts the console's Config. A clock
// edit sets (Config.Now) is the API's clock too, so tasks' create and
// schedule times come from it and wall time cannot matter.
func newStack(t testing.TB, edit func(*Config)) *stack {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tasks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	// The metrics as serve keeps them: around the store and watching the
	// dispatcher.
	m := metrics.New(metrics.Config{})
	st, err := m.Wrap(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{outcomes: make(chan dispatch.Outcome, 1024)}
	disp := dispatch.New(st, dispatch.Config{
		Deliver:  deliver.New(deliver.Config{}),
		Observer: m,
		OnComplete: func(o dispatch.Outcome) {
			select {
			case s.outcomes <- o:
			default:
			}
		},
	})
	if err := disp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(disp.Stop)
	clock := time.Now
	s.api = cloudtasks.New(st, cloudtasks.Config{Dispatcher: disp, Now: func() time.Time { return clock() }})
	cfg := Config{API: s.api, Locations: s.api, Parents: ParentsOf(st.AllQueues), Metrics: m}
	if edit != nil {
		edit(&cfg)
	}
	if cfg.Now != nil {
		clock = cfg.Now
	}
	if s.console, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(s.api, server.WithHandler(Prefix, s.console)))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// queue creates a queue through the API.
func (s *stack) queue(t testing.TB, name string, paused bool) *cloudtaskspb.Queue {
	t.Helper()
	ctx := context.Background()
	q, err := s.api.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parentOf(name), Queue: &cloudtaskspb.Queue{Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	if paused {
		if q, err = s.api.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

// task creates an HTTP task through the API.
func (s *stack) task(t testing.TB, queue string, task *cloudtaskspb.Task) *cloudtaskspb.Task {
	t.Helper()
	got, err := s.api.CreateTask(context.Background(), &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func parentOf(queue string) string {
	return queue[:len(queue)-len("/queues/")-len(lastSegment(queue))]
}

func httpTask(url string, body string) *cloudtaskspb.Task {
	return &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
		Url: url, HttpMethod: cloudtaskspb.HttpMethod_POST, Body: []byte(body),
		Headers: map[string]string{"Content-Type": "application/json"},
	}}}
}

// target is an HTTP target that answers every request with code and
// hands each request's body to the test.
func target(t *testing.T, code int) (*httptest.Server, chan string) {
	t.Helper()
	got := make(chan string, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- string(b):
		default:
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// fakeMetrics gives made-up queue figures, and the real metrics' attempts.
type fakeMetrics struct {
	Metrics
	stats func(queue string) metrics.QueueStats
}

func (f fakeMetrics) QueueStats(queue string) metrics.QueueStats { return f.stats(queue) }
