package dispatch_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// TestHeadersSequence replays the spec's observed sequence (5.2): the
// target answers 503, 404, 429, 500, 302, then 200.
func TestHeadersSequence(t *testing.T) {
	statuses := []int{503, 404, 429, 500, 302, 200}
	seen := make(chan http.Header, len(statuses))
	var n atomic.Int32
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.WriteHeader(statuses[n.Add(1)-1])
	}))
	q := h.queue("hdr", nil)
	h.task(q, "t1", t0, nil)
	want := []struct{ retry, exec, prev string }{{"0", "0", ""}, {"1", "0", "503"}, {"2", "1", "404"}, {"3", "2", "429"}, {"4", "2", "500"}, {"5", "3", "302"}}
	for i, w := range want {
		hd := recv(t, seen)
		o := h.outcome()
		got := fmt.Sprint(hd.Get("X-CloudTasks-TaskRetryCount"), hd.Get("X-CloudTasks-TaskExecutionCount"), hd.Get("X-CloudTasks-TaskPreviousResponse"))
		if got != fmt.Sprint(w.retry, w.exec, w.prev) {
			t.Errorf("attempt %d: RetryCount, ExecutionCount, PreviousResponse = %s; want %s %s %s", i, got, w.retry, w.exec, w.prev)
		}
		_, hasReason := hd["X-Cloudtasks-Taskretryreason"]
		if hasReason != (i > 0) || hd.Get("X-CloudTasks-TaskRetryReason") != "" {
			t.Errorf("attempt %d: TaskRetryReason present=%v value %q; want present (empty) only on retries", i, hasReason, hd.Get("X-CloudTasks-TaskRetryReason"))
		}
		if hd.Get("X-CloudTasks-QueueName") != "hdr" || hd.Get("X-CloudTasks-TaskName") != "t1" ||
			hd.Get("X-CloudTasks-TaskETA") != fmt.Sprintf("%d.%06d", o.Task.GetLastAttempt().GetScheduleTime().GetSeconds(), o.Task.GetLastAttempt().GetScheduleTime().GetNanos()/1000) ||
			hd.Get("User-Agent") != "Google-Cloud-Tasks" {
			t.Errorf("attempt %d: headers %v", i, hd)
		}
		if i == len(want)-1 {
			if !o.Deleted {
				t.Fatalf("after 200: outcome %+v, want the task deleted", o)
			}
			break
		}
		if o.Deleted || o.Task.GetLastAttempt().GetResponseStatus() == nil {
			t.Fatalf("attempt %d: outcome %+v, want a recorded failure", i, o)
		}
		h.clock.Advance(o.Task.ScheduleTime.AsTime().Sub(h.now()))
		h.d.Changed(q.Name)
	}
	if _, err := h.st.GetTask(t.Context(), q.Name, "t1"); err == nil {
		t.Fatal("task still stored after a 2xx")
	}
}

// TestBackoffSeries checks the spec's example: min 10s, max 300s, 3
// doublings gives 10, 20, 40, 80, 160, 240, 300 (injected clock).
func TestBackoffSeries(t *testing.T) {
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
	}))
	q := h.queue("backoff", func(q *cloudtaskspb.Queue) {
		q.RetryConfig = &cloudtaskspb.RetryConfig{MaxAttempts: -1, MinBackoff: durationpb.New(10 * time.Second),
			MaxBackoff: durationpb.New(300 * time.Second), MaxDoublings: 3}
	})
	h.task(q, "t", t0, nil)
	for i, want := range []int{10, 20, 40, 80, 160, 240, 300, 300} {
		o := h.outcome()
		got := o.Task.ScheduleTime.AsTime().Sub(h.now())
		if got != time.Duration(want)*time.Second {
			t.Fatalf("retry %d: delay %v, want %ds", i+1, got, want)
		}
		st := o.Task.GetLastAttempt().GetResponseStatus()
		if st.GetCode() != 13 || st.GetMessage() != "INTERNAL(13): HTTP status code 500" {
			t.Fatalf("response_status = %v", st)
		}
		if stored := h.get(q, "t"); stored.Task.DispatchCount != int32(i+1) || stored.Task.ResponseCount != int32(i+1) {
			t.Fatalf("after attempt %d: dispatch_count %d, response_count %d", i+1, stored.Task.DispatchCount, stored.Task.ResponseCount)
		}
		h.clock.Advance(got)
		h.d.Changed(q.Name)
	}
}

// TestPermanentFailure: the task is dropped only when both max_attempts
// and max_retry_duration are used up; a per-task retry_config wins.
func TestPermanentFailure(t *testing.T) {
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
	}))
	q := h.queue("perm", nil)
	h.task(q, "t", t0, func(tk *cloudtaskspb.Task) {
		tk.RetryConfig = &cloudtaskspb.RetryConfig{MaxAttempts: 2, MaxRetryDuration: durationpb.New(time.Minute),
			MinBackoff: durationpb.New(40 * time.Second), MaxBackoff: durationpb.New(40 * time.Second)}
	})
	// Attempt 1 at 0s, attempt 2 at 40s: attempts used up, duration not.
	// Attempt 3 at 80s: both used up.
	h.failUntilGone(q, "t", 3)
}

// TestRetention: a task that may retry forever still ends when its next
// retry would fall after the 31 days a task lives.
func TestRetention(t *testing.T) {
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
	}))
	q := h.queue("retention", nil)
	h.task(q, "t", t0, func(tk *cloudtaskspb.Task) {
		tk.RetryConfig = &cloudtaskspb.RetryConfig{MaxAttempts: -1,
			MinBackoff: durationpb.New(10 * 24 * time.Hour), MaxBackoff: durationpb.New(10 * 24 * time.Hour)}
	})
	// Attempts at 0, 10, 20 and 30 days; the next would be at 40 > 31.
	h.failUntilGone(q, "t", 4)
}

// TestRetentionWhilePaused: a task that waited out its 31 days in a paused
// queue is deleted (its name tombstoned) when the queue resumes, not
// delivered; a younger task of the queue is delivered.
func TestRetentionWhilePaused(t *testing.T) {
	arrived := make(chan string, 4)
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.URL.Path
	}))
	q := h.queue("paused", func(q *cloudtaskspb.Queue) { q.State = cloudtaskspb.Queue_PAUSED })
	h.task(q, "old", t0, nil)
	h.clock.Advance(31 * 24 * time.Hour)
	h.task(q, "young", h.now(), nil)
	h.setState(q, cloudtaskspb.Queue_RUNNING)
	h.settle(q, cloudtaskspb.Queue_RUNNING)
	if o := h.outcome(); o.TaskID != "young" || !o.Deleted {
		t.Fatalf("outcome %+v, want young delivered", o)
	}
	if p := recv(t, arrived); p != "/young" || len(arrived) != 0 {
		t.Fatalf("target got %s (and %d more), want /young only", p, len(arrived))
	}
	if _, err := h.st.GetTask(t.Context(), q.Name, "old"); !errors.Is(err, store.ErrTombstoned) {
		t.Fatalf("GetTask(old) = %v, want it ended and its name tombstoned", err)
	}
}

// TestConcurrencyCap: with max_concurrent_dispatches 2, no more than two
// attempts are ever in flight, and two are.
func TestConcurrencyCap(t *testing.T) {
	var peak atomic.Int32
	release := make(chan struct{})
	h := newHarness(t, nil, peakHandler(&peak, release))
	q := h.queue("cap", func(q *cloudtaskspb.Queue) { q.RateLimits.MaxConcurrentDispatches = 2 })
	const n = 12
	for i := range n {
		h.task(q, fmt.Sprintf("t%02d", i), t0, nil)
	}
	for range n {
		release <- struct{}{}
		h.outcome()
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrency %d, want 2", p)
	}
}

// peakHandler answers each request when release lets it go, recording in
// peak the most requests it held at once.
func peakHandler(peak *atomic.Int32, release <-chan struct{}) http.Handler {
	var cur atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		cur.Add(-1)
	})
}

// TestMaxInFlight checks the bound on attempts in flight across queues:
// three queues that may each run 10 at once share 4 slots (the attempts
// the test holds never count as slow, see SlowAfter).
func TestMaxInFlight(t *testing.T) {
	var peak atomic.Int32
	release := make(chan struct{})
	h := newHarness(t, nil, peakHandler(&peak, release), func(c *dispatch.Config) { c.MaxInFlight, c.SlowAfter = 4, time.Hour })
	const perQueue = 6
	for _, name := range []string{"a", "b", "c"} {
		q := h.queue(name, func(q *cloudtaskspb.Queue) { q.RateLimits.MaxConcurrentDispatches = 10 })
		for i := range perQueue {
			h.task(q, fmt.Sprintf("t%02d", i), t0, nil)
		}
	}
	for range 3 * perQueue {
		release <- struct{}{}
		h.outcome()
	}
	if p := peak.Load(); p != 4 {
		t.Fatalf("peak attempts in flight %d, want 4", p)
	}
}

// TestFreedSlotPassedOn: a freed slot wakes the first scheduler waiting
// for one; if that queue was paused meanwhile, the wake-up goes on to the
// next in line instead of leaving the slot unused.
func TestFreedSlotPassedOn(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			<-release
		}
	}), func(c *dispatch.Config) { c.MaxInFlight, c.SlowAfter = 1, time.Hour })
	h.task(h.queue("busy", nil), "busy", t0, nil)
	// a, then b, find the only slot taken and wait for it, in that order.
	a, b := h.queue("a", nil), h.queue("b", nil)
	h.task(a, "a", t0, nil)
	h.settle(a, cloudtaskspb.Queue_RUNNING)
	h.task(b, "b", t0, nil)
	h.settle(b, cloudtaskspb.Queue_RUNNING)
	h.setState(a, cloudtaskspb.Queue_PAUSED)
	h.settle(a, cloudtaskspb.Queue_PAUSED)
	close(release)
	for _, want := range []string{"busy", "b"} {
		if o := h.outcome(); o.TaskID != want {
			t.Fatalf("outcome of %s, want %s (a's queue is paused)", o.TaskID, want)
		}
	}
}

// TestSlotsTakenInTurn: queues short of slots take them in turn. With
// one slot, a (which holds it) waits for a second, then b and c line up;
// each freed slot goes to the first in line, which goes to the back for
// the next. Before, the queue whose attempt freed the slot could take it
// again at once, ahead of the queues in line.
func TestSlotsTakenInTurn(t *testing.T) {
	arrived := make(chan string)
	release := make(chan struct{})
	h := newHarness(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("X-CloudTasks-QueueName")
		<-release
	}), func(c *dispatch.Config) { c.MaxInFlight, c.SlowAfter = 1, time.Hour })
	var order []string
	for _, name := range []string{"a", "b", "c"} {
		// Paused while its tasks are added, so that its scheduler finds
		// all four at once.
		q := h.queue(name, func(q *cloudtaskspb.Queue) { q.State = cloudtaskspb.Queue_PAUSED })
		for i := range 4 {
			h.task(q, fmt.Sprintf("t%d", i), t0, nil)
		}
		h.setState(q, cloudtaskspb.Queue_RUNNING)
		h.settle(q, cloudtaskspb.Queue_RUNNING)
		if name == "a" {
			order = append(order, recv(t, arrived))
		}
	}
	for range 11 {
		release <- struct{}{}
		order = append(order, recv(t, arrived))
	}
	close(release)
	for range 12 {
		h.outcome()
	}
	if got, want := strings.Join(order, " "), "a a b c a b c a b c b c"; got != want {
		t.Fatalf("queues delivered in the order %s, want %s", got, want)
	}
}

// TestRate: 30 tasks at 5/s (burst 5), on an injected clock so that a
// loaded machine cannot skew the measure: the burst goes out at once, and
// each later task only when the clock has moved on by a token's 200ms.
func TestRate(t *testing.T) {
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	q := h.queue("rate", func(q *cloudtaskspb.Queue) {
		q.State = cloudtaskspb.Queue_PAUSED
		q.RateLimits.MaxDispatchesPerSecond, q.RateLimits.MaxBurstSize = 5, 5
	})
	for i := range 30 {
		h.task(q, fmt.Sprintf("t%02d", i), t0, nil)
	}
	h.setState(q, cloudtaskspb.Queue_RUNNING)
	h.d.Changed(q.Name)
	for i := range 30 {
		want := t0
		if i >= 5 {
			// Tokens come only with the clock: one more per 200ms, given
			// after the previous task's outcome is in.
			h.clock.Advance(200 * time.Millisecond)
			h.d.Changed(q.Name)
			want = t0.Add(time.Duration(i-4) * 200 * time.Millisecond)
		}
		o := h.outcome()
		if at := o.Task.GetLastAttempt().GetDispatchTime().AsTime(); !o.Deleted || !at.Equal(want) {
			t.Fatalf("delivery %d: %s dispatched at t0+%v (deleted %v), want at t0+%v", i+1, o.TaskID, at.Sub(t0), o.Deleted, want.Sub(t0))
		}
	}
}

// TestCrashSafety: a task in flight when the process dies is delivered
// again after restart.
func TestCrashSafety(t *testing.T) {
	var calls atomic.Int32
	arrived := make(chan struct{}, 10)
	hang := make(chan struct{})
	defer close(hang)
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		if calls.Add(1) == 1 {
			select { // the first attempt never answers before the "kill"
			case <-hang:
			case <-r.Context().Done():
			}
		}
	}))
	q := h.queue("crash", nil)
	h.task(q, "t", t0, nil)
	recv(t, arrived)
	if got := h.get(q, "t"); got.Task.DispatchCount != 1 {
		t.Fatalf("in flight: dispatch_count %d, want 1 (recorded at lease)", got.Task.DispatchCount)
	}
	h.restart()
	recv(t, arrived)
	// SQLite keeps leases in memory: the attempt the crash cut short is
	// not counted, and the task is simply delivered again.
	if o := h.outcome(); !o.Deleted || o.Task.DispatchCount != 1 {
		t.Fatalf("after restart: %+v, want delivered again (dispatch_count 1) and deleted", o)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("target called %d times, want 2 (before and after the crash)", n)
	}
}

// TestPauseResume: a paused queue dispatches nothing until resumed.
func TestPauseResume(t *testing.T) {
	got := make(chan string, 10)
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path
	}))
	q := h.queue("paused", func(q *cloudtaskspb.Queue) { q.State = cloudtaskspb.Queue_PAUSED })
	other := h.queue("other", nil)
	h.task(q, "held", t0, nil)
	h.task(other, "sentinel", t0, nil)
	if p := recv(t, got); p != "/sentinel" {
		t.Fatalf("first delivery %s, want /sentinel (the paused queue must wait)", p)
	}
	h.setState(q, cloudtaskspb.Queue_RUNNING)
	h.d.Changed(q.Name)
	if p := recv(t, got); p != "/held" {
		t.Fatalf("after resume delivered %s, want /held", p)
	}
}
