package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/metrics"
)

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t   *testing.T
	c   *http.Client
	url string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.url+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(text)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf loads a page and returns the token its forms carry.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, page := b.do("GET", path, nil)
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF field on %s", path)
	}
	return m[1]
}

const demoQueue = "projects/demo/locations/us-central1/queues/orders"

func TestPagesShowQueuesTasksAndDecodedBodies(t *testing.T) {
	s := newStack(t, nil)
	s.queue(t, demoQueue, true)
	s.queue(t, "projects/other/locations/europe-west1/queues/mail", false)
	task := s.task(t, demoQueue, httpTask("http://127.0.0.1:1/hook", `{"order":42,"items":["a"]}`))
	b := newBrowser(t, s.URL)

	resp, page := b.do("GET", "/console/", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("queues page: %d", resp.StatusCode)
	}
	for _, want := range []string{">orders</a>", ">mail</a>", "state-paused", "state-running", "2 queues in 2 locations", "Content-Security-Policy"} {
		if want == "Content-Security-Policy" {
			if resp.Header.Get(want) == "" {
				t.Errorf("no %s header", want)
			}
			continue
		}
		if !strings.Contains(page, want) {
			t.Errorf("queues page lacks %q", want)
		}
	}
	// The paused queue offers Resume, the running one Pause.
	if !strings.Contains(page, demoQueue+`/resume"`) || !strings.Contains(page, "queues/mail/pause\"") {
		t.Error("queues page: pause/resume actions do not follow the state")
	}

	_, page = b.do("GET", "/console/"+demoQueue, nil)
	id := lastSegment(task.GetName())
	for _, want := range []string{`id="t-` + id + `"`, "http://127.0.0.1:1/hook", "Max dispatches per second", "Pending"} {
		if !strings.Contains(page, want) {
			t.Errorf("queue page lacks %q", want)
		}
	}
	_, page = b.do("GET", "/console/"+demoQueue+"?state=retrying", nil)
	if strings.Contains(page, `id="t-`+id+`"`) {
		t.Error("retrying filter shows a task never attempted")
	}

	_, page = b.do("GET", "/console/"+task.GetName(), nil)
	if !strings.Contains(page, "&#34;order&#34;: 42,\n  &#34;items&#34;") {
		t.Errorf("task page does not show the JSON body indented:\n%s", page)
	}

	resp, page = b.do("GET", "/console/"+demoQueue+"/tasks/nope", nil)
	if resp.StatusCode != 404 || !strings.Contains(page, "no longer in its queue") {
		t.Errorf("missing task: %d", resp.StatusCode)
	}
	resp, _ = b.do("GET", "/console/"+demoQueue+"/tasks/nope", nil, liveHeader, "1")
	if resp.StatusCode != 200 {
		t.Errorf("missing task, live update: %d, want 200", resp.StatusCode)
	}
	resp, page = b.do("GET", "/console/projects/demo/locations/us-central1/queues/nope", nil)
	if resp.StatusCode != 404 || !strings.Contains(page, "Queue does not exist") {
		t.Errorf("missing queue: %d %s", resp.StatusCode, page)
	}
}

func TestActionsNeedTheFormsToken(t *testing.T) {
	s := newStack(t, nil)
	s.queue(t, demoQueue, false)
	b := newBrowser(t, s.URL)
	tok := b.csrf("/console/")
	paused := func() bool {
		q, err := s.api.GetQueue(context.Background(), &cloudtaskspb.GetQueueRequest{Name: demoQueue})
		if err != nil {
			t.Fatal(err)
		}
		return q.GetState() == cloudtaskspb.Queue_PAUSED
	}

	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", url.Values{"back": {"/console/"}}, nil},
		{"wrong token", url.Values{"csrf": {strings.Repeat("A", len(tok))}}, nil},
		{"cross-site", url.Values{"csrf": {tok}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"other origin", url.Values{"csrf": {tok}}, []string{"Origin", "https://evil.example"}},
	} {
		resp, _ := b.do("POST", "/console/"+demoQueue+"/pause", tc.form, tc.hdr...)
		if resp.StatusCode != http.StatusForbidden || paused() {
			t.Errorf("%s: status %d, paused %v; want 403 and running", tc.name, resp.StatusCode, paused())
		}
	}
	resp, _ := b.do("POST", "/console/"+demoQueue+"/pause", url.Values{"csrf": {tok}, "back": {"/console/"}}, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" || !paused() {
		t.Fatalf("pause with the token: %d to %q, paused %v", resp.StatusCode, resp.Header.Get("Location"), paused())
	}
	// The action's message shows once, on the next page.
	_, page := b.do("GET", "/console/", nil)
	if !strings.Contains(page, "Paused queue orders.") {
		t.Error("no message after pausing")
	}
	_, page = b.do("GET", "/console/", nil)
	if strings.Contains(page, "Paused queue orders.") {
		t.Error("the message shows twice")
	}
	// A redirect target outside the console is not followed.
	resp, _ = b.do("POST", "/console/"+demoQueue+"/resume", url.Values{"csrf": {tok}, "back": {"//evil.example/"}})
	if loc := resp.Header.Get("Location"); loc != "/console/" {
		t.Errorf("resume redirected to %q", loc)
	}
}

func TestFormsReportAPIErrorsAndKeepInput(t *testing.T) {
	s := newStack(t, nil)
	s.queue(t, demoQueue, true)
	b := newBrowser(t, s.URL)
	tok := b.csrf("/console/")

	resp, page := b.do("POST", "/console/queues", url.Values{"csrf": {tok}, "project": {"demo"}, "location": {"us-central1"}, "id": {"orders"}, "rate": {"7"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "Queue already exists") || !strings.Contains(page, `name="rate" value="7"`) {
		t.Errorf("duplicate queue: %d", resp.StatusCode)
	}
	resp, page = b.do("POST", "/console/queues", url.Values{"csrf": {tok}, "project": {"demo"}, "location": {"us-central1"}, "id": {"x"}, "rate": {"fast"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `max dispatches per second &#34;fast&#34; is not a number`) {
		t.Errorf("bad rate: %d", resp.StatusCode)
	}
	resp, page = b.do("POST", "/console/"+demoQueue+"/tasks", url.Values{"csrf": {tok}, "url": {"ftp://x"}, "method": {"POST"}, "body": {"kept body"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "kept body</textarea>") || !strings.Contains(page, `role="alert"`) {
		t.Errorf("bad task URL: %d", resp.StatusCode)
	}
	resp, page = b.do("POST", "/console/"+demoQueue+"/tasks", url.Values{"csrf": {tok}, "url": {"http://x/"}, "method": {"POST"}, "body": {strings.Repeat("x", 3<<20)}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "at most 2 MiB") {
		t.Errorf("a 3 MiB form: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/console/queues", url.Values{"csrf": {tok}, "project": {"demo"}, "location": {"us-central1"}, "id": {"fresh"}, "rate": {"2.5"}, "max_concurrent": {"3"}, "max_attempts": {"4"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/projects/demo/locations/us-central1/queues/fresh" {
		t.Fatalf("create queue: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	q, err := s.api.GetQueue(context.Background(), &cloudtaskspb.GetQueueRequest{Name: "projects/demo/locations/us-central1/queues/fresh"})
	if err != nil || q.GetRateLimits().GetMaxDispatchesPerSecond() != 2.5 || q.GetRateLimits().GetMaxConcurrentDispatches() != 3 || q.GetRetryConfig().GetMaxAttempts() != 4 {
		t.Errorf("created queue %v, %v", q, err)
	}
}

func TestTaskFormBuildsTheTask(t *testing.T) {
	f := taskForm{URL: "http://x/y", Method: "PUT", Headers: "Content-Type: text/plain\n\n X-A : b:c ", Body: "hi", Schedule: "2030-01-02T03:04", TZ: "-60"}
	task, err := f.task(demoQueue)
	if err != nil {
		t.Fatal(err)
	}
	h := task.GetHttpRequest()
	if h.GetHttpMethod() != cloudtaskspb.HttpMethod_PUT || h.GetHeaders()["X-A"] != "b:c" || h.GetHeaders()["Content-Type"] != "text/plain" || string(h.GetBody()) != "hi" {
		t.Errorf("request %v", h)
	}
	// 03:04 at UTC+1 is 02:04 UTC.
	if got, want := task.GetScheduleTime().AsTime(), time.Date(2030, 1, 2, 2, 4, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("schedule %v, want %v", got, want)
	}
	for _, bad := range []taskForm{
		{Method: "FETCH"},
		{Method: "POST", Headers: "no colon"},
		{Method: "POST", Schedule: "tomorrow"},
		{Method: "POST", Schedule: "2030-01-02T03:04", TZ: "east"},
	} {
		if _, err := bad.task(demoQueue); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestStatesAndFormats(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := timestamppb.New(now)
	for _, tc := range []struct {
		task *cloudtaskspb.Task
		want taskState
	}{
		{&cloudtaskspb.Task{}, statePending},
		{&cloudtaskspb.Task{DispatchCount: 1, LastAttempt: &cloudtaskspb.Attempt{DispatchTime: ts}}, stateInFlight},
		{&cloudtaskspb.Task{DispatchCount: 1, LastAttempt: &cloudtaskspb.Attempt{DispatchTime: ts, ResponseTime: ts}}, stateRetrying},
	} {
		if got := stateOf(tc.task); got != tc.want {
			t.Errorf("stateOf(%v) = %v, want %v", tc.task, got, tc.want)
		}
	}
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5s", 200 * time.Second: "3m 20s", 2*time.Hour + 5*time.Minute: "2h 5m", 76 * time.Hour: "3d 4h",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
	if got := timeOf(now.Add(-90*time.Second), now).Rel; got != "1m 30s ago" {
		t.Errorf("relative time %q", got)
	}
	if got := timeOf(now.Add(10*time.Second), now).Rel; got != "in 10s" {
		t.Errorf("relative time %q", got)
	}
	svg := string(sparkline([]int64{0, 5, 10}))
	if !strings.Contains(svg, `points="0.0,26.0 60.0,14.0 120.0,2.0"`) || !strings.Contains(svg, "15 deliveries") {
		t.Errorf("sparkline %s", svg)
	}
	if sparkline(nil) != "" {
		t.Error("sparkline of nothing is not empty")
	}
	for in, want := range map[string]string{"/console/x?y=1": "/console/x?y=1", "https://evil/": "/console/", "//evil/": "/console/", "/console/\\evil": "/console/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q", in, got)
		}
	}
}

// principalKey carries the authenticated principal in tests.
type principalKey struct{}

// recordingAPI notes the principal of every ListQueues call.
type recordingAPI struct {
	cloudtaskspb.CloudTasksServer
	seen chan any
}

func (a recordingAPI) ListQueues(ctx context.Context, req *cloudtaskspb.ListQueuesRequest) (*cloudtaskspb.ListQueuesResponse, error) {
	if ctx.Value(principalKey{}) == nil {
		return nil, status.Error(codes.Unauthenticated, "no principal")
	}
	select {
	case a.seen <- ctx.Value(principalKey{}):
	default:
	}
	return a.CloudTasksServer.ListQueues(ctx, req)
}

func TestAuthenticationAsksForATokenAndKeepsItInACookie(t *testing.T) {
	seen := make(chan any, 16)
	s := newStack(t, func(c *Config) {
		c.API = recordingAPI{c.API, seen}
		c.Authenticate = func(r *http.Request) (context.Context, error) {
			if r.Header.Get("Authorization") != "Bearer good-token" {
				return nil, errors.New("unknown token")
			}
			return context.WithValue(r.Context(), principalKey{}, "alice"), nil
		}
	})
	s.queue(t, demoQueue, false)
	b := newBrowser(t, s.URL)

	resp, _ := b.do("GET", "/console/"+demoQueue, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login?next=%2Fconsole%2F"+url.QueryEscape(demoQueue) {
		t.Fatalf("unauthenticated: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok := b.csrf("/console/login")
	resp, page := b.do("POST", "/console/login", url.Values{"csrf": {tok}, "token": {"bad"}, "next": {"/console/"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "unknown token") {
		t.Errorf("bad token: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/console/login", url.Values{"token": {"good-token"}, "next": {"/console/"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/console/login", url.Values{"csrf": {tok}, "token": {"good-token"}, "next": {"/console/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("good token: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == tokenCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Value == "" {
		t.Fatalf("token cookie %+v", ck)
	}
	resp, page = b.do("GET", "/console/", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, ">orders</a>") || !strings.Contains(page, "Sign out") {
		t.Fatalf("signed in: %d", resp.StatusCode)
	}
	if got := <-seen; got != "alice" {
		t.Errorf("API called as %v, want alice", got)
	}
	resp, _ = b.do("POST", "/console/logout", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign out: %d", resp.StatusCode)
	}
	if resp, _ = b.do("GET", "/console/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after signing out: %d, want a redirect to sign in", resp.StatusCode)
	}
}

func TestStatsFillTheLiveNumbers(t *testing.T) {
	s := newStack(t, func(c *Config) {
		c.Metrics = fakeMetrics{c.Metrics, func(queue string) metrics.QueueStats {
			if queue != demoQueue {
				return metrics.QueueStats{}
			}
			return metrics.QueueStats{Depth: 1234, InFlight: 7, AttemptsLastMinute: 90, FailuresLastMinute: 3, Deliveries: []int64{1, 2, 3}}
		}}
	})
	s.queue(t, demoQueue, true)
	s.task(t, demoQueue, httpTask("http://127.0.0.1:1/", ""))
	_, page := newBrowser(t, s.URL).do("GET", "/console/", nil)
	for _, want := range []string{`data-label="Tasks">1234<`, `data-label="In flight">7<`, `data-label="Attempts /min">90<`, `class="num bad" data-label="Failures /min">3<`, `data-label="Due now">1<`, `<svg class="spark"`} {
		if !strings.Contains(page, want) {
			t.Errorf("queues page lacks %q", want)
		}
	}
}

func TestMetricsShowAttemptsAndTheirLog(t *testing.T) {
	s := newStack(t, nil)
	s.queue(t, demoQueue, false)
	failing, _ := target(t, 503)
	task := s.task(t, demoQueue, httpTask(failing.URL+"/charge", ""))
	if o := <-s.outcomes; o.Deleted {
		t.Fatalf("a 503 ended the task: %+v", o)
	}
	b := newBrowser(t, s.URL)
	_, page := b.do("GET", "/console/", nil)
	for _, want := range []string{`data-label="Tasks">1<`, `data-label="Attempts /min">1<`, `class="num bad" data-label="Failures /min">1<`, `1 deliveries in the last 10 minutes`} {
		if !strings.Contains(page, want) {
			t.Errorf("queues page lacks %q", want)
		}
	}
	_, page = b.do("GET", "/console/"+task.GetName(), nil)
	if !regexp.MustCompile(`<ol class="log"><li><span class="status bad">HTTP 503</span> .*attempt 1 · answered in`).MatchString(page) {
		t.Errorf("task page has no log line for the 503:\n%s", page)
	}
}

// countingAPI counts ListTasks calls.
type countingAPI struct {
	cloudtaskspb.CloudTasksServer
	lists *int
}

func (a countingAPI) ListTasks(ctx context.Context, req *cloudtaskspb.ListTasksRequest) (*cloudtaskspb.ListTasksResponse, error) {
	*a.lists++
	return a.CloudTasksServer.ListTasks(ctx, req)
}

func TestTaskSamplesAreSharedForASecondAndForgotten(t *testing.T) {
	lists := 0
	// The API and the console share this clock: the task's create time is
	// read from it, so the age shown below is exact whatever the load.
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s := newStack(t, func(c *Config) {
		c.API = countingAPI{c.API, &lists}
		c.Now = func() time.Time { return now }
		c.Metrics = nil
	})
	other := "projects/demo/locations/us-central1/queues/other"
	s.queue(t, demoQueue, true)
	s.queue(t, other, true)
	s.task(t, demoQueue, httpTask("http://127.0.0.1:1/", ""))
	// An hour after the task was made.
	now = now.Add(time.Hour)
	ctx := context.Background()
	read := func(q string) numbers {
		n, err := s.console.numbersOf(ctx, sampleSpec{q, queueSample, sampleTTL})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := read(demoQueue); n.Tasks != "1" || n.DueNow != "1" || n.Oldest != "1h 0m" {
		t.Errorf("numbers %+v, want 1 task, due, 1h 0m old an hour from now", n)
	}
	read(demoQueue)
	if lists != 1 {
		t.Errorf("%d ListTasks calls for two reads within a second, want 1", lists)
	}
	now = now.Add(1100 * time.Millisecond)
	read(demoQueue)
	if lists != 2 {
		t.Errorf("%d ListTasks calls after a second, want 2", lists)
	}
	// The Queues page of 250 queues reuses a count for three seconds.
	overview := func() {
		if _, err := s.console.numbersOf(ctx, sampleSpec{demoQueue, overviewSample, 3 * sampleTTL}); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range map[int]time.Duration{0: time.Second, 64: time.Second, 100: time.Second, 101: 2 * time.Second, 250: 3 * time.Second} {
		if got := overviewTTL(n); got != want {
			t.Errorf("overviewTTL(%d) = %v, want %v", n, got, want)
		}
	}
	overview()
	now = now.Add(2 * time.Second)
	overview()
	if lists != 3 {
		t.Errorf("%d ListTasks calls after two overview reads 2 s apart, want 3", lists)
	}
	now = now.Add(2 * time.Minute)
	read(other)
	s.console.sampleMu.Lock()
	_, kept := s.console.samples[sampleKey{demoQueue, queueSample}]
	s.console.sampleMu.Unlock()
	if kept {
		t.Error("a queue no page asked about for two minutes keeps its sample")
	}
}

func TestQueuesLargerThanTheSampleShowLowerBounds(t *testing.T) {
	s := newStack(t, func(c *Config) { c.Metrics = nil })
	s.queue(t, demoQueue, true)
	for range overviewSample + 1 {
		s.task(t, demoQueue, httpTask("http://127.0.0.1:1/", ""))
	}
	b := newBrowser(t, s.URL)
	_, page := b.do("GET", "/console/", nil)
	for _, want := range []string{`data-label="Tasks">≥ 50<`, `data-label="Due now">≥ 50<`, `data-label="Oldest task">≥ `} {
		if !strings.Contains(page, want) {
			t.Errorf("queues page lacks %q", want)
		}
	}
	_, page = b.do("GET", "/console/"+demoQueue, nil)
	if !strings.Contains(page, `<span class="tile-label">Due now</span><span class="tile-value">51</span>`) {
		t.Error("the queue's page does not count all 51 due tasks")
	}
}
