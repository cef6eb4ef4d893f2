package metrics

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/opentasks/opentasks/internal/dispatch"
)

// Dispatched counts n attempts of queue in flight (dispatch.Observer).
func (m *Metrics) Dispatched(queue string, n int) {
	m.queue(queue).inFlight.Add(int64(n))
}

// Attempted records a finished attempt: its counters, delay and window,
// the recent attempts, and its log line when its queue samples it
// (dispatch.Observer). An attempt of a queue deleted meanwhile is only
// logged.
func (m *Metrics) Attempted(o *dispatch.Outcome) {
	la := o.Task.GetLastAttempt()
	a := Attempt{
		Task:          o.Task.GetName(),
		ScheduleTime:  la.GetScheduleTime().AsTime(),
		DispatchTime:  la.GetDispatchTime().AsTime(),
		ResponseTime:  la.GetResponseTime().AsTime(),
		Code:          la.GetResponseStatus().GetCode(),
		HTTPStatus:    o.Result.Status,
		DispatchCount: o.Task.GetDispatchCount(),
	}
	if v, ok := m.queues.Load(o.Queue); ok {
		qs := v.(*queueStats)
		qs.inFlight.Add(-1)
		qs.record(a.Code, a.DispatchTime.Sub(a.ScheduleTime), a.ResponseTime, !o.Result.Succeeded())
	}
	m.recent.add(a)
	m.logAttempt(o, &a)
}

// Attempt is one finished attempt, as TaskAttempts returns it.
type Attempt struct {
	Task                                     string // the task's full name
	ScheduleTime, DispatchTime, ResponseTime time.Time
	// Code is the response status's google.rpc.Code; HTTPStatus the
	// target's answer, 0 when none came.
	Code          int32
	HTTPStatus    int
	DispatchCount int32
}

// Status is the name of the attempt's response code, as attempt logs show
// it: UNKNOWN when the target could not be reached (Cloud Tasks' log).
func (a Attempt) Status() string {
	if a.HTTPStatus == 0 && a.Code != int32(code.Code_DEADLINE_EXCEEDED) {
		return code.Code_UNKNOWN.String()
	}
	return code.Code(a.Code).String()
}

// String is the attempt in a few words, for the console's task page:
// "attempt 2: HTTP 500 (INTERNAL) in 1.8ms".
func (a Attempt) String() string {
	answer := "no response"
	if a.HTTPStatus != 0 {
		answer = fmt.Sprintf("HTTP %d", a.HTTPStatus)
	}
	return fmt.Sprintf("attempt %d: %s (%s) in %v", a.DispatchCount, answer, a.Status(), a.ResponseTime.Sub(a.DispatchTime))
}

// TaskAttempts returns the task's attempts among the most recent ones
// (Config.RecentAttempts across all queues), oldest first; task is its
// full name. The web console's task page shows them.
func (m *Metrics) TaskAttempts(task string) []Attempt {
	return m.recent.of(task)
}

// recentAttempts is a ring of the last attempts of every queue: one copy
// per attempt on the hot path, a scan on the rare read.
type recentAttempts struct {
	mu   sync.Mutex
	ring []Attempt
	next int // where the next one goes
	full bool
}

func newRecentAttempts(n int) recentAttempts {
	return recentAttempts{ring: make([]Attempt, n)}
}

func (r *recentAttempts) add(a Attempt) {
	r.mu.Lock()
	r.ring[r.next] = a
	if r.next++; r.next == len(r.ring) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func (r *recentAttempts) of(task string) []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Attempt
	n, start := r.next, 0
	if r.full {
		n, start = len(r.ring), r.next
	}
	for i := range n {
		if a := &r.ring[(start+i)%len(r.ring)]; a.Task == task {
			out = append(out, *a)
		}
	}
	return out
}
