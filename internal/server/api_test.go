package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/genproto/googleapis/cloud/location"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ct "github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/postgres"
	"github.com/opentasks/opentasks/internal/store/postgres/pgtest"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// apiDispatcher is the real dispatcher (internal/dispatch) with its
// schedulers left idle: it records the changes the API reports instead of
// passing them on, since the table's other cases inspect tasks that a
// scheduler would deliver meanwhile. RunTask goes through real dispatch.
type apiDispatcher struct {
	*dispatch.Dispatcher
	mu      sync.Mutex
	changed []string
}

func (d *apiDispatcher) Changed(queue string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.changed = append(d.changed, queue)
}

func (d *apiDispatcher) Scheduled(queue string, _ time.Time) { d.Changed(queue) }

func (d *apiDispatcher) sawChange(queue string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.changed, queue)
}

type apiEnv struct {
	clock *storetest.Clock
	disp  *apiDispatcher
	// target is the HTTP target RunTask delivers to; it sends what it
	// receives on received and waits for a status on answer.
	target   *httptest.Server
	received chan *http.Request
	answer   chan int
	// outcomes has each attempt's outcome once it is durable.
	outcomes chan dispatch.Outcome
	// clients by transport: "grpc" and "rest".
	clients map[string]*cloudtasks.Client
}

// apiBackend opens a fresh store of one backend on the given clock.
type apiBackend struct {
	name string
	open func(t *testing.T, now func() time.Time) (store.Store, error)
}

// apiBackends are the stores every case runs against; PostgreSQL's skips
// unless OPENTASKS_TEST_POSTGRES is set.
var apiBackends = []apiBackend{
	{"sqlite", func(t *testing.T, now func() time.Time) (store.Store, error) {
		return sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "opentasks.db"), sqlite.WithClock(now))
	}},
	{"postgres", func(t *testing.T, now func() time.Time) (store.Store, error) {
		return postgres.Open(context.Background(), pgtest.SchemaURL(t), postgres.WithClock(now))
	}},
}

// newAPIEnv serves a real Service on a real store of backend b through
// server.New on a 127.0.0.1 listener, and returns the official client over
// both transports. withDispatcher false leaves Config.Dispatcher nil.
func newAPIEnv(t *testing.T, b apiBackend, withDispatcher bool) *apiEnv {
	t.Helper()
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC))
	st, err := b.open(t, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &apiEnv{clock: clock}
	cfg := ct.Config{Now: clock.Now}
	if withDispatcher {
		e.received, e.answer, e.outcomes = make(chan *http.Request, 10), make(chan int), make(chan dispatch.Outcome, 10)
		quit := make(chan struct{})
		e.target = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			e.received <- r
			select {
			case s := <-e.answer:
				w.WriteHeader(s)
			case <-quit:
			}
		}))
		t.Cleanup(e.target.Close)
		// Hiding a shared store's cluster role keeps schedulers from
		// starting on their own (see apiDispatcher).
		d := dispatch.New(struct{ store.Store }{st}, dispatch.Config{Now: clock.Now,
			OnComplete: func(o dispatch.Outcome) { e.outcomes <- o }})
		if err := d.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Stop)
		t.Cleanup(func() { close(quit) })
		e.disp = &apiDispatcher{Dispatcher: d}
		cfg.Dispatcher = e.disp
	}
	h := server.New(ct.New(st, cfg))
	ts := httptest.NewUnstartedServer(h)
	ts.Config = server.NewHTTPServer(h)
	ts.Start()
	t.Cleanup(ts.Close)

	e.clients = dialClients(t, ts.URL)
	return e
}

// apiCase is one row of the table: it runs against one client and makes
// its own assertions. Each case works in its own project, so cases share
// a server without seeing each other's queues.
type apiCase struct {
	name string
	run  func(t *testing.T, x *apiCtx)
}

type apiCtx struct {
	*apiEnv
	ctx context.Context // from caseContext
	c   *cloudtasks.Client
	// loc is the case's location: projects/<case>/locations/us-central1.
	loc string
}

// caseContext bounds a case's calls: a hung RPC fails the case with
// DeadlineExceeded instead of stalling the run.
func caseContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (x *apiCtx) queueName(id string) string { return x.loc + "/queues/" + id }

// mkQueue creates a queue with the defaults and returns its name.
func (x *apiCtx) mkQueue(t *testing.T, id string) string {
	t.Helper()
	q, err := x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc, Queue: &cloudtaskspb.Queue{Name: x.queueName(id)}})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", id, err)
	}
	return q.Name
}

func httpTask(name, url string, body []byte) *cloudtaskspb.Task {
	return &cloudtaskspb.Task{Name: name, MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: url, Body: body}}}
}

func (x *apiCtx) mkTask(t *testing.T, queue, id string, body []byte) *cloudtaskspb.Task {
	t.Helper()
	name := ""
	if id != "" {
		name = queue + "/tasks/" + id
	}
	task, err := x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: httpTask(name, "https://example.com/h", body)})
	if err != nil {
		t.Fatalf("CreateTask %s: %v", id, err)
	}
	return task
}

// apiHTTPStatus is the canonical code to HTTP status table (spec 9.3).
var apiHTTPStatus = map[codes.Code]int{
	codes.InvalidArgument: 400, codes.FailedPrecondition: 400, codes.NotFound: 404, codes.PermissionDenied: 403,
	codes.AlreadyExists: 409, codes.Aborted: 409, codes.Unimplemented: 501, codes.Internal: 500,
}

// wantErr fails unless err carries code and, when msg is not empty, exactly
// msg; help, when not empty, is the expected google.rpc.Help description,
// and when empty there must be no details at all.
func wantErr(t *testing.T, err error, code codes.Code, msg, help string) {
	t.Helper()
	var ae *apierror.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an APIError; want %v %q", err, code, msg)
	}
	st := ae.GRPCStatus()
	gotCode := st.Code()
	var herr *googleapi.Error
	if errors.As(err, &herr) {
		// REST: the client derives a code from the HTTP status alone, so
		// check the HTTP status and the body's canonical status name.
		var body struct {
			Error struct{ Status string }
		}
		if jerr := json.Unmarshal([]byte(herr.Body), &body); jerr != nil {
			t.Fatalf("REST error body %q: %v", herr.Body, jerr)
		}
		if herr.Code != apiHTTPStatus[code] || body.Error.Status != rpccode.Code(code).String() {
			t.Fatalf("REST error = HTTP %d %s %q; want HTTP %d %s", herr.Code, body.Error.Status, st.Message(), apiHTTPStatus[code], rpccode.Code(code))
		}
		gotCode = code
	}
	if gotCode != code || (msg != "" && st.Message() != msg) {
		t.Fatalf("status = %v %q; want %v %q", gotCode, st.Message(), code, msg)
	}
	if help == "" {
		// Details only where the spec or a recording shows them.
		if d := detailsOf(ae); len(d) != 0 {
			t.Fatalf("details %v; want none", d)
		}
	} else {
		links := ae.Details().Help.GetLinks()
		if len(links) != 1 || links[0].GetDescription() != help || !strings.HasPrefix(links[0].GetUrl(), "https://cloud.google.com/tasks/docs/reference/rest/v2/") {
			t.Fatalf("Help detail = %v; want %q", ae.Details().Help, help)
		}
	}
}

func wantProto(t *testing.T, what string, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("%s =\n  %v\nwant\n  %v", what, got, want)
	}
}

const (
	msgQueueNotFound = "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize."
	msgNotFound      = "Requested entity was not found."
	msgQueueFormat   = `Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".`
)

func defaultQueue(name string) *cloudtaskspb.Queue {
	return &cloudtaskspb.Queue{
		Name:        name,
		RateLimits:  &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 500, MaxBurstSize: 100, MaxConcurrentDispatches: 1000},
		RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 100, MinBackoff: durationpb.New(100 * time.Millisecond), MaxBackoff: durationpb.New(time.Hour), MaxDoublings: 16},
		State:       cloudtaskspb.Queue_RUNNING,
	}
}

// pages lists every queue page of req with page size n and returns the
// names per page.
func queuePages(t *testing.T, x *apiCtx, req *cloudtaskspb.ListQueuesRequest, n int) [][]string {
	t.Helper()
	var pages [][]string
	p := iterator.NewPager(x.c.ListQueues(x.ctx, req), n, "")
	for {
		var qs []*cloudtaskspb.Queue
		tok, err := p.NextPage(&qs)
		if err != nil {
			t.Fatalf("ListQueues page %d: %v", len(pages), err)
		}
		var names []string
		for _, q := range qs {
			names = append(names, q.Name[strings.LastIndex(q.Name, "/")+1:])
		}
		pages = append(pages, names)
		if tok == "" {
			return pages
		}
	}
}

var apiCases = []apiCase{
	{"CreateQueueDefaults", func(t *testing.T, x *apiCtx) {
		name := x.queueName("q")
		q, err := x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc, Queue: &cloudtaskspb.Queue{Name: name}})
		if err != nil {
			t.Fatal(err)
		}
		wantProto(t, "CreateQueue", q, defaultQueue(name))
		got, err := x.c.GetQueue(x.ctx, &cloudtaskspb.GetQueueRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		wantProto(t, "GetQueue", got, defaultQueue(name))
	}},
	{"CreateQueuePartialConfigIgnoresOutputOnly", func(t *testing.T, x *apiCtx) {
		name := x.queueName("q")
		q, err := x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc, Queue: &cloudtaskspb.Queue{
			Name:       name,
			State:      cloudtaskspb.Queue_PAUSED,
			PurgeTime:  timestamppb.Now(),
			RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 3.5, MaxConcurrentDispatches: 5, MaxBurstSize: -7},
		}})
		if err != nil {
			t.Fatal(err)
		}
		want := defaultQueue(name)
		want.RateLimits = &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 3.5, MaxBurstSize: 4, MaxConcurrentDispatches: 5}
		wantProto(t, "CreateQueue", q, want)
	}},
	{"CreateQueueErrors", func(t *testing.T, x *apiCtx) {
		name := x.mkQueue(t, "q")
		_, err := x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc, Queue: &cloudtaskspb.Queue{Name: name}})
		wantErr(t, err, codes.AlreadyExists, "Queue already exists", "")
		_, err = x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc, Queue: &cloudtaskspb.Queue{Name: x.queueName("bad_id")}})
		wantErr(t, err, codes.InvalidArgument, msgQueueFormat, "Definition of queue name")
		_, err = x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc})
		wantErr(t, err, codes.InvalidArgument, msgQueueFormat, "Definition of queue name")
		other := "projects/elsewhere/locations/us-east1/queues/q"
		_, err = x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc, Queue: &cloudtaskspb.Queue{Name: other}})
		wantErr(t, err, codes.InvalidArgument, other+" must begin with "+x.loc+".", "")
		for _, c := range []struct {
			q   *cloudtaskspb.Queue
			msg string
		}{
			{&cloudtaskspb.Queue{RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: -1}}, "RateLimits.maxDispatchesPerSecond cannot be negative."},
			{&cloudtaskspb.Queue{RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 500.5}}, "RateLimits.maxDispatchesPerSecond must be less than or equal to 500."},
			{&cloudtaskspb.Queue{RateLimits: &cloudtaskspb.RateLimits{MaxConcurrentDispatches: -1}}, "RateLimits.maxConcurrentDispatches cannot be negative."},
			{&cloudtaskspb.Queue{RateLimits: &cloudtaskspb.RateLimits{MaxConcurrentDispatches: 5001}}, "RateLimits.maxConcurrentDispatches must be less than or equal to 5000."},
			{&cloudtaskspb.Queue{RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: -2}}, "RetryConfig.maxAttempts must be greater or equal to -1."},
			{&cloudtaskspb.Queue{RetryConfig: &cloudtaskspb.RetryConfig{MaxDoublings: -1}}, "RetryConfig.maxDoublings cannot be negative."},
			{&cloudtaskspb.Queue{RetryConfig: &cloudtaskspb.RetryConfig{MinBackoff: durationpb.New(-time.Second)}}, "RetryConfig.minBackoff cannot be negative."},
			{&cloudtaskspb.Queue{RetryConfig: &cloudtaskspb.RetryConfig{MinBackoff: durationpb.New(10 * time.Second), MaxBackoff: durationpb.New(5 * time.Second)}},
				"RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff."},
		} {
			c.q.Name = x.queueName("config")
			_, err := x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc, Queue: c.q})
			wantErr(t, err, codes.InvalidArgument, c.msg, "")
		}
	}},
	{"GetQueueErrors", func(t *testing.T, x *apiCtx) {
		_, err := x.c.GetQueue(x.ctx, &cloudtaskspb.GetQueueRequest{Name: x.queueName("missing")})
		wantErr(t, err, codes.NotFound, msgQueueNotFound, "")
		_, err = x.c.GetQueue(x.ctx, &cloudtaskspb.GetQueueRequest{Name: x.queueName("bad_id")})
		wantErr(t, err, codes.InvalidArgument, msgQueueFormat, "Definition of queue name")
	}},
	{"DeleteQueueTombstone", func(t *testing.T, x *apiCtx) {
		name := x.mkQueue(t, "q")
		x.mkTask(t, name, "t", nil)
		if err := x.c.DeleteQueue(x.ctx, &cloudtaskspb.DeleteQueueRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		_, err := x.c.GetQueue(x.ctx, &cloudtaskspb.GetQueueRequest{Name: name})
		wantErr(t, err, codes.NotFound, msgQueueNotFound, "")
		err = x.c.DeleteQueue(x.ctx, &cloudtaskspb.DeleteQueueRequest{Name: name})
		wantErr(t, err, codes.NotFound, msgNotFound, "")
		_, err = x.c.CreateQueue(x.ctx, &cloudtaskspb.CreateQueueRequest{Parent: x.loc, Queue: &cloudtaskspb.Queue{Name: name}})
		wantErr(t, err, codes.FailedPrecondition, "The queue cannot be created because a queue with this name existed too recently.", "")
		_, err = x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: name}})
		wantErr(t, err, codes.FailedPrecondition, "The queue cannot be created because a queue with this name existed too recently.", "")
		_, err = x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: name, Task: httpTask("", "https://example.com", nil)})
		wantErr(t, err, codes.NotFound, msgQueueNotFound, "")
		x.clock.Advance(7*24*time.Hour + time.Second)
		x.mkQueue(t, "q")
	}},
	{"UpdateQueueMask", func(t *testing.T, x *apiCtx) {
		name := x.mkQueue(t, "q")
		q, err := x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{
			Queue: &cloudtaskspb.Queue{Name: name, State: cloudtaskspb.Queue_PAUSED,
				RateLimits:  &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 20, MaxConcurrentDispatches: 1},
				RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 7}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rate_limits.max_dispatches_per_second", "retry_config.max_attempts", "state"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := defaultQueue(name)
		want.RateLimits.MaxDispatchesPerSecond, want.RateLimits.MaxBurstSize = 20, 20
		want.RetryConfig.MaxAttempts = 7
		wantProto(t, "UpdateQueue", q, want)

		// Queue-level routing on, then off with a mask naming it.
		ht := &cloudtaskspb.HttpTarget{UriOverride: &cloudtaskspb.UriOverride{Host: proto.String("example.com")}}
		q, err = x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: name, HttpTarget: ht},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"http_target"}}})
		if err != nil || !proto.Equal(q.HttpTarget, ht) {
			t.Fatalf("set http_target = %v, %v", q, err)
		}
		q, err = x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: name},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"http_target"}}})
		if err != nil || q.HttpTarget != nil || q.RateLimits.MaxDispatchesPerSecond != 20 {
			t.Fatalf("clear http_target = %v, %v", q, err)
		}

		_, err = x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: name},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"no_such_field"}}})
		wantErr(t, err, codes.InvalidArgument, `Invalid update_mask: unknown field path "no_such_field".`, "")
		_, err = x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: name, RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 501}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rate_limits"}}})
		wantErr(t, err, codes.InvalidArgument, "RateLimits.maxDispatchesPerSecond must be less than or equal to 500.", "")
		_, err = x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: x.queueName("bad_id")}})
		wantErr(t, err, codes.InvalidArgument, msgQueueFormat, "Definition of queue name")
	}},
	{"UpdateQueueEmptyMaskReplacesAndUpserts", func(t *testing.T, x *apiCtx) {
		name := x.mkQueue(t, "q")
		if _, err := x.c.PauseQueue(x.ctx, &cloudtaskspb.PauseQueueRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: name,
			RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 3, MaxRetryDuration: durationpb.New(time.Minute)}}}); err != nil {
			t.Fatal(err)
		}
		q, err := x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: name,
			RateLimits: &cloudtaskspb.RateLimits{MaxConcurrentDispatches: 2}}})
		if err != nil {
			t.Fatal(err)
		}
		want := defaultQueue(name)
		want.State = cloudtaskspb.Queue_PAUSED
		want.RateLimits.MaxConcurrentDispatches = 2
		wantProto(t, "UpdateQueue with no mask", q, want)

		created, err := x.c.UpdateQueue(x.ctx, &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: x.queueName("new")}})
		if err != nil {
			t.Fatal(err)
		}
		wantProto(t, "UpdateQueue upsert", created, defaultQueue(x.queueName("new")))
	}},
	{"PauseResumePurge", func(t *testing.T, x *apiCtx) {
		name := x.mkQueue(t, "q")
		q, err := x.c.PauseQueue(x.ctx, &cloudtaskspb.PauseQueueRequest{Name: name})
		if err != nil || q.State != cloudtaskspb.Queue_PAUSED {
			t.Fatalf("PauseQueue = %v, %v", q, err)
		}
		x.mkTask(t, name, "while-paused", nil)
		q, err = x.c.ResumeQueue(x.ctx, &cloudtaskspb.ResumeQueueRequest{Name: name})
		if err != nil || q.State != cloudtaskspb.Queue_RUNNING {
			t.Fatalf("ResumeQueue = %v, %v", q, err)
		}
		x.clock.Advance(time.Second)
		q, err = x.c.PurgeQueue(x.ctx, &cloudtaskspb.PurgeQueueRequest{Name: name})
		if err != nil || !q.PurgeTime.AsTime().Equal(x.clock.Now().Truncate(time.Microsecond)) {
			t.Fatalf("PurgeQueue = %v, %v", q, err)
		}
		_, err = x.c.GetTask(x.ctx, &cloudtaskspb.GetTaskRequest{Name: name + "/tasks/while-paused"})
		wantErr(t, err, codes.NotFound, "", "")
		x.mkTask(t, name, "after-purge", nil)
		if e := x.disp; e != nil && !e.sawChange(name) {
			t.Fatalf("dispatcher was not told about %s", name)
		}
		for _, call := range []func() error{
			func() error {
				_, err := x.c.PauseQueue(x.ctx, &cloudtaskspb.PauseQueueRequest{Name: x.queueName("missing")})
				return err
			},
			func() error {
				_, err := x.c.ResumeQueue(x.ctx, &cloudtaskspb.ResumeQueueRequest{Name: x.queueName("missing")})
				return err
			},
			func() error {
				_, err := x.c.PurgeQueue(x.ctx, &cloudtaskspb.PurgeQueueRequest{Name: x.queueName("missing")})
				return err
			},
		} {
			wantErr(t, call(), codes.NotFound, msgQueueNotFound, "")
		}
	}},
	{"ListQueuesPagingAndFilter", func(t *testing.T, x *apiCtx) {
		for _, id := range []string{"e", "a", "d", "b", "c"} {
			x.mkQueue(t, id)
		}
		for _, id := range []string{"b", "d"} {
			if _, err := x.c.PauseQueue(x.ctx, &cloudtaskspb.PauseQueueRequest{Name: x.queueName(id)}); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := queuePages(t, x, &cloudtaskspb.ListQueuesRequest{Parent: x.loc}, 2), [][]string{{"a", "b"}, {"c", "d"}, {"e"}}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pages = %v, want %v", got, want)
		}
		if got, want := queuePages(t, x, &cloudtaskspb.ListQueuesRequest{Parent: x.loc}, 100), [][]string{{"a", "b", "c", "d", "e"}}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("one page = %v, want %v", got, want)
		}
		if got, want := queuePages(t, x, &cloudtaskspb.ListQueuesRequest{Parent: x.loc, Filter: "state: PAUSED"}, 1), [][]string{{"b"}, {"d"}}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("PAUSED pages = %v, want %v", got, want)
		}
		if got, want := queuePages(t, x, &cloudtaskspb.ListQueuesRequest{Parent: x.loc, Filter: "state != PAUSED AND (name:queues/a OR name:\"queues/e\")"}, 100), [][]string{{"a", "e"}}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("filtered = %v, want %v", got, want)
		}
		// A token is bound to its filter.
		var first []*cloudtaskspb.Queue
		tok, err := iterator.NewPager(x.c.ListQueues(x.ctx, &cloudtaskspb.ListQueuesRequest{Parent: x.loc}), 1, "").NextPage(&first)
		if err != nil || tok == "" {
			t.Fatalf("first page: %q, %v", tok, err)
		}
		_, err = x.c.ListQueues(x.ctx, &cloudtaskspb.ListQueuesRequest{Parent: x.loc, Filter: "state: PAUSED", PageToken: tok}).Next()
		wantErr(t, err, codes.InvalidArgument, "", "")
		// Tokens expire after two hours.
		x.clock.Advance(2*time.Hour + time.Minute)
		_, err = x.c.ListQueues(x.ctx, &cloudtaskspb.ListQueuesRequest{Parent: x.loc, PageToken: tok}).Next()
		wantErr(t, err, codes.InvalidArgument, "The page token has expired.", "")
		for _, req := range []*cloudtaskspb.ListQueuesRequest{
			{Parent: x.loc, PageToken: "garbage"},
			{Parent: x.loc, Filter: "state = NOPE"},
			{Parent: x.loc, Filter: "(state: PAUSED"},
			{Parent: x.loc, PageSize: -1},
		} {
			_, err := x.c.ListQueues(x.ctx, req).Next()
			wantErr(t, err, codes.InvalidArgument, "", "")
		}
	}},
	{"CreateTaskStoredFormAndViews", func(t *testing.T, x *apiCtx) {
		queue := x.mkQueue(t, "q")
		task, err := x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: &cloudtaskspb.Task{
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
				Url: "https://example.com/h", Headers: map[string]string{"content-type": "application/json"}, Body: []byte(`{"a":1}`)}},
			DispatchCount: 9,
		}})
		if err != nil {
			t.Fatal(err)
		}
		id := task.Name[strings.LastIndex(task.Name, "/")+1:]
		if !regexp.MustCompile(`^[0-9]{19,20}$`).MatchString(id) || task.Name != queue+"/tasks/"+id {
			t.Fatalf("generated name %q", task.Name)
		}
		now := x.clock.Now()
		want := &cloudtaskspb.Task{
			Name: task.Name,
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
				Url: "https://example.com/h", HttpMethod: cloudtaskspb.HttpMethod_POST,
				Headers: map[string]string{"content-type": "application/json", "User-Agent": "Google-Cloud-Tasks"}}},
			ScheduleTime:     timestamppb.New(now.Truncate(time.Microsecond)),
			CreateTime:       timestamppb.New(now.Truncate(time.Second)),
			DispatchDeadline: durationpb.New(10 * time.Minute),
			View:             cloudtaskspb.Task_BASIC,
		}
		wantProto(t, "CreateTask (BASIC)", task, want)
		got, err := x.c.GetTask(x.ctx, &cloudtaskspb.GetTaskRequest{Name: task.Name})
		if err != nil {
			t.Fatal(err)
		}
		wantProto(t, "GetTask (default view)", got, want)
		full := proto.Clone(want).(*cloudtaskspb.Task)
		full.View = cloudtaskspb.Task_FULL
		full.GetHttpRequest().Body = []byte(`{"a":1}`)
		got, err = x.c.GetTask(x.ctx, &cloudtaskspb.GetTaskRequest{Name: task.Name, ResponseView: cloudtaskspb.Task_FULL})
		if err != nil {
			t.Fatal(err)
		}
		wantProto(t, "GetTask (FULL)", got, full)

		ae, err := x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, ResponseView: cloudtaskspb.Task_FULL, Task: &cloudtaskspb.Task{
			Name: queue + "/tasks/ae", MessageType: &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{
				RelativeUri: "/work", Body: []byte("xyz")}}}})
		if err != nil {
			t.Fatal(err)
		}
		project := strings.Split(queue, "/")[1]
		wantAE := &cloudtaskspb.Task{
			Name: queue + "/tasks/ae",
			MessageType: &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{
				HttpMethod: cloudtaskspb.HttpMethod_POST, RelativeUri: "/work", Body: []byte("xyz"),
				AppEngineRouting: &cloudtaskspb.AppEngineRouting{Host: project + ".appspot.com"},
				Headers: map[string]string{"User-Agent": "AppEngine-Google; (+http://code.google.com/appengine)",
					"Content-Length": "3", "Content-Type": "application/octet-stream"}}},
			ScheduleTime: timestamppb.New(now.Truncate(time.Microsecond)),
			CreateTime:   timestamppb.New(now.Truncate(time.Second)),
			View:         cloudtaskspb.Task_FULL,
		}
		wantProto(t, "CreateTask App Engine (FULL)", ae, wantAE)
	}},
	{"CreateTaskErrors", func(t *testing.T, x *apiCtx) {
		queue := x.mkQueue(t, "q")
		create := func(task *cloudtaskspb.Task) error {
			_, err := x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task})
			return err
		}
		ok := func(mod func(*cloudtaskspb.Task)) *cloudtaskspb.Task {
			task := httpTask("", "https://example.com/h", nil)
			mod(task)
			return task
		}
		far := x.clock.Now().Add(721 * time.Hour).Truncate(time.Second)
		pacific, err := time.LoadLocation("America/Los_Angeles")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			task      *cloudtaskspb.Task
			code      codes.Code
			msg, help string
		}{
			{ok(func(t *cloudtaskspb.Task) { t.Name = queue + "/tasks/bad.id" }), codes.InvalidArgument,
				`Task ID "bad.id" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`, "Definition of task ID"},
			{ok(func(t *cloudtaskspb.Task) { t.Name = x.queueName("other") + "/tasks/t" }), codes.InvalidArgument,
				"The queue name from request ('" + queue + "') must be the same as the queue name in the named task ('" + x.queueName("other") + "').", ""},
			{httpTask("", "", nil), codes.InvalidArgument, "HttpRequest.url is required.", ""},
			{httpTask("", "ftp://example.com", nil), codes.InvalidArgument, "HttpTarget.url must start with 'http://' or 'https://'.", ""},
			{ok(func(t *cloudtaskspb.Task) { t.DispatchDeadline = durationpb.New(10 * time.Second) }), codes.InvalidArgument, "Task.dispatchDeadline must be between [15s, 30m].", ""},
			{&cloudtaskspb.Task{DispatchDeadline: durationpb.New(25 * time.Hour), MessageType: &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{}}},
				codes.InvalidArgument, "Task.dispatchDeadline must be between [15s, 24h15s].", ""},
			{ok(func(t *cloudtaskspb.Task) { t.ScheduleTime = timestamppb.New(far) }), codes.InvalidArgument,
				"The Task.scheduleTime, " + far.In(pacific).Format(time.RFC3339) + ", is too far in the future. Schedule time must be no more than 720h in the future.", ""},
			{ok(func(t *cloudtaskspb.Task) { t.GetHttpRequest().Body = make([]byte, 1<<20) }), codes.InvalidArgument, "Task size too large", ""},
			// 1,020 characters as sent, 3,020 once its non-ASCII bytes are
			// percent-encoded: the 2083 limit applies after encoding.
			{httpTask("", "https://example.com/"+strings.Repeat("é", 500), nil), codes.InvalidArgument, "HttpRequest.url must be at most 2083 characters.", ""},
			{&cloudtaskspb.Task{}, codes.InvalidArgument, "", ""},
			{nil, codes.InvalidArgument, "", ""},
		} {
			wantErr(t, create(c.task), c.code, c.msg, c.help)
		}
		// A malformed %-escape is accepted at create time.
		if err := create(httpTask("", "https://example.com/%zz", nil)); err != nil {
			t.Fatalf("bad escape: %v", err)
		}
		if u := "https://example.com/" + strings.Repeat("a", 2083-20); len(u) != 2083 || create(httpTask("", u, nil)) != nil {
			t.Fatalf("a URL of 2083 characters is refused")
		}
		_, err = x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: x.queueName("missing"), Task: httpTask("", "https://example.com", nil)})
		wantErr(t, err, codes.NotFound, msgQueueNotFound, "")
		_, err = x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: x.queueName("bad_q"), Task: httpTask("", "https://example.com", nil)})
		wantErr(t, err, codes.InvalidArgument, msgQueueFormat, "Definition of queue name")
	}},
	{"CreateTaskZeroDeadlineIsDefault", func(t *testing.T, x *apiCtx) {
		// An explicit 0s dispatch_deadline is the default deadline, not
		// out of range (spec 4.4).
		queue := x.mkQueue(t, "q")
		task := httpTask("", "https://example.com/h", nil)
		task.DispatchDeadline = durationpb.New(0)
		got, err := x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task})
		if err != nil || !proto.Equal(got.DispatchDeadline, durationpb.New(10*time.Minute)) {
			t.Fatalf("HTTP task with 0s deadline = %v, %v", got, err)
		}
		got, err = x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: &cloudtaskspb.Task{
			DispatchDeadline: durationpb.New(0),
			MessageType:      &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{}}}})
		if err != nil || got.DispatchDeadline != nil {
			t.Fatalf("App Engine task with 0s deadline = %v, %v", got, err)
		}
	}},
	{"TaskDedupAndTombstone", func(t *testing.T, x *apiCtx) {
		queue := x.mkQueue(t, "q")
		task := x.mkTask(t, queue, "t1", nil)
		_, err := x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: httpTask(task.Name, "https://example.com", nil)})
		wantErr(t, err, codes.AlreadyExists, "Requested entity already exists", "")
		if err := x.c.DeleteTask(x.ctx, &cloudtaskspb.DeleteTaskRequest{Name: task.Name}); err != nil {
			t.Fatal(err)
		}
		_, err = x.c.GetTask(x.ctx, &cloudtaskspb.GetTaskRequest{Name: task.Name})
		wantErr(t, err, codes.NotFound, "The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted.", "")
		err = x.c.DeleteTask(x.ctx, &cloudtaskspb.DeleteTaskRequest{Name: task.Name})
		wantErr(t, err, codes.NotFound, msgNotFound, "")
		_, err = x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: httpTask(task.Name, "https://example.com", nil)})
		wantErr(t, err, codes.AlreadyExists, "Requested entity already exists", "")
		x.clock.Advance(time.Hour + time.Second)
		_, err = x.c.GetTask(x.ctx, &cloudtaskspb.GetTaskRequest{Name: task.Name})
		wantErr(t, err, codes.NotFound, msgNotFound, "")
		x.mkTask(t, queue, "t1", nil)
		_, err = x.c.GetTask(x.ctx, &cloudtaskspb.GetTaskRequest{Name: queue + "/tasks/bad.id"})
		wantErr(t, err, codes.InvalidArgument, "", "Definition of task ID")
	}},
	{"ListTasksPagingAndViews", func(t *testing.T, x *apiCtx) {
		queue := x.mkQueue(t, "q")
		for _, id := range []string{"t3", "t1", "t5", "t2", "t4"} {
			x.mkTask(t, queue, id, []byte("body-"+id))
		}
		for _, view := range []cloudtaskspb.Task_View{cloudtaskspb.Task_VIEW_UNSPECIFIED, cloudtaskspb.Task_BASIC, cloudtaskspb.Task_FULL} {
			p := iterator.NewPager(x.c.ListTasks(x.ctx, &cloudtaskspb.ListTasksRequest{Parent: queue, ResponseView: view}), 2, "")
			var ids []string
			pages := 0
			for {
				var ts []*cloudtaskspb.Task
				tok, err := p.NextPage(&ts)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, task := range ts {
					id := task.Name[strings.LastIndex(task.Name, "/")+1:]
					ids = append(ids, id)
					wantView, wantBody := cloudtaskspb.Task_BASIC, ""
					if view == cloudtaskspb.Task_FULL {
						wantView, wantBody = view, "body-"+id
					}
					if task.View != wantView || string(task.GetHttpRequest().GetBody()) != wantBody {
						t.Fatalf("view %v: task %s has view %v body %q", view, id, task.View, task.GetHttpRequest().GetBody())
					}
				}
				if tok == "" {
					break
				}
			}
			if fmt.Sprint(ids) != "[t1 t2 t3 t4 t5]" || pages != 3 {
				t.Fatalf("view %v: ids %v in %d pages", view, ids, pages)
			}
		}
		_, err := x.c.ListTasks(x.ctx, &cloudtaskspb.ListTasksRequest{Parent: x.queueName("missing")}).Next()
		wantErr(t, err, codes.NotFound, msgQueueNotFound, "")
		_, err = x.c.ListTasks(x.ctx, &cloudtaskspb.ListTasksRequest{Parent: queue, PageToken: "bm9wZQ"}).Next()
		wantErr(t, err, codes.InvalidArgument, "", "")
	}},
	{"RunTask", func(t *testing.T, x *apiCtx) {
		queue := x.mkQueue(t, "q")
		// RunTask ignores PAUSED (spec 6).
		if _, err := x.c.PauseQueue(x.ctx, &cloudtaskspb.PauseQueueRequest{Name: queue}); err != nil {
			t.Fatal(err)
		}
		task, err := x.c.CreateTask(x.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue,
			Task: httpTask(queue+"/tasks/t", x.target.URL+"/run", []byte("payload"))})
		if err != nil {
			t.Fatal(err)
		}
		now := x.clock.Now().Truncate(time.Microsecond)
		got, err := x.c.RunTask(x.ctx, &cloudtaskspb.RunTaskRequest{Name: task.Name})
		if err != nil {
			t.Fatal(err)
		}
		// Returned before the target answers: dispatched, no response.
		la := got.GetLastAttempt()
		if got.DispatchCount != 1 || got.ResponseCount != 0 || got.View != cloudtaskspb.Task_BASIC || got.GetHttpRequest().GetBody() != nil ||
			!la.GetScheduleTime().AsTime().Equal(task.ScheduleTime.AsTime()) || !la.GetDispatchTime().AsTime().Equal(now) ||
			la.ResponseTime != nil || la.ResponseStatus != nil || !got.GetFirstAttempt().GetDispatchTime().AsTime().Equal(now) {
			t.Fatalf("RunTask = %v", got)
		}
		if r := recv(t, x.received, "first attempt at the target"); r.URL.Path != "/run" || r.Header.Get("X-CloudTasks-TaskName") != "t" || r.Header.Get("X-CloudTasks-TaskRetryCount") != "0" {
			t.Fatalf("target received %s %v", r.URL, r.Header)
		}
		// Again while the first attempt is in flight, with the FULL view.
		got, err = x.c.RunTask(x.ctx, &cloudtaskspb.RunTaskRequest{Name: task.Name, ResponseView: cloudtaskspb.Task_FULL})
		if err != nil || got.DispatchCount != 2 || string(got.GetHttpRequest().GetBody()) != "payload" || got.View != cloudtaskspb.Task_FULL {
			t.Fatalf("RunTask FULL = %v, %v", got, err)
		}
		if r := recv(t, x.received, "second attempt at the target"); r.Header.Get("X-CloudTasks-TaskRetryCount") != "1" {
			t.Fatalf("second attempt headers %v", r.Header)
		}
		send(t, x.answer, 200, "first answer")
		send(t, x.answer, 200, "second answer")
		recv(t, x.outcomes, "first outcome")
		recv(t, x.outcomes, "second outcome")
		_, err = x.c.GetTask(x.ctx, &cloudtaskspb.GetTaskRequest{Name: task.Name})
		wantErr(t, err, codes.NotFound, "", "")
		_, err = x.c.RunTask(x.ctx, &cloudtaskspb.RunTaskRequest{Name: task.Name})
		wantErr(t, err, codes.NotFound, msgNotFound, "")
		_, err = x.c.RunTask(x.ctx, &cloudtaskspb.RunTaskRequest{Name: queue + "/tasks/missing"})
		wantErr(t, err, codes.NotFound, msgNotFound, "")
	}},
	{"BatchCreateTasks", func(t *testing.T, x *apiCtx) {
		queue := x.mkQueue(t, "q")
		op, err := x.c.BatchCreateTasks(x.ctx, &cloudtaskspb.BatchCreateTasksRequest{Parent: queue, Requests: []*cloudtaskspb.CreateTaskRequest{
			{Parent: queue, Task: httpTask(queue+"/tasks/a", "https://example.com", []byte("x"))},
			{Parent: queue, Task: httpTask("", "", nil)},
			{Parent: queue, Task: httpTask(queue+"/tasks/c", "https://example.com", []byte("y")), ResponseView: cloudtaskspb.Task_FULL},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if !op.Done() || !regexp.MustCompile(`^`+x.loc+`/operations/[0-9A-Za-z_-]+$`).MatchString(op.Name()) {
			t.Fatalf("operation %q done=%v", op.Name(), op.Done())
		}
		resp, err := op.Wait(x.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Tasks) != 2 || resp.Tasks[0].Name != queue+"/tasks/a" || resp.Tasks[0].GetHttpRequest().GetBody() != nil ||
			string(resp.Tasks[1].GetHttpRequest().GetBody()) != "y" {
			t.Fatalf("BatchCreateTasks response = %v", resp)
		}
		md, err := op.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if md.State != cloudtaskspb.BatchCreateTasksMetadata_PARTIALLY_SUCCEEDED || len(md.FailedRequests) != 1 ||
			md.FailedRequests[1].GetCode() != int32(codes.InvalidArgument) || md.FailedRequests[1].GetMessage() != "HttpRequest.url is required." {
			t.Fatalf("metadata = %v", md)
		}
		stored, err := x.c.GetOperation(x.ctx, &longrunningpb.GetOperationRequest{Name: op.Name()})
		if err != nil || !stored.Done || stored.GetResponse() == nil {
			t.Fatalf("GetOperation = %v, %v", stored, err)
		}

		// A repeated request_id returns the same operation and creates nothing new.
		reqID := "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
		req := &cloudtaskspb.BatchCreateTasksRequest{Parent: queue, RequestId: reqID, Requests: []*cloudtaskspb.CreateTaskRequest{
			{Task: httpTask("", "https://example.com", nil)}}}
		op1, err := x.c.BatchCreateTasks(x.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		op2, err := x.c.BatchCreateTasks(x.ctx, req)
		if err != nil || op2.Name() != op1.Name() {
			t.Fatalf("retried batch = %v, %v; want %s", op2, err, op1.Name())
		}

		// Nothing succeeds: the operation carries ABORTED.
		op, err = x.c.BatchCreateTasks(x.ctx, &cloudtaskspb.BatchCreateTasksRequest{Parent: queue, Requests: []*cloudtaskspb.CreateTaskRequest{
			{Task: httpTask(queue+"/tasks/a", "https://example.com", nil)}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = op.Wait(x.ctx)
		wantErr(t, err, codes.Aborted, "None of the requests succeeded, refer to BatchCreateTasksMetadata.failed_requests for individual error details", "")

		too := &cloudtaskspb.BatchCreateTasksRequest{Parent: queue}
		for range 101 {
			too.Requests = append(too.Requests, &cloudtaskspb.CreateTaskRequest{Task: httpTask("", "https://example.com", nil)})
		}
		_, err = x.c.BatchCreateTasks(x.ctx, too)
		wantErr(t, err, codes.InvalidArgument, "", "")
		_, err = x.c.BatchCreateTasks(x.ctx, &cloudtaskspb.BatchCreateTasksRequest{Parent: queue})
		wantErr(t, err, codes.InvalidArgument, "", "")
		_, err = x.c.BatchCreateTasks(x.ctx, &cloudtaskspb.BatchCreateTasksRequest{Parent: x.queueName("missing"), Requests: req.Requests})
		wantErr(t, err, codes.NotFound, msgQueueNotFound, "")
		_, err = x.c.GetOperation(x.ctx, &longrunningpb.GetOperationRequest{Name: x.loc + "/operations/missing"})
		wantErr(t, err, codes.NotFound, msgNotFound, "")
	}},
	{"BatchDeleteTasks", func(t *testing.T, x *apiCtx) {
		queue := x.mkQueue(t, "q")
		a, b := x.mkTask(t, queue, "a", nil), x.mkTask(t, queue, "b", nil)
		op, err := x.c.BatchDeleteTasks(x.ctx, &cloudtaskspb.BatchDeleteTasksRequest{Parent: queue, Names: []string{a.Name, b.Name, queue + "/tasks/nope"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := op.Wait(x.ctx); err != nil {
			t.Fatal(err)
		}
		md, err := op.Metadata()
		if err != nil || md.State != cloudtaskspb.BatchDeleteTasksMetadata_PARTIALLY_SUCCEEDED || md.FailedRequests[2].GetCode() != int32(codes.NotFound) || len(md.FailedRequests) != 1 {
			t.Fatalf("metadata = %v, %v", md, err)
		}
		_, err = x.c.GetTask(x.ctx, &cloudtaskspb.GetTaskRequest{Name: a.Name})
		wantErr(t, err, codes.NotFound, "", "")
		op, err = x.c.BatchDeleteTasks(x.ctx, &cloudtaskspb.BatchDeleteTasksRequest{Parent: queue, Names: []string{a.Name}})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, op.Wait(x.ctx), codes.Aborted, "None of the requests succeeded, refer to BatchDeleteTasksMetadata.failed_requests for individual error details", "")
		_, err = x.c.BatchDeleteTasks(x.ctx, &cloudtaskspb.BatchDeleteTasksRequest{Parent: queue})
		wantErr(t, err, codes.InvalidArgument, "", "")
	}},
	{"IAM", func(t *testing.T, x *apiCtx) {
		queue := x.mkQueue(t, "q")
		p, err := x.c.GetIamPolicy(x.ctx, &iampb.GetIamPolicyRequest{Resource: queue})
		if err != nil || len(p.Bindings) != 0 || string(p.Etag) != "\x00\x20\x01" {
			t.Fatalf("empty policy = %v, %v", p, err)
		}
		binding := &iampb.Binding{Role: "roles/cloudtasks.enqueuer", Members: []string{"user:a@example.com"}}
		set, err := x.c.SetIamPolicy(x.ctx, &iampb.SetIamPolicyRequest{Resource: queue, Policy: &iampb.Policy{Bindings: []*iampb.Binding{binding}, Etag: p.Etag}})
		if err != nil || len(set.Bindings) != 1 || len(set.Etag) == 0 || string(set.Etag) == string(p.Etag) {
			t.Fatalf("SetIamPolicy = %v, %v", set, err)
		}
		got, err := x.c.GetIamPolicy(x.ctx, &iampb.GetIamPolicyRequest{Resource: queue})
		if err != nil {
			t.Fatal(err)
		}
		wantProto(t, "GetIamPolicy", got, set)
		_, err = x.c.SetIamPolicy(x.ctx, &iampb.SetIamPolicyRequest{Resource: queue, Policy: &iampb.Policy{Etag: p.Etag}})
		wantErr(t, err, codes.Aborted, "", "")
		perms, err := x.c.TestIamPermissions(x.ctx, &iampb.TestIamPermissionsRequest{Resource: queue, Permissions: []string{"cloudtasks.tasks.create", "cloudtasks.queues.get"}})
		if err != nil || fmt.Sprint(perms.Permissions) != "[cloudtasks.tasks.create cloudtasks.queues.get]" {
			t.Fatalf("TestIamPermissions = %v, %v", perms, err)
		}
		perms, err = x.c.TestIamPermissions(x.ctx, &iampb.TestIamPermissionsRequest{Resource: x.queueName("missing"), Permissions: []string{"cloudtasks.tasks.create"}})
		if err != nil || len(perms.Permissions) != 0 {
			t.Fatalf("TestIamPermissions on missing queue = %v, %v", perms, err)
		}
		_, err = x.c.GetIamPolicy(x.ctx, &iampb.GetIamPolicyRequest{Resource: x.queueName("missing")})
		wantErr(t, err, codes.NotFound, msgQueueNotFound, "")
		_, err = x.c.SetIamPolicy(x.ctx, &iampb.SetIamPolicyRequest{Resource: queue})
		wantErr(t, err, codes.InvalidArgument, "", "")
	}},
	{"CmekConfig", func(t *testing.T, x *apiCtx) {
		name := x.loc + "/cmekConfig"
		c, err := x.c.GetCmekConfig(x.ctx, &cloudtaskspb.GetCmekConfigRequest{Name: name})
		if err != nil || c.Name != name || c.KmsKey != "" {
			t.Fatalf("GetCmekConfig = %v, %v", c, err)
		}
		key := "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"
		c, err = x.c.UpdateCmekConfig(x.ctx, &cloudtaskspb.UpdateCmekConfigRequest{CmekConfig: &cloudtaskspb.CmekConfig{Name: name, KmsKey: key}})
		if err != nil || c.KmsKey != key {
			t.Fatalf("UpdateCmekConfig = %v, %v", c, err)
		}
		c, err = x.c.GetCmekConfig(x.ctx, &cloudtaskspb.GetCmekConfigRequest{Name: name})
		if err != nil || c.KmsKey != key || c.Name != name {
			t.Fatalf("GetCmekConfig after update = %v, %v", c, err)
		}
		_, err = x.c.UpdateCmekConfig(x.ctx, &cloudtaskspb.UpdateCmekConfigRequest{CmekConfig: &cloudtaskspb.CmekConfig{Name: name, KmsKey: "not-a-key"}})
		wantErr(t, err, codes.InvalidArgument, "", "")
	}},
	{"Locations", func(t *testing.T, x *apiCtx) {
		project := x.loc[:strings.LastIndex(x.loc, "/locations/")]
		var ids []string
		it := x.c.ListLocations(x.ctx, &location.ListLocationsRequest{Name: project})
		for {
			l, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Name != project+"/locations/"+l.LocationId {
				t.Fatalf("location %v", l)
			}
			ids = append(ids, l.LocationId)
		}
		if fmt.Sprint(ids) != "[asia-northeast1 europe-west1 us-central1 us-east1]" {
			t.Fatalf("locations = %v", ids)
		}
		l, err := x.c.GetLocation(x.ctx, &location.GetLocationRequest{Name: x.loc})
		if err != nil || l.LocationId != "us-central1" {
			t.Fatalf("GetLocation = %v, %v", l, err)
		}
		_, err = x.c.GetLocation(x.ctx, &location.GetLocationRequest{Name: project + "/locations/mars-north1"})
		wantErr(t, err, codes.NotFound, "", "")
	}},
}

// TestAPI runs every case through the official Go client over gRPC and
// over REST against a real server on each backend.
func TestAPI(t *testing.T) {
	for _, b := range apiBackends {
		t.Run(b.name, func(t *testing.T) {
			for _, transport := range []string{"grpc", "rest"} {
				t.Run(transport, func(t *testing.T) {
					e := newAPIEnv(t, b, true)
					for _, c := range apiCases {
						t.Run(c.name, func(t *testing.T) {
							x := &apiCtx{apiEnv: e, ctx: caseContext(t), c: e.clients[transport],
								loc: "projects/" + strings.ToLower(c.name) + "/locations/us-central1"}
							c.run(t, x)
						})
					}
				})
			}
		})
	}
}

// TestAPIRunTaskWithoutDispatcher: with no dispatcher RunTask is refused
// but still reports missing tasks as missing.
func TestAPIRunTaskWithoutDispatcher(t *testing.T) {
	e := newAPIEnv(t, apiBackends[0], false)
	for transport, c := range e.clients {
		t.Run(transport, func(t *testing.T) {
			x := &apiCtx{apiEnv: e, ctx: caseContext(t), c: c, loc: "projects/" + transport + "/locations/us-central1"}
			queue := x.mkQueue(t, "q")
			task := x.mkTask(t, queue, "t", nil)
			_, err := c.RunTask(x.ctx, &cloudtaskspb.RunTaskRequest{Name: task.Name})
			wantErr(t, err, codes.FailedPrecondition, "dispatch is disabled", "")
			_, err = c.RunTask(x.ctx, &cloudtaskspb.RunTaskRequest{Name: queue + "/tasks/missing"})
			wantErr(t, err, codes.NotFound, msgNotFound, "")
		})
	}
}
