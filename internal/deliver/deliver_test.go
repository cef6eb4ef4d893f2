package deliver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/oidc"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// fasthttp's sweepers of idle connections sleep out their period (up to
// 10 seconds) after the last connection closes.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"))
}

// eta is the schedule time of the test tasks; its X-CloudTasks-TaskETA is
// "1721236265.266817" (nanoseconds beyond the microsecond dropped).
var eta = time.Unix(1721236265, 266817999)

func newDeliverer(t *testing.T, cfg deliver.Config) *deliver.Deliverer {
	d := deliver.New(cfg)
	t.Cleanup(d.Close)
	return d
}

func httpTask(url string, edit func(*cloudtaskspb.HttpRequest)) *cloudtaskspb.Task {
	hr := &cloudtaskspb.HttpRequest{Url: url, HttpMethod: cloudtaskspb.HttpMethod_POST,
		Headers: map[string]string{"User-Agent": "Google-Cloud-Tasks"}, Body: []byte("payload")}
	if edit != nil {
		edit(hr)
	}
	return &cloudtaskspb.Task{
		Name:             "projects/p/locations/l/queues/q1/tasks/t1",
		MessageType:      &cloudtaskspb.Task_HttpRequest{HttpRequest: hr},
		ScheduleTime:     timestamppb.New(eta),
		DispatchDeadline: durationpb.New(30 * time.Second),
	}
}

func appEngineTask(edit func(*cloudtaskspb.AppEngineHttpRequest)) *cloudtaskspb.Task {
	ae := &cloudtaskspb.AppEngineHttpRequest{
		HttpMethod:       cloudtaskspb.HttpMethod_POST,
		AppEngineRouting: &cloudtaskspb.AppEngineRouting{Service: "worker", Host: "worker.p.appspot.com"},
		RelativeUri:      "/ae/work?y=2",
		Headers: map[string]string{"User-Agent": "AppEngine-Google; (+http://code.google.com/appengine)",
			"Content-Type": "application/octet-stream", "Content-Length": "7"},
		Body: []byte("payload"),
	}
	if edit != nil {
		edit(ae)
	}
	return &cloudtaskspb.Task{
		Name:         "projects/p/locations/l/queues/q1/tasks/t1",
		MessageType:  &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: ae},
		ScheduleTime: timestamppb.New(eta),
	}
}

// first is a first attempt of t in queue q (nil: a queue without
// overrides).
func first(q *cloudtaskspb.Queue, t *cloudtaskspb.Task) *deliver.Attempt {
	if q == nil {
		q = &cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/q1"}
	}
	return &deliver.Attempt{Queue: q, Task: t, QueueID: "q1", TaskID: "t1"}
}

// retry is attempt retryCount+1 of t after a previous attempt that ended
// with prev.
func retry(t *cloudtaskspb.Task, retryCount, execCount int32, prev deliver.Result) *deliver.Attempt {
	a := first(nil, t)
	a.RetryCount, a.ExecutionCount = retryCount, execCount
	a.Previous = &cloudtaskspb.Attempt{ResponseStatus: deliver.ResponseStatus(prev)}
	return a
}

// wantWire fails unless r carries each header of want exactly once, under
// exactly that name and with exactly that value, and none of absent in
// any casing.
func wantWire(t *testing.T, r wireRequest, want map[string]string, absent ...string) {
	t.Helper()
	for k, v := range want {
		if names, vs := r.named(k), r.get(k); !slices.Equal(names, []string{k}) || !slices.Equal(vs, []string{v}) {
			t.Errorf("header %q: sent as %q with values %q; want once as %q: %q", k, names, vs, k, v)
		}
	}
	for _, k := range absent {
		if names := r.named(k); len(names) > 0 {
			t.Errorf("header %q sent (%q); want none", k, names)
		}
	}
}

// received returns what a target reported on ch. Targets report before
// they answer and Deliver has returned, so it is there now or never came.
func received[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	default:
		t.Fatal("the target received no request")
	}
	var zero T
	return zero
}

// TestWireHeadersHTTP checks the bytes an HTTP target receives (spec
// 5.2): the X-CloudTasks-* names in their exact casing and formats, the
// task's own headers with their casing, and the reserved ones dropped or
// replaced.
func TestWireHeadersHTTP(t *testing.T) {
	addr, reqs := wireTarget(t, 200)
	d := newDeliverer(t, deliver.Config{})
	task := httpTask("http://"+addr+"/hook?x=1", func(hr *cloudtaskspb.HttpRequest) {
		hr.Headers = map[string]string{
			"User-Agent": "mine/1.0", "content-type": "application/json", "x-Custom": "v", "Authorization": "Basic abc",
			"X-CloudTasks-TaskName": "spoofed", "x-cloudtasks-queuename": "spoofed", "X-CloudTasks-TaskRetryCount": "9",
			"X-Google-Secret": "s", "X-AppEngine-Country": "ZZ", "Host": "evil.example", "Content-Length": "999",
		}
	})
	if res := d.Deliver(t.Context(), first(nil, task)); res.Status != 200 || !res.Succeeded() || res.Err != nil {
		t.Fatalf("Deliver = %+v, want 200", res)
	}
	r := received(t, reqs)
	if r.line != "POST /hook?x=1 HTTP/1.1" || string(r.body) != "payload" {
		t.Fatalf("request %q with body %q", r.line, r.body)
	}
	wantWire(t, r, map[string]string{
		"Host":                            addr,
		"Content-Length":                  "7",
		"User-Agent":                      "Google-Cloud-Tasks",
		"Accept-Encoding":                 "gzip",
		"X-CloudTasks-QueueName":          "q1",
		"X-CloudTasks-TaskName":           "t1",
		"X-CloudTasks-TaskRetryCount":     "0",
		"X-CloudTasks-TaskExecutionCount": "0",
		"X-CloudTasks-TaskETA":            "1721236265.266817",
		"content-type":                    "application/json",
		"x-Custom":                        "v",
		"Authorization":                   "Basic abc",
	}, "X-CloudTasks-TaskPreviousResponse", "X-CloudTasks-TaskRetryReason", "X-Google-Secret", "X-AppEngine-Country")

	// Retries carry the previous response and an empty retry reason; a
	// deadline counts as 504.
	for _, c := range []struct {
		prev     deliver.Result
		wantPrev string
	}{{deliver.Result{Status: 404}, "404"}, {deliver.Result{Status: 503}, "503"}, {deliver.Result{TimedOut: true}, "504"}} {
		d.Deliver(t.Context(), retry(task, 3, 2, c.prev))
		wantWire(t, received(t, reqs), map[string]string{
			"X-CloudTasks-TaskRetryCount":       "3",
			"X-CloudTasks-TaskExecutionCount":   "2",
			"X-CloudTasks-TaskPreviousResponse": c.wantPrev,
			"X-CloudTasks-TaskRetryReason":      "",
		})
	}
}

// TestWireHeadersAppEngine: App Engine tasks go to the configured host
// with the routing host as Host, the X-AppEngine-* set and the App Engine
// User-Agent (spec 5.2).
func TestWireHeadersAppEngine(t *testing.T) {
	addr, reqs := wireTarget(t, 200)
	d := newDeliverer(t, deliver.Config{AppEngineHost: addr})
	const aeUA = "AppEngine-Google; (+http://code.google.com/appengine)"
	task := appEngineTask(func(ae *cloudtaskspb.AppEngineHttpRequest) {
		ae.Headers["X-AppEngine-QueueName"] = "spoofed"
		ae.Headers["X-AppEngine-Country"] = "ZZ"
		ae.Headers["X-AppEngine-FailFast"] = "true"
		ae.Headers["X-Google-Secret"] = "s"
		ae.Headers["Host"] = "evil.example"
	})
	if res := d.Deliver(t.Context(), first(nil, task)); res.Status != 200 || !res.AppEngine {
		t.Fatalf("Deliver = %+v, want 200 from App Engine", res)
	}
	r := received(t, reqs)
	if r.line != "POST /ae/work?y=2 HTTP/1.1" || string(r.body) != "payload" {
		t.Fatalf("request %q with body %q", r.line, r.body)
	}
	wantWire(t, r, map[string]string{
		"Host":                           "worker.p.appspot.com",
		"Content-Length":                 "7",
		"Content-Type":                   "application/octet-stream",
		"User-Agent":                     aeUA,
		"X-AppEngine-QueueName":          "q1",
		"X-AppEngine-TaskName":           "t1",
		"X-AppEngine-TaskRetryCount":     "0",
		"X-AppEngine-TaskExecutionCount": "0",
		"X-AppEngine-TaskETA":            "1721236265.266817",
		"X-AppEngine-FailFast":           "true",
	}, "X-AppEngine-TaskPreviousResponse", "X-AppEngine-TaskRetryReason", "X-Google-Secret", "X-CloudTasks-TaskName", "X-AppEngine-Country")

	// The queue's routing override wins; a user agent of the task's own is
	// kept, followed by App Engine's.
	q := &cloudtaskspb.Queue{AppEngineRoutingOverride: &cloudtaskspb.AppEngineRouting{Service: "other", Host: "other.p.appspot.com"}}
	mine := appEngineTask(func(ae *cloudtaskspb.AppEngineHttpRequest) { ae.Headers["User-Agent"] = "mine/2" })
	d.Deliver(t.Context(), first(q, mine))
	wantWire(t, received(t, reqs), map[string]string{"Host": "other.p.appspot.com", "User-Agent": "mine/2 " + aeUA})

	// Retries: "App Error" after a response, "Instance Unavailable" and 0
	// after a timeout.
	for _, c := range []struct {
		prev             deliver.Result
		wantPrev, reason string
	}{{deliver.Result{Status: 500, AppEngine: true}, "500", "App Error"}, {deliver.Result{TimedOut: true, AppEngine: true}, "0", "Instance Unavailable"}} {
		d.Deliver(t.Context(), retry(task, 2, 2, c.prev))
		wantWire(t, received(t, reqs), map[string]string{
			"X-AppEngine-TaskRetryCount":       "2",
			"X-AppEngine-TaskPreviousResponse": c.wantPrev,
			"X-AppEngine-TaskRetryReason":      c.reason,
		})
	}
}

// seen is a request as an httptest target read it.
type seen struct {
	method, path, query, host string
	header                    http.Header
	body                      string
}

// target starts an httptest server answering status and reporting every
// request.
func target(t *testing.T, status int) (*httptest.Server, <-chan seen) {
	ch := make(chan seen, 16)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Clone(), string(b)}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s, ch
}

// fakeTokens mints fixed tokens and records what it was asked for.
type fakeTokens struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeTokens) IDToken(email, audience string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "oidc "+email+" "+audience)
	return "id-token", nil
}

func (f *fakeTokens) AccessToken(_ context.Context, email, scope string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "oauth "+email+" "+scope)
	return "access-token", nil
}

func (f *fakeTokens) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

// TestURIOverride applies the queue's uri_override in both modes (spec
// 3.7); the OIDC audience defaults to the URL after the override.
func TestURIOverride(t *testing.T) {
	srv, reqs := target(t, 200)
	port := int64(srv.Listener.Addr().(*net.TCPAddr).Port)
	tokens := &fakeTokens{}
	d := newDeliverer(t, deliver.Config{Tokens: tokens})
	scheme := func(s cloudtaskspb.UriOverride_Scheme) *cloudtaskspb.UriOverride_Scheme { return &s }
	for _, c := range []struct {
		name, url string
		o         *cloudtaskspb.UriOverride
		path, q   string
	}{
		{"always replaces everything", "https://origin.invalid:9/orig?x=1", &cloudtaskspb.UriOverride{
			Scheme: scheme(cloudtaskspb.UriOverride_HTTP), Host: proto.String("127.0.0.1"), Port: proto.Int64(port),
			PathOverride: &cloudtaskspb.PathOverride{Path: "/over"}, QueryOverride: &cloudtaskspb.QueryOverride{QueryParams: "a=b"},
			UriOverrideEnforceMode: cloudtaskspb.UriOverride_ALWAYS}, "/over", "a=b"},
		{"unspecified mode is always; empty path and query clear", fmt.Sprintf("http://127.0.0.1:%d/orig?x=1", port), &cloudtaskspb.UriOverride{
			PathOverride: &cloudtaskspb.PathOverride{}, QueryOverride: &cloudtaskspb.QueryOverride{}}, "/", ""},
		{"path without a slash", fmt.Sprintf("http://127.0.0.1:%d/orig", port), &cloudtaskspb.UriOverride{
			PathOverride: &cloudtaskspb.PathOverride{Path: "rel/x"}}, "/rel/x", ""},
		{"if not exists keeps the task's parts and fills its missing port", "http://127.0.0.1/keep?k=v", &cloudtaskspb.UriOverride{
			Scheme: scheme(cloudtaskspb.UriOverride_HTTPS), Host: proto.String("elsewhere.invalid"), Port: proto.Int64(port),
			PathOverride: &cloudtaskspb.PathOverride{Path: "/p"}, QueryOverride: &cloudtaskspb.QueryOverride{QueryParams: "q=1"},
			UriOverrideEnforceMode: cloudtaskspb.UriOverride_IF_NOT_EXISTS}, "/keep", "k=v"},
		{"if not exists fills a missing path and query", fmt.Sprintf("http://127.0.0.1:%d", port), &cloudtaskspb.UriOverride{
			PathOverride: &cloudtaskspb.PathOverride{Path: "/p"}, QueryOverride: &cloudtaskspb.QueryOverride{QueryParams: "q=1"},
			UriOverrideEnforceMode: cloudtaskspb.UriOverride_IF_NOT_EXISTS}, "/p", "q=1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			task := httpTask(c.url, func(hr *cloudtaskspb.HttpRequest) {
				hr.AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: "sa@p"}}
			})
			q := &cloudtaskspb.Queue{HttpTarget: &cloudtaskspb.HttpTarget{UriOverride: c.o}}
			if res := d.Deliver(t.Context(), first(q, task)); res.Status != 200 {
				t.Fatalf("Deliver = %+v", res)
			}
			got := received(t, reqs)
			if got.path != c.path || got.query != c.q {
				t.Fatalf("target got %s?%s, want %s?%s", got.path, got.query, c.path, c.q)
			}
			final := srv.URL + c.path
			if c.path == "/" {
				final = srv.URL // an emptied path stays empty in the URL
			}
			if c.q != "" {
				final += "?" + c.q
			}
			if want := "oidc sa@p " + final; tokens.last() != want {
				t.Fatalf("token minted as %q, want %q", tokens.last(), want)
			}
		})
	}
}

// TestHTTPMethodOverride: the queue's http_method wins, and GET drops the
// task's body. A bodiless DELETE carries Content-Length: 0 (fasthttp frames
// every request but GET and HEAD), where net/http sent none.
func TestHTTPMethodOverride(t *testing.T) {
	srv, reqs := target(t, 200)
	d := newDeliverer(t, deliver.Config{})
	for _, c := range []struct {
		queue, task      cloudtaskspb.HttpMethod
		body             string
		wantM, wantBody  string
		wantContentLen   int64
		wantContentLenOK bool
	}{
		{cloudtaskspb.HttpMethod_GET, cloudtaskspb.HttpMethod_POST, "payload", "GET", "", 0, false},
		{cloudtaskspb.HttpMethod_PATCH, cloudtaskspb.HttpMethod_POST, "payload", "PATCH", "payload", 7, true},
		{cloudtaskspb.HttpMethod_PUT, cloudtaskspb.HttpMethod_GET, "", "PUT", "", 0, true},
		{cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED, cloudtaskspb.HttpMethod_DELETE, "", "DELETE", "", 0, true},
	} {
		task := httpTask(srv.URL+"/m", func(hr *cloudtaskspb.HttpRequest) { hr.HttpMethod, hr.Body = c.task, []byte(c.body) })
		q := &cloudtaskspb.Queue{HttpTarget: &cloudtaskspb.HttpTarget{HttpMethod: c.queue}}
		if res := d.Deliver(t.Context(), first(q, task)); res.Status != 200 {
			t.Fatalf("%v over %v: Deliver = %+v", c.queue, c.task, res)
		}
		got := received(t, reqs)
		_, hasLen := got.header["Content-Length"]
		if got.method != c.wantM || got.body != c.wantBody || hasLen != c.wantContentLenOK {
			t.Errorf("%v over %v: target got %s with body %q (Content-Length sent: %v); want %s %q (%v)",
				c.queue, c.task, got.method, got.body, hasLen, c.wantM, c.wantBody, c.wantContentLenOK)
		}
	}
}

// TestHeaderOverrides: the queue's header_overrides replace the task's
// headers of the same name in any case, but cannot set reserved ones.
func TestHeaderOverrides(t *testing.T) {
	addr, reqs := wireTarget(t, 200)
	d := newDeliverer(t, deliver.Config{})
	task := httpTask("http://"+addr+"/h", func(hr *cloudtaskspb.HttpRequest) {
		hr.Headers = map[string]string{"x-env": "dev", "X-Keep": "k", "User-Agent": "Google-Cloud-Tasks"}
	})
	var overrides []*cloudtaskspb.HttpTarget_HeaderOverride
	for _, kv := range [][2]string{{"X-Env", "prod"}, {"Content-Type", "application/json"},
		{"X-CloudTasks-QueueName", "spoofed"}, {"User-Agent", "spoofed"}, {"X-Google-Thing", "spoofed"}, {"Host", "evil.example"}} {
		overrides = append(overrides, &cloudtaskspb.HttpTarget_HeaderOverride{Header: &cloudtaskspb.HttpTarget_Header{Key: kv[0], Value: kv[1]}})
	}
	q := &cloudtaskspb.Queue{HttpTarget: &cloudtaskspb.HttpTarget{HeaderOverrides: overrides}}
	d.Deliver(t.Context(), first(q, task))
	wantWire(t, received(t, reqs), map[string]string{
		"X-Env": "prod", "X-Keep": "k", "Content-Type": "application/json",
		"X-CloudTasks-QueueName": "q1", "User-Agent": "Google-Cloud-Tasks", "Host": addr,
	}, "X-Google-Thing")
}

// TestAuthorization: tokens replace any Authorization of the task's, and
// the queue's token settings replace the task's (spec 3.7, 5.3).
func TestAuthorization(t *testing.T) {
	addr, reqs := wireTarget(t, 200)
	u := "http://" + addr + "/auth"
	oidcTok := func(email, aud string) *cloudtaskspb.OidcToken {
		return &cloudtaskspb.OidcToken{ServiceAccountEmail: email, Audience: aud}
	}
	oauthTok := func(email, scope string) *cloudtaskspb.OAuthToken {
		return &cloudtaskspb.OAuthToken{ServiceAccountEmail: email, Scope: scope}
	}
	for _, c := range []struct {
		name      string
		task      func(*cloudtaskspb.HttpRequest)
		queue     *cloudtaskspb.HttpTarget
		auth, tok string
	}{
		{"task oidc, audience defaults to the URL", func(hr *cloudtaskspb.HttpRequest) {
			hr.AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: oidcTok("a@p", "")}
		}, nil, "Bearer id-token", "oidc a@p " + u},
		{"task oidc with audience", func(hr *cloudtaskspb.HttpRequest) {
			hr.AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: oidcTok("a@p", "https://aud")}
		}, nil, "Bearer id-token", "oidc a@p https://aud"},
		{"task oauth, default scope", func(hr *cloudtaskspb.HttpRequest) {
			hr.AuthorizationHeader = &cloudtaskspb.HttpRequest_OauthToken{OauthToken: oauthTok("b@p", "")}
		}, nil, "Bearer access-token", "oauth b@p https://www.googleapis.com/auth/cloud-platform"},
		{"queue oauth over task oidc", func(hr *cloudtaskspb.HttpRequest) {
			hr.AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: oidcTok("a@p", "")}
		}, &cloudtaskspb.HttpTarget{AuthorizationHeader: &cloudtaskspb.HttpTarget_OauthToken{OauthToken: oauthTok("q@p", "scope-q")}},
			"Bearer access-token", "oauth q@p scope-q"},
		{"queue oidc over task oauth", func(hr *cloudtaskspb.HttpRequest) {
			hr.AuthorizationHeader = &cloudtaskspb.HttpRequest_OauthToken{OauthToken: oauthTok("b@p", "")}
		}, &cloudtaskspb.HttpTarget{AuthorizationHeader: &cloudtaskspb.HttpTarget_OidcToken{OidcToken: oidcTok("q@p", "https://q-aud")}},
			"Bearer id-token", "oidc q@p https://q-aud"},
		{"queue oidc over a task without token", nil,
			&cloudtaskspb.HttpTarget{AuthorizationHeader: &cloudtaskspb.HttpTarget_OidcToken{OidcToken: oidcTok("q@p", "")}},
			"Bearer id-token", "oidc q@p " + u},
		{"no token keeps the task's header", nil, nil, "Basic task", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tokens := &fakeTokens{}
			d := newDeliverer(t, deliver.Config{Tokens: tokens})
			task := httpTask(u, func(hr *cloudtaskspb.HttpRequest) {
				hr.Headers["authorization"] = "Basic task"
				if c.task != nil {
					c.task(hr)
				}
			})
			d.Deliver(t.Context(), first(&cloudtaskspb.Queue{HttpTarget: c.queue}, task))
			r := received(t, reqs)
			name := "Authorization"
			if c.tok == "" {
				name = "authorization" // the task's own, as it was sent
			}
			wantWire(t, r, map[string]string{name: c.auth})
			if tokens.last() != c.tok {
				t.Fatalf("minted %q, want %q", tokens.last(), c.tok)
			}
		})
	}
}

// TestDeadline: the dispatch deadline is the attempt's timeout; a
// timeout is a DEADLINE_EXCEEDED attempt with HTTP status 504.
func TestDeadline(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	d := newDeliverer(t, deliver.Config{})
	task := httpTask(srv.URL+"/slow", func(*cloudtaskspb.HttpRequest) {})
	task.DispatchDeadline = durationpb.New(50 * time.Millisecond)
	res := d.Deliver(t.Context(), first(nil, task))
	if !res.TimedOut || res.Status != 0 || res.Err == nil {
		t.Fatalf("Deliver = %+v, want a timeout", res)
	}
	if len(arrived) != 1 {
		t.Fatal("the attempt timed out before reaching the target")
	}
	<-arrived
	if st := deliver.ResponseStatus(res); st.GetCode() != 4 || st.GetMessage() != "DEADLINE_EXCEEDED(4): HTTP status code 504" {
		t.Fatalf("response_status %v", st)
	}
	// Close (the dispatcher stopping) ends an attempt in flight, and that
	// is not a timeout.
	go func() {
		<-arrived
		d.Close()
	}()
	task.DispatchDeadline = durationpb.New(time.Minute)
	if res := d.Deliver(t.Context(), first(nil, task)); res.TimedOut || res.Status != 0 || res.Err == nil {
		t.Fatalf("Deliver ended by Close = %+v, want no response and no timeout", res)
	}
	if got := deliver.Deadline(&cloudtaskspb.Task{}); got != 10*time.Minute {
		t.Fatalf("default deadline %v, want 10m", got)
	}
}

// TestRetryAfter: a 429 or 503 reports the delay its Retry-After asks
// for, in seconds or as an HTTP date; other statuses report none.
func TestRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", r.URL.Query().Get("after"))
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	d := newDeliverer(t, deliver.Config{})
	inAnHour := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		status   int
		after    string
		min, max time.Duration
	}{
		{503, "120", 120 * time.Second, 120 * time.Second},
		{429, "7", 7 * time.Second, 7 * time.Second},
		{503, inAnHour, time.Hour - 2*time.Second, time.Hour},
		{429, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		{503, "soon", 0, 0},
		{429, "0", 0, 0},
		{503, "", 0, 0},
		{500, "120", 0, 0},
		{200, "120", 0, 0},
	} {
		u := srv.URL + "/?" + url.Values{"status": {strconv.Itoa(c.status)}, "after": {c.after}}.Encode()
		res := d.Deliver(t.Context(), first(nil, httpTask(u, nil)))
		if res.Status != c.status || res.RetryAfter < c.min || res.RetryAfter > c.max {
			t.Errorf("%d with Retry-After %q: status %d, RetryAfter %v; want within [%v, %v]", c.status, c.after, res.Status, res.RetryAfter, c.min, c.max)
		}
	}
}

// TestRedirects: HTTP targets follow redirects (one attempt), App Engine
// targets do not (spec 5.1).
func TestRedirects(t *testing.T) {
	var followed atomic.Int32
	retryCount := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/from", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/to", http.StatusFound) })
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		retryCount <- r.Header.Get("X-CloudTasks-TaskRetryCount")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d := newDeliverer(t, deliver.Config{AppEngineHost: srv.Listener.Addr().String()})
	if res := d.Deliver(t.Context(), first(nil, httpTask(srv.URL+"/from", nil))); res.Status != 200 {
		t.Fatalf("HTTP target: Deliver = %+v, want the redirect followed to a 200", res)
	}
	if got := received(t, retryCount); got != "0" {
		t.Fatalf("redirected request carried TaskRetryCount %q, want the attempt's headers", got)
	}
	task := appEngineTask(func(ae *cloudtaskspb.AppEngineHttpRequest) { ae.RelativeUri = "/from" })
	if res := d.Deliver(t.Context(), first(nil, task)); res.Status != http.StatusFound || res.Succeeded() {
		t.Fatalf("App Engine target: Deliver = %+v, want the 302 itself", res)
	}
	if n := followed.Load(); n != 1 {
		t.Fatalf("/to reached %d times, want once (HTTP target only)", n)
	}
}

// TestResponseStatus: the HTTP status of a real response and its
// response_status in Cloud Tasks' format (spec 4.1).
func TestResponseStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(s)
	}))
	t.Cleanup(srv.Close)
	d := newDeliverer(t, deliver.Config{})
	for status, want := range map[int]string{
		200: "OK(0)", 204: "OK(0)",
		400: "INVALID_ARGUMENT(3)", 401: "UNAUTHENTICATED(16)", 403: "PERMISSION_DENIED(7)", 404: "NOT_FOUND(5)",
		409: "ABORTED(10)", 429: "RESOURCE_EXHAUSTED(8)", 499: "CANCELLED(1)", 418: "FAILED_PRECONDITION(9)",
		410: "FAILED_PRECONDITION(9)", 500: "INTERNAL(13)", 501: "UNIMPLEMENTED(12)", 502: "INTERNAL(13)",
		503: "UNAVAILABLE(14)", 504: "DEADLINE_EXCEEDED(4)", 505: "INTERNAL(13)",
	} {
		res := d.Deliver(t.Context(), first(nil, httpTask(srv.URL+"/"+strconv.Itoa(status), nil)))
		if res.Status != status || res.Succeeded() != (status < 300) {
			t.Errorf("status %d: Deliver = %+v", status, res)
		}
		st := deliver.ResponseStatus(res)
		code, _ := strconv.Atoi(want[strings.Index(want, "(")+1 : len(want)-1])
		if msg := fmt.Sprintf("%s: HTTP status code %d", want, status); st.GetMessage() != msg || st.GetCode() != int32(code) {
			t.Errorf("status %d: response_status {%d, %q}, want {%d, %q}", status, st.GetCode(), st.GetMessage(), code, msg)
		}
	}
}

// TestNoResponse: a refused connection is an attempt without a response.
func TestNoResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := newDeliverer(t, deliver.Config{})
	res := d.Deliver(t.Context(), first(nil, httpTask("http://"+addr+"/", nil)))
	if res.Status != 0 || res.Err == nil || res.TimedOut || res.Succeeded() {
		t.Fatalf("Deliver to a closed port = %+v, want an error without a response", res)
	}
	// A malformed percent-escape is accepted at create and fails here.
	if res := d.Deliver(t.Context(), first(nil, httpTask("http://"+addr+"/%zz", nil))); res.Err == nil || res.Status != 0 {
		t.Fatalf("Deliver to a malformed URL = %+v, want an error", res)
	}
}

// TestOIDCAudienceAfterOverride: with the real signer, the token a target
// receives verifies against the server's JWKS and is addressed to the URL
// actually called, after the queue's uri_override.
func TestOIDCAudienceAfterOverride(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	signer, err := oidc.NewSigner(t.Context(), st, "http://opentasks.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, reqs := target(t, 200)
	d := newDeliverer(t, deliver.Config{Tokens: oidc.Tokens{Signer: signer}})
	task := httpTask("http://origin.invalid/orig", func(hr *cloudtaskspb.HttpRequest) {
		hr.AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: "sa@p.iam.gserviceaccount.com"}}
	})
	port := int64(srv.Listener.Addr().(*net.TCPAddr).Port)
	q := &cloudtaskspb.Queue{HttpTarget: &cloudtaskspb.HttpTarget{UriOverride: &cloudtaskspb.UriOverride{
		Host: proto.String("127.0.0.1"), Port: proto.Int64(port), PathOverride: &cloudtaskspb.PathOverride{Path: "/final"}}}}
	if res := d.Deliver(t.Context(), first(q, task)); res.Status != 200 {
		t.Fatalf("Deliver = %+v", res)
	}
	raw, ok := strings.CutPrefix(received(t, reqs).header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatal("no bearer token")
	}
	rec := httptest.NewRecorder()
	signer.JWKS().ServeHTTP(rec, httptest.NewRequest("GET", oidc.JWKSPath, nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.Claims(set, &c); err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	// The scheme is the task's: the override names none.
	if want := srv.URL + "/final"; !slices.Equal(c.Audience, jwt.Audience{want}) || c.Issuer != "http://opentasks.test" {
		t.Fatalf("aud %v iss %q, want [%s] and the configured issuer", c.Audience, c.Issuer, want)
	}
}
