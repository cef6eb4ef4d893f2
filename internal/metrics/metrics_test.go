package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ct "github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/metrics"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/postgres"
	"github.com/opentasks/opentasks/internal/store/postgres/pgtest"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

const loc = "projects/p/locations/us-central1"

// backend opens a store; reopen opens the same one again.
type backend struct {
	name string
	open func(t *testing.T) func() (store.Store, error)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) func() (store.Store, error) {
		path := filepath.Join(t.TempDir(), "tasks.db")
		return func() (store.Store, error) { return sqlite.Open(context.Background(), path) }
	}},
	{"postgres", func(t *testing.T) func() (store.Store, error) {
		url := pgtest.SchemaURL(t)
		return func() (store.Store, error) { return postgres.Open(context.Background(), url) }
	}},
}

// env is a server as serve wires it: metrics over a real store, the real
// dispatcher observed by them, the API behind server.New with the
// metrics' interceptor and /metrics, and the official clients.
type env struct {
	m        *metrics.Metrics
	url      string
	grpc     *cloudtasks.Client
	rest     *cloudtasks.Client
	outcomes chan dispatch.Outcome
	stop     func()
}

// start serves with attempt logs in JSON to logs; depths are recounted
// every hour, so that only the server's own changes move them (but on a
// cluster, startRecounting).
func start(t *testing.T, open func() (store.Store, error), logs io.Writer) *env {
	return startRecounting(t, open, logs, time.Hour)
}

func startRecounting(t *testing.T, open func() (store.Store, error), logs io.Writer, recount time.Duration) *env {
	t.Helper()
	ctx := context.Background()
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil)), JSONLogs: true, Recount: recount})
	wrapped, err := m.Wrap(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{m: m, outcomes: make(chan dispatch.Outcome, 100)}
	d := dispatch.New(wrapped, dispatch.Config{Observer: m, OnComplete: func(o dispatch.Outcome) { e.outcomes <- o }})
	m.WatchDispatcher(d.Backlog)
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := server.New(ct.New(wrapped, ct.Config{Dispatcher: d}),
		server.WithUnaryInterceptor(m.UnaryInterceptor()), server.WithHandler("GET /metrics", m.Handler()))
	ts := httptest.NewUnstartedServer(h)
	ts.Config = server.NewHTTPServer(h)
	ts.Start()
	e.url = ts.URL
	e.grpc, err = cloudtasks.NewClient(ctx, option.WithEndpoint(strings.TrimPrefix(ts.URL, "http://")), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	e.rest, err = cloudtasks.NewRESTClient(ctx, option.WithEndpoint(ts.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			e.grpc.Close()
			e.rest.Close()
			ts.Close()
			d.Stop()
			st.Close()
		})
	}
	t.Cleanup(e.stop)
	return e
}

// target answers each task by its path: /ok 200, /fail 500, /busy 429.
func target(t *testing.T) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(200)
		case "/fail":
			w.WriteHeader(500)
		case "/busy":
			w.WriteHeader(429)
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func task(queue, id, url string) *cloudtaskspb.CreateTaskRequest {
	return &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: &cloudtaskspb.Task{
		Name:        queue + "/tasks/" + id,
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: url}},
	}}
}

// series returns the metric families gathered now, by name.
func series(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// find returns the metric of family name whose labels include want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		n := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				n++
			}
		}
		if n == len(want) {
			return m
		}
	}
	return nil
}

// value is the value of a gauge or counter, -1 when the series is absent.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := find(fams, name, labels)
	switch {
	case m == nil:
		return -1
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	default:
		return m.GetCounter().GetValue()
	}
}

// waitDepth waits until the queue's depth is reported as want: on a
// cluster a node reports a queue's depth once it owns the queue, which it
// learns in its own time.
func waitDepth(t *testing.T, m *metrics.Metrics, queue string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := value(series(t, m), "opentasks_queue_depth", map[string]string{"queue": queue})
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("opentasks_queue_depth{queue=%q} = %v, want %v", queue, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSeries(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open := b.open(t)
			e := start(t, open, io.Discard)
			ctx := t.Context()
			url := target(t)

			// live delivers at once; one attempt each, so a failure ends its task.
			live := loc + "/queues/live"
			if _, err := e.grpc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{
				Name: live, RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 1}}}); err != nil {
				t.Fatal(err)
			}
			// held is paused: its tasks wait, but for RunTask.
			held := loc + "/queues/held"
			if _, err := e.rest.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{Name: held}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.rest.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: held}); err != nil {
				t.Fatal(err)
			}
			waitDepth(t, e.m, live, 0)
			waitDepth(t, e.m, held, 0)

			for id, path := range map[string]string{"a": "/ok", "b": "/ok", "c": "/fail", "d": "/busy"} {
				if _, err := e.grpc.CreateTask(ctx, task(live, id, url+path)); err != nil {
					t.Fatal(err)
				}
			}
			for range 4 {
				<-e.outcomes
			}
			for _, id := range []string{"1", "2", "3", "4", "5"} {
				if _, err := e.rest.CreateTask(ctx, task(held, id, url+"/ok")); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.grpc.CreateTask(ctx, task(loc+"/queues/missing", "x", url+"/ok")); err == nil {
				t.Fatal("CreateTask in a missing queue succeeded")
			}
			waitDepth(t, e.m, held, 5)
			if err := e.rest.DeleteTask(ctx, &cloudtaskspb.DeleteTaskRequest{Name: held + "/tasks/1"}); err != nil {
				t.Fatal(err)
			}
			if err := e.rest.DeleteTask(ctx, &cloudtaskspb.DeleteTaskRequest{Name: held + "/tasks/1"}); err == nil {
				t.Fatal("deleting a deleted task succeeded")
			}
			waitDepth(t, e.m, held, 4)
			if _, err := e.grpc.RunTask(ctx, &cloudtaskspb.RunTaskRequest{Name: held + "/tasks/2"}); err != nil {
				t.Fatal(err)
			}
			if o := <-e.outcomes; o.TaskID != "2" || !o.Deleted {
				t.Fatalf("RunTask's outcome: %+v", o)
			}
			waitDepth(t, e.m, held, 3)
			if _, err := e.grpc.PurgeQueue(ctx, &cloudtaskspb.PurgeQueueRequest{Name: held}); err != nil {
				t.Fatal(err)
			}
			waitDepth(t, e.m, held, 0)
			for _, id := range []string{"6", "7"} {
				if _, err := e.grpc.CreateTask(ctx, task(held, id, url+"/ok")); err != nil {
					t.Fatal(err)
				}
			}
			waitDepth(t, e.m, held, 2)
			waitDepth(t, e.m, live, 0)

			fams := series(t, e.m)
			for _, c := range []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{"opentasks_task_attempts_total", map[string]string{"queue": live, "response_code": "ok"}, 2},
				{"opentasks_task_attempts_total", map[string]string{"queue": live, "response_code": "internal"}, 1},
				{"opentasks_task_attempts_total", map[string]string{"queue": live, "response_code": "resource_exhausted"}, 1},
				{"opentasks_task_attempts_total", map[string]string{"queue": held, "response_code": "ok"}, 1},
				{"opentasks_task_attempts_in_flight", map[string]string{"queue": live}, 0},
				{"opentasks_api_requests_total", map[string]string{"method": "CreateQueue", "code": "ok"}, 2},
				{"opentasks_api_requests_total", map[string]string{"method": "CreateTask", "code": "ok"}, 11},
				{"opentasks_api_requests_total", map[string]string{"method": "CreateTask", "code": "not_found"}, 1},
				{"opentasks_api_requests_total", map[string]string{"method": "DeleteTask", "code": "ok"}, 1},
				{"opentasks_api_requests_total", map[string]string{"method": "DeleteTask", "code": "not_found"}, 1},
				{"opentasks_api_requests_total", map[string]string{"method": "RunTask", "code": "ok"}, 1},
				{"opentasks_api_requests_total", map[string]string{"method": "PurgeQueue", "code": "ok"}, 1},
				{"opentasks_queue_depth", map[string]string{"queue": loc + "/queues/missing"}, -1},
				{"opentasks_dispatch_outcomes_pending", nil, 0},
			} {
				if got := value(fams, c.name, c.labels); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				}
			}
			h := find(fams, "opentasks_task_attempt_delay_seconds", map[string]string{"queue": live}).GetHistogram()
			if h.GetSampleCount() != 4 || h.GetSampleSum() < 0 {
				t.Errorf("attempt delays of %s: %d samples, sum %v; want 4", live, h.GetSampleCount(), h.GetSampleSum())
			}
			for _, name := range []string{"opentasks_store_write_seconds", "go_goroutines", "process_cpu_seconds_total"} {
				if fams[name] == nil {
					t.Errorf("no %s series", name)
				}
			}
			st := e.m.QueueStats(live)
			if st.Depth != 0 || st.InFlight != 0 || st.AttemptsLastMinute != 4 || st.FailuresLastMinute != 2 ||
				len(st.Deliveries) != 60 || st.Deliveries[59]+st.Deliveries[58] != 4 {
				t.Errorf("QueueStats(%s) = %+v", live, st)
			}
			if got := e.m.TaskAttempts(live + "/tasks/c"); len(got) != 1 || got[0].HTTPStatus != 500 || got[0].Status() != "INTERNAL" ||
				!strings.HasPrefix(got[0].String(), "attempt 1: HTTP 500 (INTERNAL) in ") {
				t.Errorf("TaskAttempts(c) = %+v (%v)", got, got)
			}

			// The endpoint serves the same in Prometheus' text format.
			resp, err := http.Get(e.url + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if line := `opentasks_queue_depth{queue="` + held + `"} 2`; !strings.Contains(string(body), line+"\n") {
				t.Errorf("GET /metrics lacks %q:\n%s", line, body)
			}

			// A restart counts the depths again from the store.
			e.stop()
			e = start(t, open, io.Discard)
			waitDepth(t, e.m, held, 2)
			waitDepth(t, e.m, live, 0)
			if got := e.m.QueueStats(held).Depth; got != 2 {
				t.Errorf("QueueStats(held).Depth after restart = %d, want 2", got)
			}

			// A deleted queue's series go.
			if err := e.grpc.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: held}); err != nil {
				t.Fatal(err)
			}
			if got := value(series(t, e.m), "opentasks_queue_depth", map[string]string{"queue": held}); got != -1 {
				t.Errorf("depth of a deleted queue = %v, want no series", got)
			}
		})
	}
}

func TestAttemptLogs(t *testing.T) {
	// The logger's handler serialises its writes, and logs is read after
	// the server stopped.
	var logs strings.Builder
	e := start(t, backends[0].open(t), &logs)
	ctx := t.Context()
	url := target(t)
	sampled, unsampled := loc+"/queues/sampled", loc+"/queues/unsampled"
	for name, ratio := range map[string]float64{sampled: 1, unsampled: 0} {
		if _, err := e.grpc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{
			Name:                     name,
			RetryConfig:              &cloudtaskspb.RetryConfig{MaxAttempts: 1},
			StackdriverLoggingConfig: &cloudtaskspb.StackdriverLoggingConfig{SamplingRatio: ratio},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{sampled, unsampled} {
		for _, id := range []string{"ok", "fail"} {
			if _, err := e.grpc.CreateTask(ctx, task(q, id, url+"/"+id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 4 {
		<-e.outcomes
	}
	e.stop()

	type entry struct {
		Level    string `json:"level"`
		Msg      string `json:"msg"`
		LogName  string `json:"logName"`
		Resource struct {
			Type   string            `json:"type"`
			Labels map[string]string `json:"labels"`
		} `json:"resource"`
		Payload struct {
			Type     string         `json:"@type"`
			Task     string         `json:"task"`
			Response map[string]any `json:"attemptResponseLog"`
		} `json:"jsonPayload"`
	}
	got := map[string]entry{}
	for line := range strings.Lines(logs.String()) {
		var x entry
		if err := json.Unmarshal([]byte(line), &x); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if x.Msg == "task attempt" {
			got[x.Payload.Task] = x
		}
	}
	if len(got) != 2 {
		t.Fatalf("attempt log lines for %d tasks, want the 2 of the sampled queue:\n%s", len(got), logs.String())
	}
	for id, want := range map[string]struct{ level, status string }{"ok": {"INFO", "OK"}, "fail": {"ERROR", "INTERNAL"}} {
		x, ok := got[sampled+"/tasks/"+id]
		if !ok {
			t.Fatalf("no attempt log line for task %s:\n%s", id, logs.String())
		}
		r := x.Payload.Response
		if x.Level != want.level || r["status"] != want.status || x.LogName != "projects/p/logs/cloudtasks.googleapis.com%2Ftask_operations_log" ||
			x.Resource.Type != "cloud_tasks_queue" || x.Resource.Labels["queue_id"] != "sampled" || x.Resource.Labels["target_type"] != "HTTP" ||
			x.Payload.Type != "type.googleapis.com/google.cloud.tasks.logging.v1.TaskActivityLog" ||
			r["dispatchCount"] != "1" || r["responseCount"] != "1" || r["targetAddress"] != "POST "+url+"/"+id ||
			!strings.HasSuffix(r["attemptDuration"].(string), "s") || r["dispatchTime"] == nil || r["responseTime"] == nil {
			t.Errorf("attempt log of %s = %+v", id, x)
		}
	}
}

// The dashboard and the docs name only series the server exports.
func TestDocsNameRealSeries(t *testing.T) {
	e := start(t, backends[0].open(t), io.Discard)
	ctx := t.Context()
	q := loc + "/queues/q"
	if _, err := e.grpc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{Name: q}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.grpc.CreateTask(ctx, task(q, "t", target(t)+"/ok")); err != nil {
		t.Fatal(err)
	}
	<-e.outcomes
	fams := series(t, e.m)
	name := regexp.MustCompile(`opentasks_[a-z_]+`)
	for _, doc := range []string{"../../docs/grafana-dashboard.json", "../../docs/metrics.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range name.FindAllString(string(b), -1) {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				base = strings.TrimSuffix(base, suffix)
			}
			if fams[n] == nil && fams[base] == nil {
				t.Errorf("%s names %s, which the server does not export", doc, n)
			}
		}
	}
}

// Two servers on one PostgreSQL database: each queue's depth is reported
// by the one node that owns it, so the sum over the nodes is the depth,
// whichever node the tasks were created through.
func TestClusterNodesReportWhatTheyOwn(t *testing.T) {
	open := backends[1].open(t)
	nodes := []*env{startRecounting(t, open, io.Discard, 50*time.Millisecond), startRecounting(t, open, io.Discard, 50*time.Millisecond)}
	ctx := t.Context()
	want := map[string]float64{}
	for i := range 6 {
		q := fmt.Sprintf("%s/queues/c%d", loc, i)
		// Paused, so that the depth stays as created.
		if _, err := nodes[0].grpc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{Name: q}}); err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[1].grpc.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: q}); err != nil {
			t.Fatal(err)
		}
		for j := range i {
			if _, err := nodes[j%2].grpc.CreateTask(ctx, task(q, fmt.Sprint(j), "http://127.0.0.1:1/")); err != nil {
				t.Fatal(err)
			}
		}
		want[q] = float64(i)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var problems []string
		reporters := [2]int{}
		for q, n := range want {
			var sum float64
			var by []int
			for i, e := range nodes {
				if v := value(series(t, e.m), "opentasks_queue_depth", map[string]string{"queue": q}); v >= 0 {
					sum += v
					by = append(by, i)
				}
			}
			if len(by) != 1 || sum != n {
				problems = append(problems, fmt.Sprintf("%s: reported by nodes %v, sum %v, want one node and %v", q, by, sum, n))
			} else {
				reporters[by[0]]++
			}
		}
		if len(problems) == 0 && reporters[0] > 0 && reporters[1] > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues by node %v:\n%s", reporters, strings.Join(problems, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
