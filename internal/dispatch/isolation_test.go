package dispatch_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/opentasks/opentasks/internal/deliver"
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

// TestUnreachableTargetRecordedAndRetried: an attempt that cannot connect
// records UNAVAILABLE (503) with the reason in last_attempt, is retried
// after the queue's backoff, and is logged with its queue and task.
func TestUnreachableTargetRecordedAndRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/"
	ln.Close()
	var logs syncBuffer
	h := newHarness(t, nil, http.NotFoundHandler(), func(c *dispatch.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	q := h.queue("q", func(q *cloudtaskspb.Queue) {
		q.RetryConfig = &cloudtaskspb.RetryConfig{MinBackoff: durationpb.New(time.Hour), MaxBackoff: durationpb.New(time.Hour)}
	})
	h.task(q, "t", t0, func(tk *cloudtaskspb.Task) { tk.GetHttpRequest().Url = refused })
	o := h.outcome()
	if o.Deleted || o.Result.Failure != deliver.ConnectFailed {
		t.Fatalf("outcome %+v, want a connect failure, retried", o)
	}
	got := h.get(q, "t")
	st := got.Task.GetLastAttempt().GetResponseStatus()
	if st.GetMessage() != "UNAVAILABLE(14): HTTP status code 503" || len(st.GetDetails()) != 1 {
		t.Fatalf("last_attempt.response_status %v", st)
	}
	if next := got.Task.GetScheduleTime().AsTime(); next.Sub(got.Task.GetLastAttempt().GetResponseTime().AsTime()) < 59*time.Minute {
		t.Fatalf("retry at %v, want an hour after the attempt", next)
	}
	line := logs.String()
	for _, want := range []string{"queue=" + q.Name, "task=t", "outcome=CONNECT_FAILED"} {
		if !strings.Contains(line, want) {
			t.Fatalf("log %q lacks %q", line, want)
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger written from attempts.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
