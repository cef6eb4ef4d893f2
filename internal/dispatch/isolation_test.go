package dispatch_test

import (
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/dispatch"
)

// TestSlowAttemptGivesSlotBack: with one slot across the dispatcher, an
// attempt its target never answers gives the slot back after SlowAfter,
// so another queue's task is delivered while it still waits. Before, the
// hung attempt held the slot until its deadline and the other queue
// delivered nothing.
func TestSlowAttemptGivesSlotBack(t *testing.T) {
	hung := make(chan struct{})
	h := newHarness(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hung" {
			<-hung
		}
	}), func(c *dispatch.Config) { c.MaxInFlight, c.SlowAfter = 1, 50*time.Millisecond })
	t.Cleanup(func() { close(hung) }) // runs before the harness's: the target waits for its handlers
	bad := h.queue("bad", nil)
	for _, id := range []string{"h1", "h2"} {
		h.task(bad, id, t0, func(tk *cloudtaskspb.Task) { tk.GetHttpRequest().Url = h.target.URL + "/hung" })
	}
	good := h.queue("good", nil)
	h.task(good, "g", t0, nil)
	if o := h.outcome(); o.TaskID != "g" || !o.Result.Succeeded() {
		t.Fatalf("first outcome %s %+v, want g delivered while the hung attempts wait", o.TaskID, o.Result)
	}
}
