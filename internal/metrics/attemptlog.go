package metrics

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/dispatch"
)

// sampled reports whether the task's attempts are logged at ratio. Cloud
// Tasks documents only "a fraction of operations"; hashing the task's name
// keeps all of a sampled task's history (OPERATIONS_SPEC 4).
func sampled(task string, ratio float64) bool {
	if ratio <= 0 {
		return false
	}
	if ratio >= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(task))
	// FNV's high bits barely change between names that differ in their
	// last characters: mix them (SplitMix64's finalizer).
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x) < ratio*math.MaxUint64
}

// logAttempt writes the attempt's log line if its queue samples it: a
// TaskActivityLog-shaped entry with attemptResponseLog (JSONLogs), or one
// short line. A failed attempt logs at ERROR, as Cloud Tasks does.
func (m *Metrics) logAttempt(o *dispatch.Outcome, a *Attempt) {
	if !sampled(a.Task, o.QueueConfig.GetStackdriverLoggingConfig().GetSamplingRatio()) {
		return
	}
	level := slog.LevelInfo
	if !o.Result.Succeeded() {
		level = slog.LevelError
	}
	ctx := context.Background()
	if !m.log.Enabled(ctx, level) {
		return
	}
	status := a.Status()
	latency := a.ResponseTime.Sub(a.DispatchTime)
	if !m.cfg.JSONLogs {
		m.log.LogAttrs(ctx, level, "task attempt",
			slog.String("queue", o.Queue), slog.String("task", o.TaskID),
			slog.String("status", status), slog.Int("http", o.Result.Status),
			slog.Duration("latency", latency), slog.Int("dispatch", int(a.DispatchCount)))
		return
	}
	project, location, queueID := queueParts(o.Queue)
	targetType, address := target(o.Task)
	resp := []any{
		slog.String("attemptDuration", fmt.Sprintf("%.6fs", latency.Seconds())),
		slog.String("dispatchCount", fmt.Sprint(o.Task.GetDispatchCount())),
		slog.String("responseCount", fmt.Sprint(o.Task.GetResponseCount())),
		slog.Int("maxAttempts", int(o.QueueConfig.GetRetryConfig().GetMaxAttempts())),
		slog.String("scheduleTime", stamp(a.ScheduleTime)),
		slog.String("dispatchTime", stamp(a.DispatchTime)),
		slog.String("responseTime", stamp(a.ResponseTime)),
		slog.String("status", status),
		slog.String("targetAddress", address),
		slog.String("targetType", targetType),
	}
	if !o.Deleted {
		resp = append(resp, slog.String("retryTime", stamp(o.Task.GetScheduleTime().AsTime())))
	}
	m.log.LogAttrs(ctx, level, "task attempt",
		slog.String("logName", "projects/"+project+"/logs/cloudtasks.googleapis.com%2Ftask_operations_log"),
		slog.Group("resource",
			slog.String("type", "cloud_tasks_queue"),
			slog.Group("labels",
				slog.String("project_id", project), slog.String("location", location),
				slog.String("queue_id", queueID), slog.String("target_type", targetType))),
		slog.Group("jsonPayload",
			slog.String("@type", "type.googleapis.com/google.cloud.tasks.logging.v1.TaskActivityLog"),
			slog.String("task", a.Task),
			slog.Group("attemptResponseLog", resp...)))
}

// queueParts splits projects/P/locations/L/queues/Q.
func queueParts(name string) (project, location, queue string) {
	p := strings.Split(name, "/")
	if len(p) != 6 {
		return "", "", name
	}
	return p[1], p[3], p[5]
}

// target returns the task's target type and address ("POST https://…").
func target(t *cloudtaskspb.Task) (targetType, address string) {
	if hr := t.GetHttpRequest(); hr != nil {
		return "HTTP", method(hr.GetHttpMethod()) + " " + hr.GetUrl()
	}
	ae := t.GetAppEngineHttpRequest()
	return "APP_ENGINE_HTTP", method(ae.GetHttpMethod()) + " " + ae.GetRelativeUri()
}

// method names m, POST when unspecified (Cloud Tasks' default).
func method(m cloudtaskspb.HttpMethod) string {
	if m == cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
		return "POST"
	}
	return m.String()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
