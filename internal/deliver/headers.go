package deliver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
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

// addTaskHeaders adds the prefix's QueueName, TaskName, TaskRetryCount,
// TaskExecutionCount, TaskETA and, on retries, TaskPreviousResponse and
// TaskRetryReason (spec 5.2).
func addTaskHeaders(h http.Header, prefix string, a *Attempt, appEngine bool) {
	t := a.Task
	h[prefix+"QueueName"] = []string{a.QueueID}
	h[prefix+"TaskName"] = []string{a.TaskID}
	h[prefix+"TaskRetryCount"] = []string{strconv.Itoa(int(a.RetryCount))}
	h[prefix+"TaskExecutionCount"] = []string{strconv.Itoa(int(a.ExecutionCount))}
	eta := t.GetScheduleTime()
	h[prefix+"TaskETA"] = []string{fmt.Sprintf("%d.%06d", eta.GetSeconds(), eta.GetNanos()/1000)}
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
	h[prefix+"TaskPreviousResponse"] = []string{strconv.Itoa(prev)}
	h[prefix+"TaskRetryReason"] = []string{reason}
}
