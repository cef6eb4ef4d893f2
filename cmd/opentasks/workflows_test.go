package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWorkflowsRunSuccess(t *testing.T) {
	file := writeFile(t, "flow.yaml", `
- done:
    return:
      project: ${sys.get_env("GOOGLE_CLOUD_PROJECT_ID")}
      flag: ${sys.get_env("EXTRA")}
      n: ${args.n + 1}
`)
	var stdout, stderr strings.Builder
	code := runWorkflows(context.Background(), []string{"run", file, "--data", `{"n": 1}`, "--env", "EXTRA=x"},
		&stdout, &stderr, []string{"GOOGLE_CLOUD_PROJECT_ID=proj"})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if got, want := stdout.String(), `{"flag":"x","n":2,"project":"proj"}`+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestWorkflowsRunFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":404,"status":"NOT_FOUND"}}`))
	}))
	defer srv.Close()
	file := writeFile(t, "flow.json", `[{"get": {"call": "googleapis.cloudtasks.v2.projects.locations.queues.get",
  "args": {"name": "projects/p/locations/l/queues/q"}}}]`)
	var stdout, stderr strings.Builder
	code := runWorkflows(context.Background(), []string{"run", "--endpoint", srv.URL, file}, &stdout, &stderr, nil)
	if code != 1 || stdout.Len() != 0 {
		t.Fatalf("exit %d, stdout %q", code, stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"code":404`) || !strings.Contains(lines[0], `"tags":["HttpError"]`) {
		t.Fatalf("stderr = %q", stderr.String())
	}
	if want := `in step "get", routine "main", line: 1`; lines[1] != want {
		t.Errorf("location = %q, want %q", lines[1], want)
	}
}

func TestWorkflowsUsageErrors(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "- a:\n    next: nowhere\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"run"}, 2, "usage"},
		{[]string{"run", bad}, 1, `next: "nowhere"`},
		{[]string{"run", bad, "--data", "{"}, 2, "--data"},
		{[]string{"run", bad, "--env", "NOEQUALS"}, 2, "KEY=VALUE"},
	} {
		var stderr strings.Builder
		if code := runWorkflows(context.Background(), tc.args, &strings.Builder{}, &stderr, nil); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

// TestWorkflowsRunStdinAndIdentity: FILE "-" reads the definition from
// standard input, the built-in variables have local defaults (the public
// samples read GOOGLE_CLOUD_LOCATION), and flags set them.
func TestWorkflowsRunStdinAndIdentity(t *testing.T) {
	src := `
- done:
    return:
      - ${sys.get_env("GOOGLE_CLOUD_LOCATION")}
      - ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_ID")}
      - ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_REVISION_ID")}
      - ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID")}
      - ${sys.get_env("GOOGLE_CLOUD_PROJECT_ID")}
`
	run := func(args []string, environ []string) string {
		t.Helper()
		var stdout, stderr strings.Builder
		if code := runWorkflowsIO(context.Background(), args, strings.NewReader(src), &stdout, &stderr, environ); code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	got := run([]string{"run", "-"}, nil)
	if !regexp.MustCompile(`^\["us-central1","workflow","\d{6}-[0-9a-f]{3}","[0-9a-f-]{36}",null\]$`).MatchString(got) {
		t.Errorf("defaults from stdin = %s", got)
	}
	got = run([]string{"run", "-", "--project", "p", "--location", "europe-west1", "--workflow-id", "w",
		"--revision-id", "000002-abc", "--execution-id", "e1"}, nil)
	if want := `["europe-west1","w","000002-abc","e1","p"]`; got != want {
		t.Errorf("with flags = %s, want %s", got, want)
	}
	got = run([]string{"run", "-"}, []string{"GOOGLE_CLOUD_LOCATION=asia-east1", "GOOGLE_CLOUD_PROJECT_ID=envp"})
	if !strings.HasPrefix(got, `["asia-east1",`) || !strings.HasSuffix(got, `"envp"]`) {
		t.Errorf("from the environment = %s", got)
	}
	file := writeFile(t, "my flow.v2.yaml", src)
	var stdout, stderr strings.Builder
	if code := runWorkflowsIO(context.Background(), []string{"run", file}, strings.NewReader(""), &stdout, &stderr, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"my-flow-v2"`) {
		t.Errorf("workflow ID from the file name: %s", stdout.String())
	}
}

// TestWorkflowsRunMocks: --mocks answers a connector the runner does not
// have; an unmatched call fails with the call on stderr.
func TestWorkflowsRunMocks(t *testing.T) {
	flow := writeFile(t, "flow.yaml", `
- q:
    call: googleapis.bigquery.v2.jobs.query
    args:
      projectId: ${sys.get_env("GOOGLE_CLOUD_PROJECT_ID")}
      body: {query: "SELECT 1"}
    result: r
- done:
    return: ${r.rows}
`)
	mocks := writeFile(t, "mocks.yaml", "- call: googleapis.bigquery.v2.jobs.query\n  args: {projectId: p}\n  result: {rows: [1]}\n")
	var stdout, stderr strings.Builder
	if code := runWorkflows(context.Background(), []string{"run", flow, "--mocks", mocks, "--project", "p"}, &stdout, &stderr, nil); code != 0 || stdout.String() != "[1]\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := runWorkflows(context.Background(), []string{"run", flow, "--mocks", mocks, "--project", "other"}, &stdout, &stderr, nil); code != 1 ||
		!strings.Contains(stderr.String(), `no mock matches the call googleapis.bigquery.v2.jobs.query with args {"body":{"query":"SELECT 1"},"projectId":"other"}`) {
		t.Errorf("unmatched: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := runWorkflows(context.Background(), []string{"run", flow}, &stdout, &stderr, nil); code != 1 || !strings.Contains(stderr.String(), "unknown or unsupported connector") {
		t.Errorf("without mocks: exit %d, stderr %q", code, stderr.String())
	}
	bad := writeFile(t, "bad.yaml", "- call: x\n")
	stderr.Reset()
	if code := runWorkflows(context.Background(), []string{"run", flow, "--mocks", bad}, &stdout, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), "exactly one of") {
		t.Errorf("bad mocks: exit %d, stderr %q", code, stderr.String())
	}
}

// logLines is a concurrency-safe writer that hands each line to a channel.
type logLines struct {
	mu    sync.Mutex
	buf   strings.Builder
	lines chan string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.SplitAfter(string(p), "\n") {
		l.buf.WriteString(line)
		if strings.HasSuffix(line, "\n") {
			l.lines <- l.buf.String()
			l.buf.Reset()
		}
	}
	return len(p), nil
}

// TestWorkflowsRunCallback: a standalone run serves its callback endpoint
// on --callback-addr and resumes when a request arrives there.
func TestWorkflowsRunCallback(t *testing.T) {
	src := `
- create:
    call: events.create_callback_endpoint
    result: cb
- show:
    call: sys.log
    args: {text: "${cb.url}"}
- wait:
    call: events.await_callback
    args: {callback: "${cb}", timeout: 60}
    result: req
- done:
    return: ${req.http_request.body.answer}
`
	stderr := &logLines{lines: make(chan string, 4)}
	var stdout strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- runWorkflowsIO(context.Background(), []string{"run", "-", "--callback-addr", "127.0.0.1:0", "--project", "p"},
			strings.NewReader(src), &stdout, stderr, nil)
	}()
	var url string
	select {
	case line := <-stderr.lines:
		m := regexp.MustCompile(`"text":"(http://127\.0\.0\.1:\d+/callbacks/projects/p/locations/us-central1/workflows/workflow/executions/[^"]+)"`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("log line %q has no callback URL", line)
		}
		url = m[1]
	case code := <-done:
		t.Fatalf("run ended first: exit %d", code)
	}
	// A client of its own: the shared one may hold an idle connection to
	// a server of an earlier test that had the same port, and a POST on
	// it fails with EOF rather than being retried.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(url, "application/json", strings.NewReader(`{"answer": 42}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %v %v", url, resp, err)
	}
	if code := <-done; code != 0 || stdout.String() != "42\n" {
		t.Errorf("exit %d, stdout %q", code, stdout.String())
	}
	// The listener is closed with the run.
	if _, err := client.Post(url, "application/json", strings.NewReader(`{}`)); err == nil {
		t.Errorf("callback listener still up after the run")
	}
}
