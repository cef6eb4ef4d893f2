package deliver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

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

// copyHeaders copies the task's headers, keeping their casing, except the
// reserved ones.
func copyHeaders(h http.Header, from map[string]string, reserved func(string) bool) {
	for k, v := range from {
		if !reserved(k) {
			setExact(h, k, v)
		}
	}
}

// setExact sets k to v under exactly that casing, replacing any variant.
func setExact(h http.Header, k, v string) {
	for old := range h {
		if old != k && strings.EqualFold(old, k) {
			delete(h, old)
		}
	}
	h[k] = []string{v}
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
func addTaskHeaders(h http.Header, names *taskHeaderNames, a *Attempt, appEngine bool) {
	h[names.queueName] = []string{a.QueueID}
	h[names.taskName] = []string{a.TaskID}
	h[names.retryCount] = []string{strconv.Itoa(int(a.RetryCount))}
	h[names.executionCount] = []string{strconv.Itoa(int(a.ExecutionCount))}
	h[names.eta] = []string{etaValue(a.Task.GetScheduleTime())}
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
	h[names.previousResponse] = []string{strconv.Itoa(prev)}
	h[names.retryReason] = []string{reason}
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
