package console

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/chromedp/chromedp"
)

// requireBrowserEnv, when set to 1, makes the browser tests fail instead of
// skipping when no browser is found (CI sets it).
const requireBrowserEnv = "OPENTASKS_TEST_BROWSER"

// chromium finds the browser: $OPENTASKS_CHROMIUM, else Debian's chromium
// or another Chrome on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OPENTASKS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found: install it (apt-get install -y chromium) or set OPENTASKS_CHROMIUM to a Chrome binary"
	if os.Getenv(requireBrowserEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// tab is a headless browser tab that collects JavaScript errors:
// console.error calls, uncaught exceptions, and the browser's own error
// log entries (failed loads, CSP violations).
type tab struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newTab(t *testing.T, width, height int64) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(int(width), int(height)),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	tb := &tab{ctx: ctx}
	// The first call starts the browser and must not carry a timeout.
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				tb.mu.Lock()
				tb.errs = append(tb.errs, m.String()+" at "+m.URL)
				tb.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("starting the browser: %v", err)
	}
	t.Cleanup(func() { tb.noErrors(t) })
	return tb
}

// timeout bounds each step of a test in the browser. It only tells a hung
// step from a slow one, and CI runs these on a loaded 2-core machine with
// a -race server, where a navigation (the renderer's start included) has
// taken longer than 30s: so it is generous.
const timeout = 2 * time.Minute

func (tb *tab) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	tb.noErrors(t)
}

// get runs one action that returns a value.
func get[T any](t *testing.T, tb *tab, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// noErrors fails the test on any JavaScript error so far.
func (tb *tab) noErrors(t *testing.T) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, e := range tb.errs {
		t.Errorf("JavaScript error: %s", e)
	}
	tb.errs = nil
}

// text reads the text of the first element matching a CSS selector.
func (tb *tab) text(t *testing.T, sel string) string {
	t.Helper()
	return get(t, tb, "reading "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func TestBrowserCreatePauseRunAndDelete(t *testing.T) {
	s := newStack(t, nil)
	hook, delivered := target(t, 200)
	tb := newTab(t, 1280, 900)

	// An empty server: the page invites to create a queue, the form open.
	tb.do(t, "opening the console", chromedp.Navigate(s.URL+"/console/"), chromedp.WaitVisible(chromedp.CSS(`#cq-id`)))
	if got := tb.text(t, ".card.empty h2"); got != "No queues yet" {
		t.Errorf("empty state %q", got)
	}
	tb.do(t, "creating a queue",
		chromedp.SetValue(chromedp.CSS(`#cq-project`), "demo"),
		chromedp.SetValue(chromedp.CSS(`#cq-location`), "us-central1"),
		chromedp.SendKeys(chromedp.CSS(`#cq-id`), "orders"),
		chromedp.Click(chromedp.CSS(`#create-queue button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-task`)),
	)
	if got := tb.text(t, "#toast span"); got != "Created queue orders." {
		t.Errorf("toast %q", got)
	}
	tb.do(t, "pausing it",
		chromedp.Click(chromedp.CSS(`#queue-head form[action$="/pause"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#queue-head form[action$="/resume"]`)),
	)
	if got := tb.text(t, "#queue-head .badge"); got != "Paused" {
		t.Errorf("state badge %q after pausing", got)
	}

	// A task on the paused queue waits, listed as pending.
	tb.do(t, "creating a task",
		chromedp.Click(chromedp.CSS(`#new-task summary`)),
		chromedp.SendKeys(chromedp.CSS(`#ct-url`), hook.URL+"/hook"),
		chromedp.SendKeys(chromedp.CSS(`#ct-headers`), "Content-Type: application/json"),
		chromedp.SendKeys(chromedp.CSS(`#ct-body`), `{"order": 42}`),
		chromedp.Click(chromedp.CSS(`#create-task button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tasks-live tbody tr[id^="t-"]`)),
	)
	resp, err := s.api.ListTasks(context.Background(), &cloudtaskspb.ListTasksRequest{Parent: demoQueue})
	if err != nil || len(resp.Tasks) != 1 {
		t.Fatalf("tasks after creating one: %v, %v", resp, err)
	}
	id := lastSegment(resp.Tasks[0].GetName())
	row := `[id="t-` + id + `"]`
	if got := tb.text(t, row+" .badge"); got != "Pending" {
		t.Errorf("new task's state %q", got)
	}

	// Live updates: a task created elsewhere appears without a reload,
	// and what the user typed, where the focus is and the tasks table's
	// own nodes are all kept.
	tb.do(t, "typing into the form",
		chromedp.SendKeys(chromedp.CSS(`#ct-body`), "half-typed"),
		chromedp.Query(chromedp.CSS(`#ct-body`)),
	)
	get(t, tb, "marking the table", chromedp.Evaluate[bool](`document.querySelector("#tasks-live table").consoleTestMark = "same", true`))
	// Where the page is scrolled to and where the task list starts: a
	// live update must move neither.
	const layout = `window.scrollTo(0, 40), JSON.stringify([window.scrollY, document.getElementById("tasks-title").getBoundingClientRect().top + window.scrollY])`
	before := get(t, tb, "scrolling", chromedp.Evaluate[string](layout))
	t.Logf("scroll and task list top before the update: %s", before)
	other := s.task(t, demoQueue, httpTask(hook.URL+"/other", ""))
	tb.do(t, "waiting for the live update", chromedp.WaitVisible(chromedp.CSS(`[id="t-`+lastSegment(other.GetName())+`"]`)))
	body := get(t, tb, "reading the body field", chromedp.Value(chromedp.CSS(`#ct-body`)))
	focused := get(t, tb, "reading the focus", chromedp.Evaluate[string](`document.activeElement.id`))
	mark := get(t, tb, "reading the mark", chromedp.Evaluate[string](`document.querySelector("#tasks-live table").consoleTestMark || ""`))
	after := get(t, tb, "reading the layout", chromedp.Evaluate[string](`JSON.stringify([window.scrollY, document.getElementById("tasks-title").getBoundingClientRect().top + window.scrollY])`))
	if body != "half-typed" || focused != "ct-body" || mark != "same" || before != after || !strings.HasPrefix(before, "[40,") {
		t.Errorf("after a live update: body %q, focus on %q, table mark %q, scroll and list top %s then %s", body, focused, mark, before, after)
	}

	// The task page shows the body decoded.
	tb.do(t, "opening the task", chromedp.Click(chromedp.CSS(row+" .name a")), chromedp.WaitVisible(chromedp.CSS(`pre.code`)))
	if got := tb.text(t, "pre.code"); !strings.Contains(got, `"order": 42`) {
		t.Errorf("task body shown as %q", got)
	}
	tb.do(t, "back to the queue", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS(row)))

	// Run it: the target gets it, and the row leaves the list by itself.
	tb.do(t, "running the task", chromedp.Click(chromedp.CSS(row+` form[action$="/run"] button`)))
	select {
	case got := <-delivered:
		if got != `{"order": 42}` {
			t.Errorf("target got %q", got)
		}
	case <-time.After(timeout):
		t.Fatalf("the target did not get the task within %v", timeout)
	}
	tb.do(t, "watching the task leave", chromedp.WaitNotPresent(chromedp.CSS(row)))

	// Delete the queue, through the confirmation dialog: cancelled first.
	tb.do(t, "cancelling a deletion",
		chromedp.Click(chromedp.CSS(`#queue-head form[action$="/delete"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm button[value=cancel]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#confirm`)),
	)
	if _, err := s.api.GetQueue(context.Background(), &cloudtaskspb.GetQueueRequest{Name: demoQueue}); err != nil {
		t.Fatalf("a cancelled deletion deleted: %v", err)
	}
	tb.do(t, "deleting the queue",
		chromedp.Click(chromedp.CSS(`#queue-head form[action$="/delete"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)),
	)
	if got := tb.text(t, "#confirm-text"); !strings.Contains(got, "Delete queue orders?") {
		t.Errorf("confirmation says %q", got)
	}
	tb.do(t, "confirming", chromedp.Click(chromedp.CSS(`#confirm-ok`)), chromedp.WaitVisible(chromedp.CSS(`.card.empty`)))
	if _, err := s.api.GetQueue(context.Background(), &cloudtaskspb.GetQueueRequest{Name: demoQueue}); err == nil {
		t.Error("the queue still exists")
	}
}

// TestBrowserLayoutFits: at 1280 px the tables fit their cards, and on a
// phone nothing scrolls sideways; the first Tab reaches the skip link.
func TestBrowserLayoutFits(t *testing.T) {
	s := newStack(t, nil)
	s.queue(t, demoQueue, true)
	s.queue(t, "projects/a-rather-long-project-name/locations/northamerica-northeast1/queues/nightly-reports-and-exports", false)
	task := s.task(t, demoQueue, httpTask("http://127.0.0.1:1/a/rather/long/path/for/a/target?with=query&and=more", `{"a":1}`))
	assertFits(t, s.URL, "/console/", "/console/"+demoQueue, "/console/"+task.GetName())
}

// assertFits opens each page at 1280 px and on a phone: nothing may be
// wider than its box, and the first Tab must reach the skip link.
func assertFits(t *testing.T, base string, pages ...string) {
	t.Helper()
	// overflow lists the elements wider than their box.
	const overflow = `JSON.stringify([document.documentElement, ...document.querySelectorAll(".table-wrap, .card")]
		.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className || e.tagName))`
	for _, size := range []struct{ w, h int64 }{{1280, 900}, {390, 844}} {
		tb := newTab(t, size.w, size.h)
		for _, p := range pages {
			tb.do(t, "opening "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS(`main`)))
			if got := get(t, tb, "measuring "+p, chromedp.Evaluate[string](overflow)); got != "[]" {
				t.Errorf("%d px, %s: wider than their box: %s", size.w, p, got)
			}
		}
		tb.do(t, "tabbing", chromedp.KeyEvent("\t"))
		if got := get(t, tb, "reading the focus", chromedp.Evaluate[string](`document.activeElement.className`)); got != "skip" {
			t.Errorf("%d px: the first Tab focuses %q, want the skip link", size.w, got)
		}
	}
}
