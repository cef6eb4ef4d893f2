package workflows

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineSignal is a log writer that hands each sys.log line to a channel.
type lineSignal struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (l *lineSignal) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.lines <- line
	}
}

// The basic callback workflow of the events.await_callback reference page,
// with the method POST and the request returned whole.
const callbackFlow = `
- create_callback:
    call: events.create_callback_endpoint
    args:
      http_callback_method: "POST"
    result: callback_details
- print_callback_details:
    call: sys.log
    args:
      severity: "INFO"
      text: ${callback_details.url}
- await_callback:
    call: events.await_callback
    args:
      callback: ${callback_details}
      timeout: 3600
    result: callback_request
- return_callback_result:
    return: ${callback_request}
`

type runResult struct {
	v   any
	err error
}

// TestCallbackCompletedByPost: the workflow waits until an HTTP POST to
// the URL it created arrives, then sees that request.
func TestCallbackCompletedByPost(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cbs := NewMemoryCallbacks(srv.URL)
	mux.Handle("/callbacks/", cbs)
	wf, err := Load([]byte(callbackFlow))
	if err != nil {
		t.Fatal(err)
	}
	log := &lineSignal{lines: make(chan string, 4)}
	done := make(chan runResult, 1)
	cfg := Config{Callbacks: cbs, Log: log, Identity: Identity{ProjectID: "p", Location: "l", WorkflowID: "w", ExecutionID: "e1"}}
	go func() {
		v, err := wf.Run(context.Background(), nil, cfg)
		done <- runResult{v, err}
	}()
	var url string
	select {
	case line := <-log.lines:
		url = regexp.MustCompile(`"text":"([^"]+)"`).FindStringSubmatch(line)[1]
	case r := <-done:
		t.Fatalf("run ended before creating a callback: %v %v", r.v, r.err)
	}
	prefix := srv.URL + "/callbacks/projects/p/locations/l/workflows/w/executions/e1/callbacks/"
	if !strings.HasPrefix(url, prefix) {
		t.Fatalf("url = %s, want it under %s", url, prefix)
	}
	// A GET is refused (the endpoint takes POST) and does not wake the workflow.
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}
	req, _ := http.NewRequest("POST", url+"?color=red&n=1&n=2", strings.NewReader(`{"approved": true, "by": "ana"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Trace", "abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %v %v", resp, err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("run: %v", r.err)
	}
	got := r.v.(map[string]any)
	hr := got["http_request"].(map[string]any)
	path := strings.TrimPrefix(url, srv.URL)
	if got["type"] != "HTTP" || hr["method"] != "POST" || hr["url"] != path ||
		canon(t, hr["body"]) != `{"approved":true,"by":"ana"}` ||
		canon(t, hr["query"]) != `{"color":["red"],"n":["1","2"]}` ||
		hr["headers"].(map[string]any)["X-Trace"] != "abc" {
		t.Errorf("callback request = %s", canon(t, got))
	}
	if _, err := time.Parse(time.RFC3339Nano, got["received_time"].(string)); err != nil {
		t.Errorf("received_time: %v", err)
	}
	// The execution is over: its endpoint is gone.
	resp, err = http.Post(url, "application/json", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST after the run: %v %v", resp, err)
	}
}

// TestCallbackTimeout: await_callback raises TimeoutError when no request
// comes within its timeout, measured on the run's sleeper.
func TestCallbackTimeout(t *testing.T) {
	wf, err := Load([]byte(`
- create:
    call: events.create_callback_endpoint
    result: cb
- wait:
    try:
      call: events.await_callback
      args:
        callback: ${cb}
        timeout: 5
    except:
      as: e
      steps:
        - timedOut:
            return: ${e.tags}
`))
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	cbs := NewMemoryCallbacks("http://127.0.0.1:1")
	got, err := wf.Run(context.Background(), nil, Config{Callbacks: cbs, Now: clock.Now, Sleep: clock.Sleep})
	if err != nil || canon(t, got) != `["TimeoutError"]` {
		t.Fatalf("result %v, error %v; want [TimeoutError]", got, err)
	}
	if s := canon(t, clock.seconds()); s != "[5.0]" {
		t.Errorf("sleeps = %s, want [5.0]", s)
	}
}

// TestCallbackErrors: argument checks and a missing registry.
func TestCallbackErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		src  string
		want string
	}{
		{Config{Callbacks: NewMemoryCallbacks("http://x")}, `{http_callback_method: TRACE}`, `"ValueError"`},
		{Config{Callbacks: NewMemoryCallbacks("http://x")}, `{http_callback_method: 1}`, `"TypeError"`},
		{Config{}, `{}`, `callbacks are not available`},
	} {
		wf, err := Load([]byte("- c:\n    call: events.create_callback_endpoint\n    args: " + tc.src + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = wf.Run(context.Background(), nil, tc.cfg)
		var we *Error
		if !errors.As(err, &we) || !strings.Contains(canon(t, we.Value), tc.want) {
			t.Errorf("%s: %v, want %s", tc.src, err, tc.want)
		}
	}
	cbs := NewMemoryCallbacks("http://x")
	other, _ := cbs.Create(context.Background(), "projects/p/locations/l/workflows/w/executions/other", "POST")
	for _, tc := range []struct{ args, want string }{
		{`{callback: {url: "` + other + `"}}`, `not a callback endpoint of this execution`},
		{`{callback: {}}`, `"TypeError"`},
		{`{callback: {url: "u"}, timeout: -1}`, `"ValueError"`},
	} {
		wf, err := Load([]byte("- c:\n    call: events.await_callback\n    args: " + tc.args + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = wf.Run(context.Background(), nil, Config{Callbacks: cbs})
		var we *Error
		if !errors.As(err, &we) || !strings.Contains(canon(t, we.Value), tc.want) {
			t.Errorf("%s: %v, want %s", tc.args, err, tc.want)
		}
	}
	if _, err := Load([]byte("- c:\n    return: ${events.create_callback_endpoint()}\n")); err == nil || !strings.Contains(err.Error(), "blocking") {
		t.Errorf("create_callback_endpoint in an expression: %v", err)
	}
}

// TestMemoryCallbacksQueue: requests that arrive before an await wait in
// order and show in List; the handler's refusals.
func TestMemoryCallbacksQueue(t *testing.T) {
	cbs := NewMemoryCallbacks("http://host")
	ctx := context.Background()
	const exec = "projects/p/locations/l/workflows/w/executions/e"
	url, err := cbs.Create(ctx, exec, "PUT")
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(url, "http://host")
	send := func(method, path, body string) int {
		rec := httptest.NewRecorder()
		cbs.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec.Code
	}
	if c := send("PUT", path, "first"); c != http.StatusOK {
		t.Fatalf("first PUT: %d", c)
	}
	// The second comes the Executions API's way (sendHttpCallback's path).
	if c := send("PUT", "/v1/"+strings.TrimPrefix(path, "/callbacks/"), "second"); c != http.StatusOK {
		t.Fatalf("second PUT: %d", c)
	}
	if c := send("POST", path, "x"); c != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", c)
	}
	if c := send("PUT", path+"x", "x"); c != http.StatusNotFound {
		t.Errorf("unknown callback: %d", c)
	}
	if c := send("PUT", path, strings.Repeat("x", maxCallbackBody+1)); c != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", c)
	}
	list := cbs.List(exec)
	if len(list) != 1 || list[0].Method != "PUT" || len(list[0].AvailablePayloads) != 2 || !strings.HasSuffix(url, list[0].Name) {
		t.Fatalf("list = %+v", list)
	}
	for _, want := range []string{"first", "second"} {
		req, err := cbs.Await(ctx, exec, url)
		if err != nil || req["http_request"].(map[string]any)["body"] != want {
			t.Fatalf("await: %v %v, want body %q", req, err, want)
		}
	}
	if _, err := cbs.Await(ctx, "projects/p/locations/l/workflows/w/executions/other", url); !errors.Is(err, ErrUnknownCallback) {
		t.Errorf("await from another execution: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cbs.Await(cctx, exec, url); !errors.Is(err, context.Canceled) {
		t.Errorf("await with a cancelled context: %v", err)
	}
	for i := 0; i < maxPendingPayloads; i++ {
		if c := send("PUT", path, "fill"); c != http.StatusOK {
			t.Fatalf("PUT %d: %d", i, c)
		}
	}
	if c := send("PUT", path, "one too many"); c != http.StatusTooManyRequests {
		t.Errorf("PUT past the pending bound: %d", c)
	}
	cbs.Release(exec)
	if c := send("PUT", path, "late"); c != http.StatusNotFound || len(cbs.List(exec)) != 0 {
		t.Errorf("after release: %d, %v", c, cbs.List(exec))
	}
}
