package queuefile_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/queuefile"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

const parent = "projects/p/locations/us-central1"

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// TestAppEngineFields: every queue.yaml key lands in its v2 field, as
// gcloud's deployer maps it.
func TestAppEngineFields(t *testing.T) {
	src := `total_storage_limit: 120M
queue:
- name: mail
  rate: 30/m
  bucket_size: 40
  max_concurrent_requests: 7
  target: v2.worker
  retry_parameters:
    task_retry_limit: 4
    task_age_limit: 2h
    min_backoff_seconds: 0.5
    max_backoff_seconds: 120
    max_doublings: 3
- name: slow
  rate: 3/h
  max_concurrent_requests: 9000
  target: api
  retry_parameters:
    min_backoff_seconds: 7200
- name: stopped
  rate: 0
  mode: push
`
	decls, err := queuefile.Parse("queue.yaml", []byte(src), parent)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		q      *cloudtaskspb.Queue
		burst  int32
		state  cloudtaskspb.Queue_State
		source string
	}{
		{&cloudtaskspb.Queue{
			Name:                     parent + "/queues/mail",
			RateLimits:               &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 0.5, MaxConcurrentDispatches: 7},
			RetryConfig:              &cloudtaskspb.RetryConfig{MaxAttempts: 5, MaxRetryDuration: dur(2 * time.Hour), MinBackoff: dur(500 * time.Millisecond), MaxBackoff: dur(120 * time.Second), MaxDoublings: 3},
			AppEngineRoutingOverride: &cloudtaskspb.AppEngineRouting{Version: "v2", Service: "worker"},
		}, 40, 0, "queue.yaml:3"},
		{&cloudtaskspb.Queue{
			Name:       parent + "/queues/slow",
			RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 0.000833333, MaxConcurrentDispatches: 5000},
			// Only the minimum was given: the default maximum (3600 s)
			// would be below it, so it follows the minimum.
			RetryConfig:              &cloudtaskspb.RetryConfig{MaxAttempts: -1, MinBackoff: dur(2 * time.Hour), MaxBackoff: dur(2 * time.Hour), MaxDoublings: 16},
			AppEngineRoutingOverride: &cloudtaskspb.AppEngineRouting{Service: "api"},
		}, 5, 0, "queue.yaml:14"},
		{&cloudtaskspb.Queue{
			Name:        parent + "/queues/stopped",
			RateLimits:  &cloudtaskspb.RateLimits{MaxConcurrentDispatches: 1000},
			RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: -1, MinBackoff: dur(100 * time.Millisecond), MaxBackoff: dur(time.Hour), MaxDoublings: 16},
		}, 5, cloudtaskspb.Queue_PAUSED, "queue.yaml:20"},
		{&cloudtaskspb.Queue{
			Name:        parent + "/queues/default",
			RateLimits:  &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 5, MaxConcurrentDispatches: 1000},
			RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: -1, MinBackoff: dur(100 * time.Millisecond), MaxBackoff: dur(time.Hour), MaxDoublings: 16},
		}, 5, 0, "queue.yaml (implied queue default)"},
	}
	if len(decls) != len(want) {
		t.Fatalf("got %d declarations, want %d", len(decls), len(want))
	}
	for i, w := range want {
		d := decls[i]
		if !proto.Equal(w.q, d.Queue) {
			t.Errorf("queue %d:\n got %v\nwant %v", i, d.Queue, w.q)
		}
		if d.Burst != w.burst || d.State != w.state || d.Source != w.source {
			t.Errorf("queue %d: burst %d state %v source %q, want %d %v %q", i, d.Burst, d.State, d.Source, w.burst, w.state, w.source)
		}
	}
}

// TestAppEngineDefaultConfigured: a file that configures "default" gets no
// second one.
func TestAppEngineDefaultConfigured(t *testing.T) {
	decls, err := queuefile.Parse("q.yaml", []byte("queue:\n- name: default\n  rate: 1/s\n"), parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(decls) != 1 || decls[0].Queue.RateLimits.MaxDispatchesPerSecond != 1 {
		t.Fatalf("got %v", decls)
	}
}

// TestResourceFields: Queue resources in YAML (proto or JSON names) and
// JSON, each field read.
func TestResourceFields(t *testing.T) {
	yamlSrc := `- name: projects/p/locations/europe-west1/queues/a
  rateLimits: {maxDispatchesPerSecond: 2.5, maxConcurrentDispatches: 3}
  retry_config:
    max_attempts: 4
    min_backoff: 1s
    max_backoff: 10s
    max_doublings: 2
    max_retry_duration: 600s
  appEngineRoutingOverride: {service: s, version: v, instance: i}
  stackdriverLoggingConfig: {samplingRatio: 0.25}
  httpTarget:
    uriOverride: {scheme: HTTP, host: fn.local, port: "5001", pathOverride: {path: /p/us-central1/fn}}
    httpMethod: PUT
    headerOverrides: [{header: {key: X-A, value: b}}]
    oidcToken: {serviceAccountEmail: sa@x.iam.gserviceaccount.com, audience: aud}
  state: PAUSED
`
	jsonSrc := `{"queues": [
  {"name": "projects/p/locations/europe-west1/queues/a",
   "rateLimits": {"maxDispatchesPerSecond": 2.5, "maxConcurrentDispatches": 3},
   "retryConfig": {"maxAttempts": 4, "minBackoff": "1s", "maxBackoff": "10s", "maxDoublings": 2, "maxRetryDuration": "600s"},
   "appEngineRoutingOverride": {"service": "s", "version": "v", "instance": "i"},
   "stackdriverLoggingConfig": {"samplingRatio": 0.25},
   "httpTarget": {"uriOverride": {"scheme": "HTTP", "host": "fn.local", "port": "5001", "pathOverride": {"path": "/p/us-central1/fn"}},
                  "httpMethod": "PUT", "headerOverrides": [{"header": {"key": "X-A", "value": "b"}}],
                  "oidcToken": {"serviceAccountEmail": "sa@x.iam.gserviceaccount.com", "audience": "aud"}},
   "state": "PAUSED"}
]}`
	port := int64(5001)
	host := "fn.local"
	want := &cloudtaskspb.Queue{
		Name:                     "projects/p/locations/europe-west1/queues/a",
		RateLimits:               &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 2.5, MaxConcurrentDispatches: 3},
		RetryConfig:              &cloudtaskspb.RetryConfig{MaxAttempts: 4, MinBackoff: dur(time.Second), MaxBackoff: dur(10 * time.Second), MaxDoublings: 2, MaxRetryDuration: dur(10 * time.Minute)},
		AppEngineRoutingOverride: &cloudtaskspb.AppEngineRouting{Service: "s", Version: "v", Instance: "i"},
		StackdriverLoggingConfig: &cloudtaskspb.StackdriverLoggingConfig{SamplingRatio: 0.25},
		HttpTarget: &cloudtaskspb.HttpTarget{
			UriOverride:     &cloudtaskspb.UriOverride{Scheme: cloudtaskspb.UriOverride_HTTP.Enum(), Host: &host, Port: &port, PathOverride: &cloudtaskspb.PathOverride{Path: "/p/us-central1/fn"}},
			HttpMethod:      cloudtaskspb.HttpMethod_PUT,
			HeaderOverrides: []*cloudtaskspb.HttpTarget_HeaderOverride{{Header: &cloudtaskspb.HttpTarget_Header{Key: "X-A", Value: "b"}}},
			AuthorizationHeader: &cloudtaskspb.HttpTarget_OidcToken{OidcToken: &cloudtaskspb.OidcToken{
				ServiceAccountEmail: "sa@x.iam.gserviceaccount.com", Audience: "aud"}},
		},
	}
	for name, src := range map[string]string{"queues.yaml": yamlSrc, "queues.json": jsonSrc} {
		decls, err := queuefile.Parse(name, []byte(src), parent)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(decls) != 1 {
			t.Fatalf("%s: %d declarations", name, len(decls))
		}
		if !proto.Equal(want, decls[0].Queue) {
			t.Errorf("%s:\n got %v\nwant %v", name, decls[0].Queue, want)
		}
		if decls[0].State != cloudtaskspb.Queue_PAUSED || decls[0].Source != name+":"+map[string]string{"queues.yaml": "1", "queues.json": "2"}[name] {
			t.Errorf("%s: state %v source %q", name, decls[0].State, decls[0].Source)
		}
	}
}

// TestBadLines: each mistake is reported at its own line.
func TestBadLines(t *testing.T) {
	cases := []struct{ src, want string }{
		{"queue:\n- name: a\n  rate: 5/s\n- name: b\n  rate: fast\n", "q.yaml:5: rate \"fast\""},
		{"queue:\n- name: a\n  rate: 600/s\n", "q.yaml:3: rate \"600/s\" is above"},
		{"queue:\n- name: a\n  rate: 1/s\n  bucket_size: 501\n", "q.yaml:4: bucket_size 501"},
		{"queue:\n- name: a\n  rate: 1/s\n  retry_parameters:\n    task_retry_limit: -1\n", "q.yaml:5: task_retry_limit -1"},
		{"queue:\n- name: a\n  rate: 1/s\n  retry_parameters:\n    task_age_limit: 0s\n", "q.yaml:5: task_age_limit"},
		{"queue:\n- name: a\n  rate: 1/s\n  retry_parameters:\n    min_backoff_seconds: 9\n    max_backoff_seconds: 2\n", "q.yaml:5: min_backoff_seconds is above"},
		{"queue:\n- name: a\n  rate: 1/s\n  retry_parameters:\n    max_doublings: -2\n", "q.yaml:5: max_doublings -2"},
		{"queue:\n- name: a\n  rate: 1/s\n  colour: red\n", "q.yaml:4: unknown queue key \"colour\""},
		{"queue:\n- name: a\n  mode: pull\n", "q.yaml:3: queue \"a\" is a pull queue"},
		{"queue:\n- name: a_b\n  rate: 1/s\n", "q.yaml:2: queue name \"a_b\""},
		{"queue:\n- name: a\n", "q.yaml:2: queue \"a\" has no rate"},
		{"queue:\n- name: a\n  rate: 1/s\n- name: a\n  rate: 2/s\n", "q.yaml:4: queue \"projects/p/locations/us-central1/queues/a\" is already declared at q.yaml:2"},
		{"queue:\n- name: a\n  rate: 1/s\n  target: a.b.c\n", "q.yaml:4: target \"a.b.c\""},
		{"queue:\n- name: a\n  rate: [1\n", "q.yaml:3:"},
		{"- name: projects/p/locations/l/queues/a\n- name: projects/p/locations/l/queues/b\n  rateLimits: {maxDispatchesPerSecond: 1}\n  retryConfig: {maxAttempts: many}\n", "q.yaml:4: not a Cloud Tasks Queue"},
		{"- name: projects/p/locations/l/queues/a\n  colour: red\n", "q.yaml:2: not a Cloud Tasks Queue"},
		{"- rateLimits: {maxDispatchesPerSecond: 1}\n", "q.yaml:1: queue without a name"},
		{"{\"queues\": [\n {\"name\": \"projects/p/locations/l/queues/a\"},\n {\"name\": \"projects/p/locations/l/queues/a\"}]}\n", "q.yaml:3: queue \"projects/p/locations/l/queues/a\" is already declared at q.yaml:2"},
		{"hello: world\n", "q.yaml:1: neither a queue.yaml"},
	}
	for _, c := range cases {
		_, err := queuefile.Parse("q.yaml", []byte(c.src), parent)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s...", c.src, err, c.want)
		}
	}
}

func newService(t *testing.T, path string) *cloudtasks.Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return cloudtasks.New(st, cloudtasks.Config{})
}

// TestApplyTwice: a second start with a changed rate updates the queue and
// keeps its tasks, its pause made through the API, and queues the file
// does not name.
func TestApplyTwice(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "db")
	file := filepath.Join(t.TempDir(), "queue.yaml")
	write := func(rate string) {
		src := "queue:\n- name: mail\n  rate: " + rate + "\n  bucket_size: 40\n  retry_parameters:\n    task_retry_limit: 2\n"
		if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Each start is a restart: the store of the one before is closed
	// first, as its process would be gone (one process per SQLite file).
	var prev *sqlite.Store
	t.Cleanup(func() {
		if prev != nil {
			prev.Close()
		}
	})
	start := func() ([]*cloudtaskspb.Queue, *cloudtasks.Service) {
		if prev != nil {
			prev.Close()
		}
		st, err := sqlite.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		prev = st
		svc := cloudtasks.New(st, cloudtasks.Config{})
		decls, err := queuefile.ReadFile(file, parent)
		if err != nil {
			t.Fatal(err)
		}
		qs, err := queuefile.Apply(ctx, svc, decls)
		if err != nil {
			t.Fatal(err)
		}
		return qs, svc
	}

	write("10/s")
	qs, svc := start()
	mail := parent + "/queues/mail"
	if len(qs) != 2 || qs[0].Name != mail || qs[1].Name != parent+"/queues/default" {
		t.Fatalf("queues %v", qs)
	}
	if rl := qs[0].RateLimits; rl.MaxDispatchesPerSecond != 10 || rl.MaxBurstSize != 40 || qs[0].RetryConfig.MaxAttempts != 3 {
		t.Fatalf("first start: %v", qs[0])
	}
	task, err := svc.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: mail, Task: &cloudtaskspb.Task{
		ScheduleTime: nil,
		MessageType:  &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: "http://127.0.0.1:1/x"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: mail}); err != nil {
		t.Fatal(err)
	}
	other := &cloudtaskspb.Queue{Name: parent + "/queues/api-made"}
	if _, err := svc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: other}); err != nil {
		t.Fatal(err)
	}

	write("20/s")
	qs, svc = start()
	if rl := qs[0].RateLimits; rl.MaxDispatchesPerSecond != 20 || rl.MaxBurstSize != 40 {
		t.Fatalf("second start: %v", qs[0])
	}
	if qs[0].State != cloudtaskspb.Queue_PAUSED {
		t.Errorf("second start resumed the queue paused through the API: %v", qs[0].State)
	}
	got, err := svc.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: task.Name})
	if err != nil || !proto.Equal(got, task) {
		t.Errorf("task after the second start: %v, %v; want %v", got, err, task)
	}
	if _, err := svc.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: other.Name}); err != nil {
		t.Errorf("queue made through the API: %v", err)
	}
}

// TestApplyStateAndErrors: rate 0 pauses; a refusal names FILE:LINE.
func TestApplyStateAndErrors(t *testing.T) {
	ctx := context.Background()
	svc := newService(t, filepath.Join(t.TempDir(), "db"))
	decls, err := queuefile.Parse("q.yaml", []byte("queue:\n- name: held\n  rate: 0\n"), parent)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := queuefile.Apply(ctx, svc, decls)
	if err != nil {
		t.Fatal(err)
	}
	if qs[0].State != cloudtaskspb.Queue_PAUSED {
		t.Errorf("rate 0: state %v", qs[0].State)
	}
	decls, err = queuefile.Parse("r.yaml", []byte("- name: projects/p/locations/l/queues/a\n- name: projects/p/locations/l/queues/b\n  rateLimits: {maxDispatchesPerSecond: 900}\n"), parent)
	if err != nil {
		t.Fatal(err)
	}
	_, err = queuefile.Apply(ctx, svc, decls)
	if want := "r.yaml:2: queue projects/p/locations/l/queues/b: RateLimits.maxDispatchesPerSecond must be less than or equal to 500."; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestEnsure: --queue creates a missing queue with defaults and leaves an
// existing one alone.
func TestEnsure(t *testing.T) {
	ctx := context.Background()
	svc := newService(t, filepath.Join(t.TempDir(), "db"))
	name := parent + "/queues/q"
	if _, err := svc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{
		Name: name, RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 3}}}); err != nil {
		t.Fatal(err)
	}
	if err := queuefile.Ensure(ctx, svc, []string{name, parent + "/queues/new"}); err != nil {
		t.Fatal(err)
	}
	q, err := svc.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: name})
	if err != nil || q.RateLimits.MaxDispatchesPerSecond != 3 {
		t.Errorf("existing queue: %v %v", q, err)
	}
	q, err = svc.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: parent + "/queues/new"})
	if err != nil || q.RateLimits.MaxDispatchesPerSecond != 500 {
		t.Errorf("new queue: %v %v", q, err)
	}
	if err := queuefile.Ensure(ctx, svc, []string{"q"}); err == nil || !strings.Contains(err.Error(), "full queue name") {
		t.Errorf("short name: %v", err)
	}
}
