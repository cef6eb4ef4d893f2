package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"github.com/chromedp/chromedp"

	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/workflowsapi"
)

const wfParent = "projects/dev/locations/us-central1"

// wfStack is the console's stack with the Workflows pages, over a real
// Workflows service on its own SQLite file.
type wfStack struct {
	*stack
	wf *workflowsapi.Service
}

func newWorkflowStack(t *testing.T) *wfStack {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "workflows.db"))
	if err != nil {
		t.Fatal(err)
	}
	wf := workflowsapi.New(db, db, workflowsapi.Config{SoleOwner: true})
	if err := wf.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		wf.Stop()
		_ = db.Close()
	})
	s := newStack(t, func(c *Config) {
		c.Workflows = wf
		c.WorkflowParents = func(context.Context) ([]string, error) { return []string{wfParent}, nil }
	})
	return &wfStack{stack: s, wf: wf}
}

func (s *wfStack) deploy(t *testing.T, id, description, src string) *workflowspb.Workflow {
	t.Helper()
	ctx := context.Background()
	if _, err := s.wf.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: wfParent, WorkflowId: id,
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: src}, Description: description}}); err != nil {
		t.Fatal(err)
	}
	w, err := s.wf.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: wfParent + "/workflows/" + id})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// held is an HTTP target that holds each request until released.
func held(t *testing.T) (url string, arrived <-chan struct{}, release chan<- struct{}) {
	t.Helper()
	in, out := make(chan struct{}, 8), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		select {
		case <-out:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"in_stock": 3}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, in, out
}

func greetSource(url string) string {
	return `main:
  params: [args]
  steps:
    - greet:
        call: sys.log
        args:
          text: ${"hello " + args.name}
          severity: INFO
    - stock:
        call: http.get
        args:
          url: ` + url + `
        result: resp
    - done:
        return: ${resp.body}
`
}

const sleeperSource = `main:
  steps:
    - wait:
        call: sys.sleep
        args: {seconds: 3600}
`

const failingSource = `main:
  steps:
    - start:
        assign:
          - order: 42
    - check:
        raise: ${"order " + string(order) + " is out of stock"}
`

// TestBrowserWorkflows: the Workflows page lists a deployed workflow; its
// page shows the source with line numbers and executes it with a JSON
// argument; the execution's page follows it live to its result, with its
// sys.log line and calls; a failure shows the failing step and links its
// line; a running execution is cancelled through the confirmation; a bad
// argument is refused with the typed text kept.
func TestBrowserWorkflows(t *testing.T) {
	s := newWorkflowStack(t)
	url, arrived, release := held(t)
	s.deploy(t, "greet", "Greets, then asks the stock service.", greetSource(url))
	s.deploy(t, "fails", "", failingSource)
	tb := newTab(t, 1280, 900)

	tb.do(t, "opening the workflows page", chromedp.Navigate(s.URL+"/console/workflows"), chromedp.WaitVisible(chromedp.CSS(`table.workflows`)))
	if got := tb.text(t, `[id="w-/console/`+wfParent+`/workflows/greet"] td.mono`); !strings.HasPrefix(got, "000001-") {
		t.Errorf("greet's revision shows as %q", got)
	}
	tb.do(t, "opening greet", chromedp.Click(chromedp.CSS(`a[href$="/workflows/greet"]`)), chromedp.WaitVisible(chromedp.CSS(`#execute-form`)))
	if got := tb.text(t, `#L12 .src`); got != "          url: "+url {
		t.Errorf("source line 12 is %q", got)
	}
	if got := tb.text(t, `#L12 .ln`); got != "12" {
		t.Errorf("line number %q", got)
	}

	// A bad argument: refused (400, which the browser reports), the text
	// kept.
	tb.expectError(t, "/execute", "status of 400", "executing with bad JSON",
		chromedp.SetValue(chromedp.CSS(`#ex-arg`), `{"name": `),
		chromedp.Click(chromedp.CSS(`#execute-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#execute-form .error-text`)),
	)
	if got := tb.text(t, `#execute-form .error-text`); got != "The argument is not valid JSON." {
		t.Errorf("refusal says %q", got)
	}
	if got := get(t, tb, "reading the argument", chromedp.Value(chromedp.CSS(`#ex-arg`))); got != `{"name": ` {
		t.Errorf("argument after a refusal: %q", got)
	}

	// Executed: the page follows it live.
	tb.do(t, "executing",
		chromedp.SetValue(chromedp.CSS(`#ex-arg`), `{"name": "ann"}`),
		chromedp.Click(chromedp.CSS(`#execute-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#execution-live`)),
	)
	await(t, arrived, "the held call")
	if got := tb.text(t, `#execution-live h1 .badge`); got != "ACTIVE" {
		t.Errorf("state while the call is held: %q", got)
	}
	tb.do(t, "waiting for the log to show the held call", chromedp.WaitVisible(chromedp.CSS(`.exec-log li:nth-child(4)`)))
	log := tb.text(t, `.exec-log`)
	for _, want := range []string{`"hello ann"`, "INFO", "sys.log · step greet, line 4", "http.get · step stock, line 9", "BEGUN"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	close(release)
	tb.do(t, "watching it succeed", chromedp.WaitVisible(chromedp.CSS(`#execution-live .state-succeeded`)))
	if got := tb.text(t, `#res-title + pre`); !strings.Contains(got, `"in_stock": 3`) {
		t.Errorf("result %q", got)
	}
	if got := tb.text(t, `#execution-live`); !strings.Contains(got, "SUCCEEDED") || !strings.Contains(got, `"name": "ann"`) {
		t.Errorf("execution page after success:\n%s", got)
	}
	if n := get(t, tb, "counting cancel buttons", chromedp.Evaluate[int](`document.querySelectorAll("#cancel").length`)); n != 0 {
		t.Error("a finished execution offers Cancel")
	}

	// A failure names the step and links its line.
	execs, err := s.wf.CreateExecution(context.Background(), &executionspb.CreateExecutionRequest{Parent: wfParent + "/workflows/fails"})
	if err != nil {
		t.Fatal(err)
	}
	await(t, s.wf.Finished(execs.GetName()), "the failing execution")
	tb.do(t, "opening the failed execution", chromedp.Navigate(s.URL+"/console/"+execs.GetName()), chromedp.WaitVisible(chromedp.CSS(`.error-card`)))
	if got := tb.text(t, `.error-card .place`); got != "In step check of main, line 6" {
		t.Errorf("failure place %q", got)
	}
	if got := tb.text(t, `.error-card pre`); !strings.Contains(got, "order 42 is out of stock") {
		t.Errorf("error context %q", got)
	}
	tb.do(t, "following the line link", chromedp.Click(chromedp.CSS(`.error-card .place a`)), chromedp.WaitVisible(chromedp.CSS(`#L6`)))
	if got := get(t, tb, "reading the target line", chromedp.Evaluate[string](`document.querySelector("tr:target .src").textContent`)); got != "    - check:" {
		t.Errorf("the linked line is %q", got)
	}

	// Cancel a running one, through the confirmation.
	s.deploy(t, "waits", "", sleeperSource)
	running, err := s.wf.CreateExecution(context.Background(), &executionspb.CreateExecutionRequest{Parent: wfParent + "/workflows/waits"})
	if err != nil {
		t.Fatal(err)
	}
	tb.do(t, "cancelling",
		chromedp.Navigate(s.URL+"/console/"+running.GetName()),
		chromedp.WaitVisible(chromedp.CSS(`#cancel`)),
		chromedp.Click(chromedp.CSS(`#cancel`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`#execution-live .state-cancelled`)),
	)
	if got := tb.text(t, "#toast span"); got != "Cancelled execution "+lastSegment(running.GetName())+"." {
		t.Errorf("toast %q", got)
	}

	// The workflow's page lists its executions.
	tb.do(t, "back to the workflow", chromedp.Navigate(s.URL+"/console/"+wfParent+"/workflows/greet"), chromedp.WaitVisible(chromedp.CSS(`#executions-live tbody tr[id^="e-"]`)))
	if rows := tb.text(t, `#executions-live tbody`); !strings.Contains(rows, "SUCCEEDED") {
		t.Errorf("executions table lacks the execution:\n%s", rows)
	}
}

// expectError runs steps that must make the browser report exactly one
// error naming both url and what (a page answered with an error status),
// and fails on any other.
func (tb *tab) expectError(t *testing.T, url, what, doing string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", doing, err)
	}
	tb.mu.Lock()
	var rest []string
	seen := 0
	for _, e := range tb.errs {
		if strings.Contains(e, url) && strings.Contains(e, what) {
			seen++
		} else {
			rest = append(rest, e)
		}
	}
	tb.errs = rest
	tb.mu.Unlock()
	if seen != 1 {
		t.Errorf("%s: the browser reported %d errors with %q for %s, want 1", doing, seen, what, url)
	}
	tb.noErrors(t)
}

// TestBrowserWorkflowsFit: the Workflows pages, with long names, a long
// source line and a long log entry, fit 1280 px and a phone.
func TestBrowserWorkflowsFit(t *testing.T) {
	s := newWorkflowStack(t)
	long := "a-rather-long-workflow-name-for-checking-layouts-0123456789"
	s.deploy(t, long, "A description long enough to wrap on a phone, as people write them.", greetSource("http://127.0.0.1:1/"+strings.Repeat("long/path/", 12)))
	e, err := s.wf.CreateExecution(context.Background(), &executionspb.CreateExecutionRequest{Parent: wfParent + "/workflows/" + long,
		Execution: &executionspb.Execution{Argument: `{"name": "` + strings.Repeat("x", 300) + `"}`}})
	if err != nil {
		t.Fatal(err)
	}
	await(t, s.wf.Finished(e.GetName()), "the execution")
	assertFits(t, s.URL, "/console/workflows", "/console/"+wfParent+"/workflows/"+long, "/console/"+e.GetName())
}

// await waits for ch, at most the browser steps' timeout.
func await[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("waited %v for %s", timeout, what)
	}
}
