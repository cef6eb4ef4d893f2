package workflows

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recorded is one request seen by the plain HTTP test server.
type recorded struct {
	method, path, query, body, contentType string
}

// plainServer answers with canned responses in order (the last one
// repeats) and records requests. It emulates nothing but HTTP.
type plainServer struct {
	mu        sync.Mutex
	responses []cannedResponse
	requests  []recorded
}

type cannedResponse struct {
	status int
	body   string
}

func newPlainServer(t *testing.T, responses ...cannedResponse) (*httptest.Server, *plainServer) {
	p := &plainServer{responses: responses}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.requests = append(p.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Get("Content-Type")})
		resp := p.responses[min(len(p.requests), len(p.responses))-1]
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Test", "yes")
		w.WriteHeader(resp.status)
		io.WriteString(w, resp.body)
	}))
	t.Cleanup(srv.Close)
	return srv, p
}

func (p *plainServer) all() []recorded {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recorded(nil), p.requests...)
}

// runWith loads src and runs it with cfg on a fake clock, which it returns
// so tests can see the sleeps the run asked for.
func runWith(t *testing.T, src string, cfg Config) (any, *fakeClock, error) {
	t.Helper()
	wf, err := Load([]byte(src))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	clock := newFakeClock()
	cfg.Sleep, cfg.Now = clock.Sleep, clock.Now
	got, err := wf.Run(context.Background(), nil, cfg)
	return got, clock, err
}

const taskName = "projects/p/locations/l/queues/q/tasks/t"

func TestConnectorRunTask(t *testing.T) {
	srv, p := newPlainServer(t, cannedResponse{200, `{"name": "` + taskName + `", "dispatchCount": 1, "view": "FULL"}`})
	got, clock, err := runWith(t, `
- run:
    call: googleapis.cloudtasks.v2.projects.locations.queues.tasks.run
    args:
      name: `+taskName+`
      body:
        responseView: FULL
    result: runResult
- done:
    return: ${runResult}`, Config{Endpoint: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"name": taskName, "dispatchCount": int64(1), "view": "FULL"}
	if !sameJSON(want, got) {
		t.Errorf("result = %s, want %s", canon(t, got), canon(t, want))
	}
	reqs := p.all()
	if len(reqs) != 1 {
		t.Fatalf("requests = %+v, want 1", reqs)
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/v2/"+taskName+":run" || r.body != `{"responseView":"FULL"}` || !strings.HasPrefix(r.contentType, "application/json") {
		t.Errorf("request = %+v", r)
	}
	if len(clock.seconds()) != 0 {
		t.Errorf("slept %v on success", clock.seconds())
	}
}

func TestConnectorQueryAndEmpty(t *testing.T) {
	srv, p := newPlainServer(t, cannedResponse{200, `{"name": "x"}`}, cannedResponse{200, `{"name": "q"}`}, cannedResponse{200, ``})
	got, _, err := runWith(t, `
- get:
    call: googleapis.cloudtasks.v2.projects.locations.queues.tasks.get
    args: {name: `+taskName+`, responseView: FULL}
- patch:
    call: googleapis.cloudtasks.v2.projects.locations.queues.patch
    args:
      name: projects/p/locations/l/queues/q
      updateMask: rateLimits.maxDispatchesPerSecond
      body: {rateLimits: {maxDispatchesPerSecond: 2.5}}
- del:
    call: googleapis.cloudtasks.v2.projects.locations.queues.delete
    args: {name: projects/p/locations/l/queues/q}
    result: deleted
- done:
    return: ${deleted}`, Config{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(map[string]any{}, got) {
		t.Errorf("Empty result = %s, want {}", canon(t, got))
	}
	want := []recorded{
		{"GET", "/v2/" + taskName, "responseView=FULL", "", ""},
		{"PATCH", "/v2/projects/p/locations/l/queues/q", "updateMask=rateLimits.maxDispatchesPerSecond", `{"rateLimits":{"maxDispatchesPerSecond":2.5}}`, "application/json; charset=utf-8"},
		{"DELETE", "/v2/projects/p/locations/l/queues/q", "", "", ""},
	}
	reqs := p.all()
	if len(reqs) != len(want) {
		t.Fatalf("requests = %+v", reqs)
	}
	for i := range want {
		if reqs[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, reqs[i], want[i])
		}
	}
}

const getTaskStep = `
- get:
    call: googleapis.cloudtasks.v2.projects.locations.queues.tasks.get
    args: {name: ` + taskName + `}
    result: r
- done:
    return: ${r}`

const runTaskStep = `
- run:
    call: googleapis.cloudtasks.v2.projects.locations.queues.tasks.run
    args: {name: ` + taskName + `}`

func TestConnectorHTTPError(t *testing.T) {
	srv, p := newPlainServer(t, cannedResponse{404, `{"error": {"code": 404, "message": "Task does not exist.", "status": "NOT_FOUND"}}`})
	_, clock, err := runWith(t, getTaskStep, Config{Endpoint: srv.URL})
	we, ok := err.(*Error)
	if !ok {
		t.Fatalf("err = %v, want *Error", err)
	}
	want := map[string]any{
		"tags":    []any{"HttpError"},
		"code":    int64(404),
		"message": "HTTP server responded with error code 404",
		"headers": map[string]any{"X-Test": "yes", "Content-Type": "application/json"},
		"body":    map[string]any{"error": map[string]any{"code": int64(404), "message": "Task does not exist.", "status": "NOT_FOUND"}},
	}
	if !subset(want, we.Value) {
		t.Errorf("error = %s, want %s", canon(t, we.Value), canon(t, want))
	}
	if we.Step != "get" || we.Line != 2 {
		t.Errorf("location = %s", we.Context())
	}
	if len(p.all()) != 1 || len(clock.seconds()) != 0 {
		t.Errorf("404 retried: %d requests, sleeps %v", len(p.all()), clock.seconds())
	}
}

func TestConnectorRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		src       string
		responses []cannedResponse
		wantCode  int64 // 0: success
		sleeps    string
		requests  int
	}{
		{"429 then success", getTaskStep, []cannedResponse{{429, `{}`}, {429, `{}`}, {200, `{"name": "t"}`}}, 0, "[1.0, 1.25]", 3},
		{"503 exhausted on POST", runTaskStep, []cannedResponse{{503, `{}`}}, 503, "[1.0, 1.25, 1.5625, 1.953125, 2.44140625]", 6},
		{"502 not retried on POST", runTaskStep, []cannedResponse{{502, `{}`}}, 502, "[]", 1},
		{"502 retried on GET", getTaskStep, []cannedResponse{{502, `{}`}, {200, `{}`}}, 0, "[1.0]", 2},
		{"500 not retried", getTaskStep, []cannedResponse{{500, `{}`}}, 500, "[]", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, p := newPlainServer(t, tc.responses...)
			_, clock, err := runWith(t, tc.src, Config{Endpoint: srv.URL})
			if tc.wantCode == 0 && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.wantCode != 0 {
				we, ok := err.(*Error)
				if !ok || !hasTag(we.Value, tagHTTP) || we.Value.(map[string]any)["code"] != tc.wantCode {
					t.Fatalf("err = %v, want HttpError %d", err, tc.wantCode)
				}
			}
			if !sameJSON(mustJSON(t, tc.sleeps), clock.seconds()) {
				t.Errorf("sleeps = %v, want %s", clock.seconds(), tc.sleeps)
			}
			if n := len(p.all()); n != tc.requests {
				t.Errorf("requests = %d, want %d", n, tc.requests)
			}
		})
	}
}

func TestConnectorConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	_, clock, err := runWith(t, runTaskStep, Config{Endpoint: "http://" + addr})
	we, ok := err.(*Error)
	if !ok || !hasTag(we.Value, tagConnectionFailed) || !hasTag(we.Value, tagConnection) {
		t.Fatalf("err = %v, want ConnectionFailedError and ConnectionError tags", err)
	}
	if n := len(clock.seconds()); n != connectorMaxRetries {
		t.Errorf("retries = %d, want %d (refused connections are retried by both policies)", n, connectorMaxRetries)
	}
}

func TestConnectorTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	_, _, err := runWith(t, `
- get:
    call: googleapis.cloudtasks.v2.projects.locations.queues.tasks.get
    args:
      name: `+taskName+`
      connector_params: {timeout: 0.05}`, Config{Endpoint: srv.URL})
	we, ok := err.(*Error)
	if !ok || !hasTag(we.Value, tagTimeout) {
		t.Fatalf("err = %v, want TimeoutError", err)
	}
}

func TestConnectorBadArguments(t *testing.T) {
	for _, tc := range []struct{ args, tag string }{
		{`{name: 5}`, tagType},
		{`{}`, tagType},
		{`{name: "not/a/task"}`, tagValue},
		{`{name: ` + taskName + `, bogus: 1}`, tagType},
		{`{name: ` + taskName + `, body: [1]}`, tagType},
		{`{name: ` + taskName + `, connector_params: {timeout: -1}}`, tagValue},
		{`{name: ` + taskName + `, connector_params: {timeout: "x"}}`, tagType},
	} {
		_, _, err := runWith(t, `
- run:
    call: googleapis.cloudtasks.v2.projects.locations.queues.tasks.run
    args: `+tc.args, Config{Endpoint: "http://127.0.0.1:1"})
		we, ok := err.(*Error)
		if !ok || !hasTag(we.Value, tc.tag) {
			t.Errorf("args %s: err = %v, want %s", tc.args, err, tc.tag)
		}
	}
}

// TestConnectorNames checks that every method of the spec's connector
// table (WORKFLOWS_SPEC 4.2) is derived from the descriptors with its verb
// and query arguments.
func TestConnectorNames(t *testing.T) {
	want := map[string]string{
		"projects.locations.get":                       "GET",
		"projects.locations.list":                      "GET filter,pageSize,pageToken",
		"projects.locations.queues.create":             "POST body",
		"projects.locations.queues.delete":             "DELETE",
		"projects.locations.queues.get":                "GET",
		"projects.locations.queues.getIamPolicy":       "POST body",
		"projects.locations.queues.list":               "GET filter,pageSize,pageToken",
		"projects.locations.queues.patch":              "PATCH updateMask body",
		"projects.locations.queues.pause":              "POST body",
		"projects.locations.queues.purge":              "POST body",
		"projects.locations.queues.resume":             "POST body",
		"projects.locations.queues.setIamPolicy":       "POST body",
		"projects.locations.queues.testIamPermissions": "POST body",
		"projects.locations.queues.tasks.create":       "POST body",
		"projects.locations.queues.tasks.delete":       "DELETE",
		"projects.locations.queues.tasks.get":          "GET responseView",
		"projects.locations.queues.tasks.list":         "GET responseView,pageSize,pageToken",
		"projects.locations.queues.tasks.run":          "POST body",
	}
	checkConnectorShapes(t, cloudTasksPrefix, want)
}

// checkConnectorShapes compares each connector's verb, query arguments
// and body with want's "VERB q1,q2 body" shapes, by name suffix.
func checkConnectorShapes(t *testing.T, prefix string, want map[string]string) {
	t.Helper()
	methods := connectorMethods()
	for suffix, shape := range want {
		m, ok := methods[prefix+suffix]
		if !ok {
			t.Errorf("missing connector %s", suffix)
			continue
		}
		got := m.verb
		if len(m.query) > 0 {
			got += " " + strings.Join(m.query, ",")
		}
		if m.body {
			got += " body"
		}
		if got != shape {
			t.Errorf("%s = %q, want %q", suffix, got, shape)
		}
	}
}
