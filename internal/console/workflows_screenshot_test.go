package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"github.com/chromedp/chromedp"
)

const orderSource = `main:
  params: [order]
  steps:
    - log_start:
        call: sys.log
        args:
          text: ${"checking order " + order.id}
          severity: INFO
    - reserve:
        call: http.post
        args:
          url: INVENTORY
          body:
            sku: ${order.sku}
            qty: ${order.qty}
        result: reservation
    - check:
        switch:
          - condition: ${reservation.body.reserved < order.qty}
            raise:
              code: 409
              message: ${"only " + string(reservation.body.reserved) + " of " + order.sku + " left"}
    - log_done:
        call: sys.log
        args:
          json: ${reservation.body}
    - done:
        return:
          order: ${order.id}
          reserved: ${reservation.body.reserved}
`

// TestWorkflowScreenshots takes the Workflows pages' pictures for the docs
// (see screenshotsEnv).
func TestWorkflowScreenshots(t *testing.T) {
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		t.Skip(screenshotsEnv + " is unset: no pictures to take")
	}
	s := newWorkflowStack(t)
	inventory := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("low") != "" {
			_, _ = w.Write([]byte(`{"reserved": 1, "warehouse": "fra-2"}`))
			return
		}
		_, _ = w.Write([]byte(`{"reserved": 2, "warehouse": "fra-2"}`))
	}))
	t.Cleanup(inventory.Close)
	src := func(query string) string {
		return strings.ReplaceAll(orderSource, "INVENTORY", inventory.URL+query)
	}
	s.deploy(t, "reserve-stock", "Reserves an order's items, or fails with 409.", src("?low=1"))
	s.deploy(t, "reserve-stock-v2", "", src(""))
	s.deploy(t, "nightly-report", "Builds the report of the day (sleeps here).", sleeperSource)
	ctx := context.Background()
	run := func(wf, arg string) *executionspb.Execution {
		e, err := s.wf.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: wfParent + "/workflows/" + wf, Execution: &executionspb.Execution{Argument: arg}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	var failed, ok *executionspb.Execution
	for i, arg := range []string{`{"id": "A-1041", "sku": "MUG", "qty": 1}`, `{"id": "A-1042", "sku": "TSHIRT-M", "qty": 2}`} {
		e := run("reserve-stock", arg)
		await(t, s.wf.Finished(e.GetName()), "an execution")
		if i == 1 {
			failed = e
		}
	}
	ok = run("reserve-stock-v2", `{"id": "A-1043", "sku": "TSHIRT-M", "qty": 2}`)
	await(t, s.wf.Finished(ok.GetName()), "an execution")
	running := run("nightly-report", `{"day": "2026-12-05"}`)

	tb := newTab(t, 1280, 800)
	phone := newTab(t, 390, 844)
	shoot := func(path, file string) {
		t.Helper()
		tb := tb
		take := chromedp.FullScreenshot(100)
		if strings.Contains(file, "phone") {
			tb, take = phone, chromedp.CaptureScreenshot()
		}
		tb.do(t, "opening "+path, chromedp.Navigate(s.URL+path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		png := get(t, tb, "taking "+file, take)
		if err := os.WriteFile(filepath.Join(dir, file), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shoot("/console/workflows", "console-workflows.png")
	shoot("/console/"+wfParent+"/workflows/reserve-stock", "console-workflow.png")
	shoot("/console/"+failed.GetName(), "console-execution-failed.png")
	shoot("/console/"+ok.GetName(), "console-execution.png")
	shoot("/console/"+running.GetName(), "console-execution-running.png")
	shoot("/console/"+failed.GetName(), "console-execution-phone.png")
}
