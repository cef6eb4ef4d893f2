package dispatch

import (
	"math"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
)

// retryPolicy is the RetryConfig in force for one task (spec 3.4).
type retryPolicy struct {
	maxAttempts            int32
	maxRetryDuration       time.Duration
	minBackoff, maxBackoff time.Duration
	maxDoublings           int32
}

// policyFor merges the task's retry_config over the queue's: the task's
// fields win where set. Fields neither sets take Cloud Tasks' defaults.
func policyFor(t *cloudtaskspb.Task, q *cloudtaskspb.Queue) retryPolicy {
	p := retryPolicy{maxAttempts: 100, minBackoff: 100 * time.Millisecond, maxBackoff: time.Hour, maxDoublings: 16}
	for _, rc := range []*cloudtaskspb.RetryConfig{q.GetRetryConfig(), t.GetRetryConfig()} {
		if rc == nil {
			continue
		}
		if rc.MaxAttempts != 0 {
			p.maxAttempts = rc.MaxAttempts
		}
		if rc.MaxRetryDuration != nil {
			p.maxRetryDuration = rc.MaxRetryDuration.AsDuration()
		}
		if rc.MinBackoff != nil {
			p.minBackoff = rc.MinBackoff.AsDuration()
		}
		if rc.MaxBackoff != nil {
			p.maxBackoff = rc.MaxBackoff.AsDuration()
		}
		if rc.MaxDoublings != 0 {
			p.maxDoublings = rc.MaxDoublings
		}
	}
	return p
}

// interval is the delay before retry k (k = failed attempts so far):
// min_backoff doubled max_doublings times, then growing linearly, capped
// at max_backoff. With 10s, 300s and 3 doublings: 10, 20, 40, 80, 160,
// 240, 300, 300, ...
func (p retryPolicy) interval(k int32) time.Duration {
	k = max(k, 1)
	exp := min(k-1, p.maxDoublings)
	lin := max(1, k-p.maxDoublings)
	d := float64(p.minBackoff) * math.Pow(2, float64(exp)) * float64(lin)
	if d >= float64(p.maxBackoff) {
		return p.maxBackoff
	}
	return time.Duration(d)
}

// permanentlyFailed reports whether a task that failed its dispatchCount-th
// attempt at now is given up: only when both max_attempts and
// max_retry_duration are used up, and not both unlimited.
func (p retryPolicy) permanentlyFailed(dispatchCount int32, firstAttempt, now time.Time) bool {
	if p.maxAttempts == -1 && p.maxRetryDuration == 0 {
		return false
	}
	attemptsDone := p.maxAttempts == -1 || dispatchCount >= p.maxAttempts
	durationDone := p.maxRetryDuration == 0 || now.Sub(firstAttempt) >= p.maxRetryDuration
	return attemptsDone && durationDone
}
