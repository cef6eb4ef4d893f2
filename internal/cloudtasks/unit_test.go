package cloudtasks

import (
	"math"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/pagetoken"
	"github.com/opentasks/opentasks/internal/protopath"
)

// wantStatus fails t unless err has the code and message.
func wantStatus(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st := status.Convert(err)
	if err == nil || st.Code() != code || st.Message() != msg {
		t.Errorf("%s: got %v, want %v %q", what, err, code, msg)
	}
}

func TestPageTokens(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	scope := pagetoken.Scope("ListQueues", "projects/p/locations/l", "state:PAUSED")
	tok := pagetoken.Encode(scope, "projects/p/locations/l/queues/q", now)
	if got, err := pagetoken.Decode(tok, scope, now.Add(time.Hour)); err != nil || got != "projects/p/locations/l/queues/q" {
		t.Fatalf("decode = %q, %v", got, err)
	}
	if got, err := pagetoken.Decode("", scope, now); err != nil || got != "" {
		t.Fatalf("empty token = %q, %v", got, err)
	}
	other := pagetoken.Scope("ListQueues", "projects/p/locations/l", "state:RUNNING")
	wantStatus(t, "changed filter", func() error { _, err := pagetoken.Decode(tok, other, now); return err }(),
		codes.InvalidArgument, "The page token does not belong to this request; the filter and parent must not change while paging.")
	wantStatus(t, "expired", func() error { _, err := pagetoken.Decode(tok, scope, now.Add(2*time.Hour+time.Second)); return err }(),
		codes.InvalidArgument, "The page token has expired.")
	for _, garbage := range []string{"!!!", "abc", pagetoken.Encode(scope, "", now), "c2NvcGUAeAB5"} {
		_, err := pagetoken.Decode(garbage, scope, now)
		wantStatus(t, "garbage "+garbage, err, codes.InvalidArgument, "Invalid page token.")
	}
}

func TestPageSize(t *testing.T) {
	for _, c := range []struct {
		in   int32
		want int
	}{{0, 9800}, {1, 1}, {9800, 9800}, {9801, 9800}, {math.MaxInt32, 9800}} {
		if got, err := pageSize(c.in, maxQueuePage); err != nil || got != c.want {
			t.Errorf("pageSize(%d) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	_, err := pageSize(-1, maxQueuePage)
	wantStatus(t, "negative", err, codes.InvalidArgument, "page_size cannot be negative.")
}

func TestEncodedLen(t *testing.T) {
	for u, want := range map[string]int{
		"https://x/a?b=c#d":   17,
		"https://x/%zz":       13, // escapes, even malformed ones, are kept as they are
		"https://x/a b":       15,
		"https://x/é":         16,
		"https://x/{\"|\x7f}": 25,
	} {
		if got := encodedLen(u); got != want {
			t.Errorf("encodedLen(%q) = %d, want %d", u, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	good := []string{
		"projects/p/locations/us-central1/queues/q",
		"projects/example.com:my-proj/locations/l/queues/Q-1",
		"projects/123/locations/l/queues/" + strings.Repeat("a", 100),
	}
	bad := []string{
		"", "projects/p/locations/l/queues/", "projects/p/locations/l/queues/q/x",
		"projects/p/locations/L/queues/q", "projects//locations/l/queues/q",
		"projects/p/locations/l/queues/q_1", "projects/p/locations/l/queues/" + strings.Repeat("a", 101),
		"projects/p/locations/l/topics/q", "projects/p/locations/-/queues/q", "projects/p/locations/l/queues/q\x00",
	}
	for _, n := range good {
		if !validQueueName(n) {
			t.Errorf("validQueueName(%q) = false", n)
		}
	}
	for _, n := range bad {
		if validQueueName(n) {
			t.Errorf("validQueueName(%q) = true", n)
		}
	}
	if q, id, err := parseTaskName("projects/p/locations/l/queues/q/tasks/t_1-2"); err != nil || q != "projects/p/locations/l/queues/q" || id != "t_1-2" {
		t.Errorf("parseTaskName = %q %q %v", q, id, err)
	}
	_, _, err := parseTaskName("projects/p/locations/l/queues/q/tasks/bad.id")
	wantStatus(t, "bad task ID", err, codes.InvalidArgument,
		`Task ID "bad.id" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`)
	if d := status.Convert(err).Details(); len(d) != 1 || d[0].(*errdetails.Help).Links[0].Description != "Definition of task ID" {
		t.Errorf("task ID details = %v", d)
	}
	_, _, err = parseTaskName("tasks")
	wantStatus(t, "no task", err, codes.InvalidArgument, msgTaskNameFormat)
	if loc, err := cmekLocation("projects/p/locations/l/cmekConfig"); err != nil || loc != "projects/p/locations/l" {
		t.Errorf("cmekLocation = %q %v", loc, err)
	}
}

// TestRoutedProject: the front end's project check refuses what names no
// well-formed project, naming the project it read, and leaves the rest of
// the name to the call.
func TestRoutedProject(t *testing.T) {
	for name, project := range map[string]string{
		"not-a-valid-parent":                     "not-a-valid-parent",
		"projects/not_a_project/locations/l":     "not_a_project",
		"projects/a b":                           "a b",
		"locations/l/queues/q":                   "locations/l/queues/q",
		"projects//locations/l":                  "projects//locations/l",
		"projects/p":                             "",
		"projects/p/locations/NOT VALID":         "",
		"projects/example.com:p/locations/l/x/y": "",
		"":                                       "",
	} {
		err := routedProject(name)
		if project == "" {
			if err != nil {
				t.Errorf("routedProject(%q) = %v; want nil", name, err)
			}
			continue
		}
		msg := "Permission denied on resource project " + project + "."
		wantStatus(t, name, err, codes.PermissionDenied, msg)
		d := status.Convert(err).Details()
		if len(d) != 3 {
			t.Fatalf("routedProject(%q) details = %v", name, d)
		}
		info, loc, help := d[0].(*errdetails.ErrorInfo), d[1].(*errdetails.LocalizedMessage), d[2].(*errdetails.Help)
		if info.Reason != "CONSUMER_INVALID" || info.Domain != "googleapis.com" || info.Metadata["consumer"] != "projects/"+project ||
			info.Metadata["containerInfo"] != project || info.Metadata["service"] != "cloudtasks.googleapis.com" || len(info.Metadata) != 3 {
			t.Errorf("routedProject(%q) ErrorInfo = %v", name, info)
		}
		if loc.Locale != "en-US" || loc.Message != msg {
			t.Errorf("routedProject(%q) LocalizedMessage = %v", name, loc)
		}
		if len(help.Links) != 1 || help.Links[0].Description != "Google developers console" || help.Links[0].Url != "https://console.developers.google.com" {
			t.Errorf("routedProject(%q) Help = %v", name, help)
		}
	}
}

func TestNewTaskID(t *testing.T) {
	s := New(nil, Config{})
	seen := map[string]bool{}
	for range 1000 {
		id := s.newTaskID()
		if len(id) < 19 || len(id) > 20 || strings.Trim(id, "0123456789") != "" || seen[id] {
			t.Fatalf("newTaskID() = %q", id)
		}
		seen[id] = true
	}
}

func TestBurstFor(t *testing.T) {
	for rate, want := range map[float64]int32{500: 100, 100: 100, 99.5: 100, 10: 10, 0.5: 1, 0.001: 1, 1.2: 2} {
		if got := burstFor(rate); got != want {
			t.Errorf("burstFor(%v) = %d, want %d", rate, got, want)
		}
	}
}

func TestNormalizeQueueDefaults(t *testing.T) {
	q := &cloudtaskspb.Queue{
		Name:       "projects/p/locations/l/queues/q",
		RateLimits: &cloudtaskspb.RateLimits{MaxConcurrentDispatches: 5, MaxBurstSize: -3},
	}
	if err := normalizeQueue(q); err != nil {
		t.Fatal(err)
	}
	want := &cloudtaskspb.Queue{
		Name:        "projects/p/locations/l/queues/q",
		RateLimits:  &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 500, MaxBurstSize: 100, MaxConcurrentDispatches: 5},
		RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 100, MinBackoff: durationpb.New(100 * time.Millisecond), MaxBackoff: durationpb.New(time.Hour), MaxDoublings: 16},
	}
	if !proto.Equal(q, want) {
		t.Errorf("normalizeQueue = %v, want %v", q, want)
	}
}

func TestNormalizeQueueErrors(t *testing.T) {
	d := durationpb.New
	cases := []struct {
		rl  *cloudtaskspb.RateLimits
		rc  *cloudtaskspb.RetryConfig
		msg string
	}{
		{&cloudtaskspb.RateLimits{MaxDispatchesPerSecond: -1}, nil, "RateLimits.maxDispatchesPerSecond cannot be negative."},
		{&cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 501}, nil, "RateLimits.maxDispatchesPerSecond must be less than or equal to 500."},
		{&cloudtaskspb.RateLimits{MaxDispatchesPerSecond: math.Inf(1)}, nil, "RateLimits.maxDispatchesPerSecond must be less than or equal to 500."},
		{&cloudtaskspb.RateLimits{MaxDispatchesPerSecond: math.NaN()}, nil, "RateLimits.maxDispatchesPerSecond must be a number."},
		{&cloudtaskspb.RateLimits{MaxConcurrentDispatches: -1}, nil, "RateLimits.maxConcurrentDispatches cannot be negative."},
		{&cloudtaskspb.RateLimits{MaxConcurrentDispatches: 5001}, nil, "RateLimits.maxConcurrentDispatches must be less than or equal to 5000."},
		{nil, &cloudtaskspb.RetryConfig{MaxAttempts: -2}, "RetryConfig.maxAttempts must be greater or equal to -1."},
		{nil, &cloudtaskspb.RetryConfig{MaxDoublings: -1}, "RetryConfig.maxDoublings cannot be negative."},
		{nil, &cloudtaskspb.RetryConfig{MinBackoff: d(-time.Second)}, "RetryConfig.minBackoff cannot be negative."},
		{nil, &cloudtaskspb.RetryConfig{MaxBackoff: d(-time.Second)}, "RetryConfig.maxBackoff cannot be negative."},
		{nil, &cloudtaskspb.RetryConfig{MinBackoff: d(2 * time.Hour)}, "RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff."},
		{nil, &cloudtaskspb.RetryConfig{MinBackoff: &durationpb.Duration{Seconds: 1, Nanos: -5}}, "RetryConfig.minBackoff is not a valid duration."},
	}
	for _, c := range cases {
		q := &cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/q", RateLimits: c.rl, RetryConfig: c.rc}
		wantStatus(t, c.msg, normalizeQueue(q), codes.InvalidArgument, c.msg)
	}
	// -1 attempts (unlimited) is fine.
	if err := normalizeQueue(&cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/q", RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: -1}}); err != nil {
		t.Errorf("maxAttempts -1: %v", err)
	}
}

func TestQueueMask(t *testing.T) {
	cur := &cloudtaskspb.Queue{
		Name:        "projects/p/locations/l/queues/q",
		RateLimits:  &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 7, MaxConcurrentDispatches: 9},
		RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 5, MaxDoublings: 2},
	}
	src := &cloudtaskspb.Queue{
		RateLimits:  &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 1, MaxConcurrentDispatches: 2},
		RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 3},
		State:       cloudtaskspb.Queue_DISABLED,
	}
	masks, err := queueMask([]string{"rate_limits.max_dispatches_per_second", "retryConfig", "state", "rateLimits.maxBurstSize"})
	if err != nil {
		t.Fatal(err)
	}
	if len(masks) != 2 {
		t.Fatalf("masks = %d, want output-only paths dropped", len(masks))
	}
	for _, m := range masks {
		protopath.Copy(cur, src, m)
	}
	want := &cloudtaskspb.Queue{
		Name:        "projects/p/locations/l/queues/q",
		RateLimits:  &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 1, MaxConcurrentDispatches: 9},
		RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: 3},
	}
	if !proto.Equal(cur, want) {
		t.Errorf("after mask = %v, want %v", cur, want)
	}
	for _, bad := range []string{"", "nope", "rate_limits.nope", "rate_limits..x", "http_target.header_overrides.header"} {
		_, err := queueMask([]string{bad})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("queueMask(%q) = %v, want INVALID_ARGUMENT", bad, err)
		}
	}
}

func TestNewTaskStoredForm(t *testing.T) {
	s := New(nil, Config{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)
	parent := "projects/p/locations/l/queues/q"
	got, err := s.newTask(parent, &cloudtaskspb.Task{
		Name:          parent + "/tasks/t1",
		DispatchCount: 4,
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: "https://example.com/h", Headers: map[string]string{"content-type": "application/json", "user-agent": "me"}, Body: []byte("{}"),
		}},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := &cloudtaskspb.Task{
		Name: parent + "/tasks/t1",
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: "https://example.com/h", HttpMethod: cloudtaskspb.HttpMethod_POST, Body: []byte("{}"),
			Headers: map[string]string{"content-type": "application/json", "User-Agent": "Google-Cloud-Tasks"},
		}},
		ScheduleTime:     timestamppb.New(now),
		CreateTime:       timestamppb.New(now.Truncate(time.Second)),
		DispatchDeadline: durationpb.New(10 * time.Minute),
	}
	if !proto.Equal(got.Task, want) || got.ID != "t1" || got.Queue != parent {
		t.Errorf("newTask = %v, want %v", got.Task, want)
	}

	ae, err := s.newTask(parent, &cloudtaskspb.Task{
		MessageType: &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{
			Body: []byte("abc"), AppEngineRouting: &cloudtaskspb.AppEngineRouting{Service: "worker"},
		}},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	r := ae.Task.GetAppEngineHttpRequest()
	wantHeaders := map[string]string{"User-Agent": appEngineUserAgent, "Content-Length": "3", "Content-Type": "application/octet-stream"}
	if r.RelativeUri != "/" || r.HttpMethod != cloudtaskspb.HttpMethod_POST || r.AppEngineRouting.Host != "worker.p.appspot.com" ||
		ae.Task.DispatchDeadline != nil || len(r.Headers) != 3 || r.Headers["Content-Length"] != "3" ||
		r.Headers["User-Agent"] != wantHeaders["User-Agent"] || r.Headers["Content-Type"] != wantHeaders["Content-Type"] {
		t.Errorf("App Engine task = %v", ae.Task)
	}
}

func TestNewTaskErrors(t *testing.T) {
	s := New(nil, Config{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	parent := "projects/p/locations/l/queues/q"
	http := func(r *cloudtaskspb.HttpRequest) *cloudtaskspb.Task {
		return &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: r}}
	}
	ok := &cloudtaskspb.HttpRequest{Url: "https://x"}
	withTask := func(f func(*cloudtaskspb.Task)) *cloudtaskspb.Task {
		t := http(proto.Clone(ok).(*cloudtaskspb.HttpRequest))
		f(t)
		return t
	}
	cases := []struct {
		task *cloudtaskspb.Task
		msg  string
	}{
		{nil, "Task is required."},
		{&cloudtaskspb.Task{}, "Task.httpRequest or Task.appEngineHttpRequest must be set."},
		{http(&cloudtaskspb.HttpRequest{}), "HttpRequest.url is required."},
		{http(nil), "HttpRequest.url is required."},
		{http(&cloudtaskspb.HttpRequest{Url: "ftp://x"}), "HttpTarget.url must start with 'http://' or 'https://'."},
		{http(&cloudtaskspb.HttpRequest{Url: "https://x", HttpMethod: cloudtaskspb.HttpMethod_GET, Body: []byte("b")}), "HttpRequest.body is only allowed for POST, PUT and PATCH requests."},
		{http(&cloudtaskspb.HttpRequest{Url: "https://x", HttpMethod: 42}), "HttpRequest.httpMethod is not a valid HTTP method."},
		{http(&cloudtaskspb.HttpRequest{Url: "https://x", Headers: map[string]string{"bad name": "v"}}), `Header name "bad name" is not a valid HTTP header name.`},
		{withTask(func(t *cloudtaskspb.Task) { t.Name = "projects/p/locations/l/queues/other/tasks/t" }),
			"The queue name from request ('projects/p/locations/l/queues/q') must be the same as the queue name in the named task ('projects/p/locations/l/queues/other')."},
		{withTask(func(t *cloudtaskspb.Task) { t.DispatchDeadline = durationpb.New(14 * time.Second) }), "Task.dispatchDeadline must be between [15s, 30m]."},
		{withTask(func(t *cloudtaskspb.Task) { t.DispatchDeadline = durationpb.New(31 * time.Minute) }), "Task.dispatchDeadline must be between [15s, 30m]."},
		{&cloudtaskspb.Task{DispatchDeadline: durationpb.New(25 * time.Hour), MessageType: &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{}}},
			"Task.dispatchDeadline must be between [15s, 24h15s]."},
		{withTask(func(t *cloudtaskspb.Task) {
			t.ScheduleTime = timestamppb.New(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
		}),
			"The Task.scheduleTime, 2099-12-31T16:00:00-08:00, is too far in the future. Schedule time must be no more than 720h in the future."},
		{withTask(func(t *cloudtaskspb.Task) { t.ScheduleTime = &timestamppb.Timestamp{Seconds: math.MaxInt64} }), "Task.scheduleTime is not a valid timestamp."},
		{withTask(func(t *cloudtaskspb.Task) { t.GetHttpRequest().Body = make([]byte, maxTaskSize) }), "Task size too large"},
		{withTask(func(t *cloudtaskspb.Task) { t.RetryConfig = &cloudtaskspb.RetryConfig{MaxAttempts: -5} }), "RetryConfig.maxAttempts must be greater or equal to -1."},
	}
	for _, c := range cases {
		_, err := s.newTask(parent, c.task, now)
		wantStatus(t, c.msg, err, codes.InvalidArgument, c.msg)
	}
	// The largest body whose stored task fits is accepted; one byte more is not.
	named := func(n int) *cloudtaskspb.Task {
		return withTask(func(t *cloudtaskspb.Task) { t.Name = parent + "/tasks/t"; t.GetHttpRequest().Body = make([]byte, n) })
	}
	fits := func(n int) bool { _, err := s.newTask(parent, named(n), now); return err == nil }
	lo, hi := 0, maxTaskSize // fits(lo) && !fits(hi)
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	stored, err := s.newTask(parent, named(lo), now)
	if err != nil || proto.Size(stored.Task) > maxTaskSize || proto.Size(stored.Task) < maxTaskSize-3 {
		t.Errorf("largest accepted task: stored size %d, err %v; want just under %d", proto.Size(stored.Task), err, maxTaskSize)
	}
}
