package deliver

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// reservedHTTP reports headers an HTTP task cannot set (spec 5.2): they
// are computed, replaced or for Google's use.
func reservedHTTP(k string) bool {
	return reserved(k) || hasPrefixFold(k, "X-CloudTasks-")
}

// reservedAppEngine reports headers an App Engine task cannot set. A task
// may ask for X-AppEngine-FailFast, the one App Engine header meant to be
// set by the caller (spec 5.2).
func reservedAppEngine(k string) bool {
	return reserved(k) && !strings.EqualFold(k, "X-AppEngine-FailFast")
}

func reserved(k string) bool {
	return strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") ||
		strings.EqualFold(k, "User-Agent") || hasPrefixFold(k, "X-Google-") || hasPrefixFold(k, "X-AppEngine-")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// header is one request header under its exact name.
type header struct{ k, v string }

// headerList collects a request's own headers (the task's, the queue's
// overrides, credentials) under their exact names: a name set again in
// any casing replaces the first.
type headerList []header

// copy adds the task's headers, in name order, except the reserved ones.
func (h *headerList) copy(from map[string]string, reserved func(string) bool) {
	start := len(*h)
	for k, v := range from {
		if !reserved(k) {
			h.set(k, v)
		}
	}
	slices.SortFunc((*h)[start:], func(a, b header) int { return strings.Compare(a.k, b.k) })
}

func (h *headerList) set(k, v string) {
	for i := range *h {
		if strings.EqualFold((*h)[i].k, k) {
			(*h)[i] = header{k, v}
			return
		}
	}
	*h = append(*h, header{k, v})
}

// write adds the headers to req, and Accept-Encoding: gzip unless the task
// chose its own, as real Cloud Tasks requests carry it (spec 5.2). The
// body's framing is the client's: a task's Transfer-Encoding or Trailer is
// dropped, as net/http's client drops them.
func (h headerList) write(req *fasthttp.Request) {
	gzip := true
	for _, x := range h {
		if strings.EqualFold(x.k, "Transfer-Encoding") || strings.EqualFold(x.k, "Trailer") {
			continue
		}
		req.Header.Add(x.k, x.v)
		gzip = gzip && !strings.EqualFold(x.k, "Accept-Encoding")
	}
	if gzip {
		req.Header.Add("Accept-Encoding", "gzip")
	}
}

// taskHeaderNames are the names addTaskHeaders sets, joined to their
// prefix once rather than on every attempt.
type taskHeaderNames struct {
	queueName, taskName, retryCount, executionCount, eta, previousResponse, retryReason string
}

func newTaskHeaderNames(prefix string) *taskHeaderNames {
	return &taskHeaderNames{
		queueName:        prefix + "QueueName",
		taskName:         prefix + "TaskName",
		retryCount:       prefix + "TaskRetryCount",
		executionCount:   prefix + "TaskExecutionCount",
		eta:              prefix + "TaskETA",
		previousResponse: prefix + "TaskPreviousResponse",
		retryReason:      prefix + "TaskRetryReason",
	}
}

var (
	cloudTasksHeaders = newTaskHeaderNames("X-CloudTasks-")
	appEngineHeaders  = newTaskHeaderNames("X-AppEngine-")
)

// addTaskHeaders adds QueueName, TaskName, TaskRetryCount,
// TaskExecutionCount, TaskETA and, on retries, TaskPreviousResponse and
// TaskRetryReason under names' prefix (spec 5.2).
func addTaskHeaders(req *fasthttp.Request, names *taskHeaderNames, a *Attempt, appEngine bool) {
	h := &req.Header
	h.Add(names.queueName, a.QueueID)
	h.Add(names.taskName, a.TaskID)
	h.Add(names.retryCount, strconv.Itoa(int(a.RetryCount)))
	h.Add(names.executionCount, strconv.Itoa(int(a.ExecutionCount)))
	h.Add(names.eta, etaValue(a.Task.GetScheduleTime()))
	if a.RetryCount == 0 {
		return
	}
	prev, answered := previousResponse(a.Previous)
	reason := ""
	if appEngine {
		reason = "App Error"
		if !answered {
			prev, reason = 0, "Instance Unavailable"
		}
	}
	h.Add(names.previousResponse, strconv.Itoa(prev))
	h.Add(names.retryReason, reason)
}

// etaValue formats the schedule time as seconds.microseconds
// ("1700000000.000123"), without fmt's cost on every attempt.
func etaValue(ts *timestamppb.Timestamp) string {
	sec, us := ts.GetSeconds(), ts.GetNanos()/1000
	if us < 0 || us > 999999 { // invalid nanos: keep fmt's rendering of them
		return fmt.Sprintf("%d.%06d", sec, us)
	}
	var buf [32]byte
	b := strconv.AppendInt(buf[:0], sec, 10)
	// 1000000+us has seven digits: a leading 1, turned into the point, and
	// the microseconds zero-padded to six.
	b = strconv.AppendInt(b, 1e6+int64(us), 10)
	b[len(b)-7] = '.'
	return string(b)
}

// del removes the headers named any of names, in any casing.
func del(req *fasthttp.Request, names ...string) {
	var found []string
	for k := range req.Header.All() {
		for _, n := range names {
			if strings.EqualFold(string(k), n) {
				found = append(found, string(k))
			}
		}
	}
	for _, k := range found {
		req.Header.Del(k)
	}
}
