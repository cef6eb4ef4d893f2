package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
)

// TestWorkflowPagesAnswerErrors: a missing workflow or execution is a 404
// page, an action on a finished execution the API's refusal, and actions
// need the forms' token.
func TestWorkflowPagesAnswerErrors(t *testing.T) {
	s := newWorkflowStack(t)
	s.deploy(t, "fails", "", failingSource)
	b := newBrowser(t, s.URL)
	if _, page := b.do("GET", "/console/", nil); !strings.Contains(page, `href="/console/workflows"`) {
		t.Error("no link to the Workflows pages")
	}
	wf := "/console/" + wfParent + "/workflows/fails"
	for _, path := range []string{"/console/" + wfParent + "/workflows/missing", wf + "/executions/missing"} {
		if resp, page := b.do("GET", path, nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "not found") {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, page)
		}
	}
	e, err := s.wf.CreateExecution(context.Background(), &executionspb.CreateExecutionRequest{Parent: wfParent + "/workflows/fails"})
	if err != nil {
		t.Fatal(err)
	}
	await(t, s.wf.Finished(e.GetName()), "the execution")
	page := "/console/" + e.GetName()
	if resp, _ := b.do("POST", page+"/cancel", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cancel without the token: %d", resp.StatusCode)
	}
	token := b.csrf(wf)
	resp, text := b.do("POST", page+"/cancel", url.Values{"csrf": {token}})
	if want := "Cancelled execution " + lastSegment(e.GetName()) + " failed: "; resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, want) {
		t.Errorf("cancel of a finished execution: %d %s", resp.StatusCode, text)
	}
	// Executing with an argument the API refuses (over its size limit)
	// shows the API's message on the form.
	resp, text = b.do("POST", wf+"/execute", url.Values{"csrf": {token}, "argument": {`"` + strings.Repeat("x", 600<<10) + `"`}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, `class="error-text"`) {
		t.Errorf("execute with a huge argument: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", wf+"/execute", url.Values{"csrf": {token}, "argument": {`{"a": 1}`}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, wf+"/executions/") {
		t.Errorf("execute: %d to %q", resp.StatusCode, loc)
	}
}

// TestWorkflowPagesNeedTheService: without Config.Workflows the pages and
// the navigation link are absent.
func TestWorkflowPagesNeedTheService(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t, s.URL)
	if resp, _ := b.do("GET", "/console/workflows", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /console/workflows without the service: %d", resp.StatusCode)
	}
	if _, page := b.do("GET", "/console/", nil); strings.Contains(page, `href="/console/workflows"`) {
		t.Error("the navigation links to the Workflows pages without the service")
	}
}
