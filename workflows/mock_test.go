package workflows

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func mustMocks(t *testing.T, src string) *Mocks {
	t.Helper()
	m, err := ParseMocks([]byte(src))
	if err != nil {
		t.Fatalf("mocks: %v", err)
	}
	return m
}

// TestMocksBigQueryPubSub is the case: a definition using the
// BigQuery and Pub/Sub connectors, which the runner does not have, loads
// and passes under a mocks file; without it, it does not load.
func TestMocksBigQueryPubSub(t *testing.T) {
	const flow = "testdata/mocks/bigquery_pubsub.yaml"
	if _, err := LoadFile(flow); err == nil || !strings.Contains(err.Error(), `unknown or unsupported connector "googleapis.bigquery.v2.jobs.query"`) {
		t.Fatalf("load without mocks: %v", err)
	}
	mocks, err := LoadMocksFile("testdata/mocks/bigquery_pubsub.mocks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wf, err := LoadFile(flow, WithMocks(mocks))
	if err != nil {
		t.Fatalf("load with mocks: %v", err)
	}
	cfg := Config{Mocks: mocks, Identity: Identity{ProjectID: "test-project"}}
	got, err := wf.Run(context.Background(), map[string]any{"state": "TX"}, cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := `{"messageId":"4711","names":["James","John"]}`; canon(t, got) != want {
		t.Errorf("result = %s, want %s", canon(t, got), want)
	}
	// A different argument changes the query: the BigQuery rule's argument
	// subset no longer matches, and the run stops showing the call.
	_, err = wf.Run(context.Background(), map[string]any{"state": "CA"}, cfg)
	var ue *UnmatchedCallError
	if !errors.As(err, &ue) || ue.Call != "googleapis.bigquery.v2.jobs.query" || ue.Step != "query" || ue.Line != 12 ||
		!strings.Contains(err.Error(), `state = 'CA'`) {
		t.Errorf("unmatched call: %v", err)
	}
	// Mocks that name only BigQuery do not make Pub/Sub loadable.
	only := mustMocks(t, "- call: googleapis.bigquery.*\n  result: {}\n")
	if _, err := LoadFile(flow, WithMocks(only)); err == nil || !strings.Contains(err.Error(), "googleapis.pubsub.v1.projects.topics.publish") {
		t.Errorf("load with BigQuery mocks only: %v", err)
	}
}

// TestMocksSequenceAndErrors: rules with times answer in order; an
// HttpError and a ConnectionError are retried by http.default_retry like
// real ones; delays use the run's sleeper.
func TestMocksSequenceAndErrors(t *testing.T) {
	mocks := mustMocks(t, `
- call: http.get
  url: https://api.example.com/items*
  times: 1
  http_error: {code: 503, body: {error: busy}}
- call: http.get
  url: https://api.example.com/items*
  times: 1
  delay: 0.5
  connection_error: reset by peer
- call: http.get
  url: https://api.example.com/items*
  args: {query: {page: 1}}
  result: {code: 200, headers: {}, body: {items: [a, b]}}
- call: http.post
  http_error: {code: 404, body: not here}
`)
	wf, err := Load([]byte(`
- init:
    assign:
      - err: null
- get:
    try:
      call: http.get
      args:
        url: https://api.example.com/items
        query: {page: 1}
      result: r
    retry: ${http.default_retry}
- post:
    try:
      call: http.post
      args: {url: "https://api.example.com/other", body: {}}
    except:
      as: e
      steps:
        - keep:
            assign:
              - err: ${e}
- done:
    return: ${[r.body.items, err.code, err.body, err.tags]}
`))
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	got, err := wf.Run(context.Background(), nil, Config{Mocks: mocks, Now: clock.Now, Sleep: clock.Sleep})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := `[["a","b"],404,"not here",["HttpError"]]`; canon(t, got) != want {
		t.Errorf("result = %s, want %s", canon(t, got), want)
	}
	// Backoff 1 after the 503, the mock's 0.5 delay, backoff 1.25 after the
	// ConnectionError, then the answer.
	if got, want := canon(t, clock.seconds()), `[1.0,0.5,1.25]`; got != want {
		t.Errorf("sleeps = %s, want %s", got, want)
	}
}

// TestMocksUnmatchedIsNotCatchable: with mocks, an http call no rule
// answers stops the run even inside try/except, naming the call.
func TestMocksUnmatchedIsNotCatchable(t *testing.T) {
	mocks := mustMocks(t, "- call: http.post\n  result: {code: 200}\n")
	wf, err := Load([]byte(`
- guarded:
    try:
      call: http.get
      args: {url: "https://example.com/x", headers: {X-Id: "7"}}
    except:
      as: e
      steps:
        - swallowed:
            return: caught
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wf.Run(context.Background(), nil, Config{Mocks: mocks})
	want := `no mock matches the call http.get with args {"headers":{"X-Id":"7"},"url":"https://example.com/x"} (url https://example.com/x)` +
		"\n" + `in step "guarded", routine "main", line: 2`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}

// TestMocksPassthroughAndFunctions: a passthrough rule lets a call reach
// the real target; a library function is mocked only when a rule names
// it, in a call step or an expression, by its argument names.
func TestMocksPassthroughAndFunctions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("real " + r.URL.Path))
	}))
	defer srv.Close()
	mocks := mustMocks(t, `
- call: http.get
  url: `+srv.URL+`/*
  passthrough: true
- call: sys.get_env
  args: {name: SECRET}
  result: mocked-secret
- call: uuid.generate
  result: 00000000-0000-4000-8000-000000000000
`)
	wf, err := Load([]byte(`
- get:
    call: http.get
    args: {url: ` + srv.URL + `/path}
    result: r
- env:
    call: sys.get_env
    args: {name: SECRET}
    result: secret
- done:
    return: ${[r.body, secret, uuid.generate(), sys.get_env("OTHER", "real-default"), text.to_upper("x")]}
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := wf.Run(context.Background(), nil, Config{Mocks: mocks})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := `["real /path","mocked-secret","00000000-0000-4000-8000-000000000000","real-default","X"]`; canon(t, got) != want {
		t.Errorf("result = %s, want %s", canon(t, got), want)
	}
}

// TestMocksUsesAreCountedPerRun: a rule used up in one run answers again
// in the next.
func TestMocksUsesAreCountedPerRun(t *testing.T) {
	mocks := mustMocks(t, "- call: googleapis.cloudtasks.v2.projects.locations.queues.get\n  times: 1\n  result: {name: q}\n")
	wf, err := Load([]byte(`
- get:
    call: googleapis.cloudtasks.v2.projects.locations.queues.get
    args: {name: projects/p/locations/l/queues/q}
    result: q
- again:
    call: googleapis.cloudtasks.v2.projects.locations.queues.get
    args: {name: projects/p/locations/l/queues/q}
`))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		_, err := wf.Run(context.Background(), nil, Config{Mocks: mocks})
		var ue *UnmatchedCallError
		if !errors.As(err, &ue) || ue.Step != "again" || ue.URL != DefaultEndpoint+"/v2/projects/p/locations/l/queues/q" {
			t.Errorf("run %d: %v, want the second call unmatched", i, err)
		}
	}
}

func TestParseMocksErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"call: x", "mocks must be a list"},
		{"- result: 1", "call must name"},
		{"- call: x\n  reslt: 1", `unknown field "reslt"`},
		{"- call: x", "exactly one of"},
		{"- call: x\n  result: 1\n  raise: e", "exactly one of"},
		{"- call: x\n  http_error: {code: 200}", "code between 400 and 599"},
		{"- call: x\n  http_error: {code: 404, status: x}", `not "status"`},
		{"- call: x\n  times: 0\n  result: 1", "times must be a positive integer"},
		{"- call: x\n  delay: -1\n  result: 1", "delay must be"},
		{"- call: x\n  passthrough: false", "passthrough must be true"},
	} {
		_, err := ParseMocks([]byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}
