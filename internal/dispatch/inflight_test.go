package dispatch_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// TestThrottle: a 429 or 503 halves the queue's effective rate, which
// recovers by a tenth of the configured rate per second, and pushes the
// task back by twice its backoff or Retry-After, whichever is later (spec
// 5.4). The clock only moves when the test moves it, so the tokens at each
// instant are exact and every attempt's dispatch_time tells when the
// scheduler let it go.
func TestThrottle(t *testing.T) {
	type dispatches struct {
		at time.Duration
		n  int
	}
	// At 10/s with a burst of 10 and "slow" taking one token, 9 go at t0.
	// Throttled, the rate is 5/s: 5 tokens by t0+1s (10 if it had not
	// dropped). It recovers to 10/s by t0+5s: the bucket refills to its 10
	// by t0+6s, and half a second later holds 5 (3 at the rate of t0+1s).
	halved := []dispatches{{0, 9}, {time.Second, 5}, {6 * time.Second, 10}, {6500 * time.Millisecond, 5}}
	kept := []dispatches{{0, 9}, {time.Second, 10}, {2 * time.Second, 10}}
	for _, c := range []struct {
		name       string
		appEngine  bool
		status     int
		retryAfter string
		wantDue    time.Duration
		want       []dispatches
	}{
		{"503 with Retry-After", false, 503, "30", 30 * time.Second, halved},
		{"429 without Retry-After", false, 429, "", 200 * time.Millisecond, halved}, // twice the 100ms backoff
		{"App Engine 503", true, 503, "30", 30 * time.Second, halved},
		// App Engine's 429 is the app's answer, not congestion (spec 5.2):
		// the usual backoff, and the rate stays.
		{"App Engine 429", true, 429, "", 100 * time.Millisecond, kept},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					if c.retryAfter != "" {
						w.Header().Set("Retry-After", c.retryAfter)
					}
					w.WriteHeader(c.status)
				}
			}))
			q := h.queue("throttle", func(q *cloudtaskspb.Queue) {
				q.RateLimits.MaxDispatchesPerSecond, q.RateLimits.MaxBurstSize = 10, 10
			})
			h.task(q, "slow", t0, func(tk *cloudtaskspb.Task) {
				if c.appEngine {
					tk.MessageType = &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{
						HttpMethod: cloudtaskspb.HttpMethod_POST, RelativeUri: "/slow",
					}}
				}
			})
			o := h.outcome()
			if o.Result.Status != c.status || o.Result.AppEngine != c.appEngine || !o.Task.GetScheduleTime().AsTime().Equal(t0.Add(c.wantDue)) {
				t.Fatalf("throttled attempt: status %d (App Engine %v), next schedule_time %v; want %d and %v",
					o.Result.Status, o.Result.AppEngine, o.Task.GetScheduleTime().AsTime(), c.status, t0.Add(c.wantDue))
			}
			for i := range 29 {
				h.task(q, fmt.Sprintf("a%02d", i), t0, nil)
			}
			got := map[time.Duration]int{}
			for _, w := range c.want {
				h.clock.Advance(t0.Add(w.at).Sub(h.now()))
				h.d.Changed(q.Name)
				for range w.n {
					o := h.outcome()
					got[o.Task.GetLastAttempt().GetDispatchTime().AsTime().Sub(t0)]++
				}
			}
			for _, w := range c.want {
				if got[w.at] != w.n {
					t.Fatalf("dispatches by time since t0: %v; want %v", got, c.want)
				}
			}
		})
	}
}

// TestRemovedWhileInFlight: a task deleted or purged while its attempt is
// in flight stays gone whatever the attempt's outcome; its completion
// must not re-create it.
func TestRemovedWhileInFlight(t *testing.T) {
	remove := map[string]func(h *harness, q *cloudtaskspb.Queue) error{
		"delete": func(h *harness, q *cloudtaskspb.Queue) error {
			return h.st.DeleteTask(h.t.Context(), q.Name, "t", h.now().Add(time.Hour))
		},
		"purge": func(h *harness, q *cloudtaskspb.Queue) error {
			h.clock.Advance(time.Second) // purge takes tasks created before now
			_, err := h.st.PurgeQueue(h.t.Context(), q.Name, h.now(), h.now().Add(time.Hour))
			h.d.Changed(q.Name)
			return err
		},
	}
	for how, fn := range remove {
		for _, answer := range []int{500, 503, 200} {
			t.Run(fmt.Sprintf("%s then %d", how, answer), func(t *testing.T) {
				arrived := make(chan struct{}, 10)
				answers := make(chan int)
				h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					arrived <- struct{}{}
					io.Copy(io.Discard, r.Body)
					select {
					case s := <-answers:
						w.WriteHeader(s)
					case <-r.Context().Done():
					}
				}))
				q := h.queue("gone", nil)
				h.task(q, "t", t0, nil)
				recv(t, arrived)
				if err := fn(h, q); err != nil {
					t.Fatal(err)
				}
				answers <- answer
				if o := h.outcome(); o.Applied {
					t.Fatalf("outcome of the removed task's attempt %+v was applied", o)
				}
				if _, err := h.st.GetTask(t.Context(), q.Name, "t"); !errors.Is(err, store.ErrTombstoned) {
					t.Fatalf("GetTask after the attempt: %v, want the tombstone", err)
				}
				if ts, err := h.st.ListTasks(t.Context(), q.Name, "", 10); err != nil || len(ts) != 0 {
					t.Fatalf("ListTasks = %v, %v; want none", ts, err)
				}
				if err := h.st.CreateTask(t.Context(), &store.Task{Queue: q.Name, ID: "t", Created: h.now(),
					Task: &cloudtaskspb.Task{Name: q.Name + "/tasks/t"}}); !errors.Is(err, store.ErrAlreadyExists) {
					t.Fatalf("re-creating the name: %v, want its tombstone to hold", err)
				}
			})
		}
	}
}

// TestPauseInFlight: pausing lets the attempts in flight finish and record
// their outcome, dispatches nothing more, not even the retry of the task
// that was in flight, and resuming delivers both tasks.
func TestPauseInFlight(t *testing.T) {
	arrived := make(chan string, 10)
	answers := make(chan int)
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.URL.Path
		io.Copy(io.Discard, r.Body)
		select {
		case s := <-answers:
			w.WriteHeader(s)
		case <-r.Context().Done():
		}
	}))
	q := h.queue("pause", func(q *cloudtaskspb.Queue) { q.RateLimits.MaxConcurrentDispatches = 1 })
	h.task(q, "a", t0, nil)
	h.task(q, "b", t0, nil)
	if p := recv(t, arrived); p != "/a" {
		t.Fatalf("first delivery %s, want /a", p)
	}
	h.setState(q, cloudtaskspb.Queue_PAUSED)
	h.settle(q, cloudtaskspb.Queue_PAUSED)
	answers <- 500
	if o := h.outcome(); !o.Applied || o.Deleted || o.Task.GetLastAttempt().GetResponseStatus().GetCode() != 13 {
		t.Fatalf("attempt finishing while paused: %+v, want its failure recorded", o)
	}
	// Both tasks are due; the freed slot and the retry must not start an
	// attempt while the queue is paused.
	h.clock.Advance(time.Minute)
	h.settle(q, cloudtaskspb.Queue_PAUSED)
	if len(arrived) != 0 {
		t.Fatalf("delivered %s while paused", <-arrived)
	}
	if a, b := h.get(q, "a").Task.DispatchCount, h.get(q, "b").Task.DispatchCount; a != 1 || b != 0 {
		t.Fatalf("while paused: dispatch_count a=%d b=%d, want 1 and 0", a, b)
	}
	h.setState(q, cloudtaskspb.Queue_RUNNING)
	h.d.Changed(q.Name)
	got := map[string]bool{}
	for range 2 {
		got[recv(t, arrived)] = true
		answers <- 200
		if o := h.outcome(); !o.Deleted {
			t.Fatalf("after resume: %+v, want delivered", o)
		}
	}
	if !got["/a"] || !got["/b"] {
		t.Fatalf("after resume delivered %v, want /a and /b", got)
	}
}

// TestTimeoutSequence: a dispatch deadline is a DEADLINE_EXCEEDED attempt
// without a response; the next attempts report it as 504 and do not count
// it as an execution (spec 5.2): timeout, timeout, 404, then 200.
func TestTimeoutSequence(t *testing.T) {
	var n atomic.Int32
	seen := make(chan http.Header, 10)
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		io.Copy(io.Discard, r.Body) // else the server cannot see the client give up
		switch n.Add(1) {
		case 1, 2:
			<-r.Context().Done() // past the deadline
		case 3:
			w.WriteHeader(404)
		}
	}))
	q := h.queue("timeout", nil)
	h.task(q, "t", t0, func(tk *cloudtaskspb.Task) {
		// Below the API's 15s minimum, to time out on the real clock: the
		// first two attempts wait it out, the 404 and the 200 must beat it
		// (a 50ms deadline was missed by a prompt answer on a loaded
		// 2-core machine under -race, timing out a third attempt).
		tk.DispatchDeadline = durationpb.New(2 * time.Second)
	})
	want := []struct{ retry, exec, prev string }{{"0", "0", ""}, {"1", "0", "504"}, {"2", "0", "504"}, {"3", "1", "404"}}
	for i, w := range want {
		hd := recv(t, seen)
		_, hasPrev := hd["X-Cloudtasks-Taskpreviousresponse"]
		_, hasReason := hd["X-Cloudtasks-Taskretryreason"]
		got := fmt.Sprint(hd.Get("X-CloudTasks-TaskRetryCount"), hd.Get("X-CloudTasks-TaskExecutionCount"), hd.Get("X-CloudTasks-TaskPreviousResponse"))
		if got != fmt.Sprint(w.retry, w.exec, w.prev) || hasPrev != (i > 0) || hasReason != (i > 0) || hd.Get("X-CloudTasks-TaskRetryReason") != "" {
			t.Fatalf("attempt %d: RetryCount, ExecutionCount, PreviousResponse = %s (reason present %v); want %s %s %s",
				i, got, hasReason, w.retry, w.exec, w.prev)
		}
		o := h.outcome()
		if i == len(want)-1 {
			if !o.Deleted {
				t.Fatalf("after 200: %+v, want deleted", o)
			}
			break
		}
		st := o.Task.GetLastAttempt().GetResponseStatus()
		if i < 2 && (!o.Result.TimedOut || st.GetCode() != 4 || st.GetMessage() != "DEADLINE_EXCEEDED(4): HTTP status code 504" ||
			o.Task.ResponseCount != 0 || o.Task.DispatchCount != int32(i+1)) {
			t.Fatalf("timed-out attempt %d: %+v, response_status %v; want DEADLINE_EXCEEDED and no response counted", i, o, st)
		}
		h.clock.Advance(o.Task.GetScheduleTime().AsTime().Sub(h.now()))
		h.d.Changed(q.Name)
	}
}
