package metrics

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/dispatch"
)

// A ratio samples about that share of tasks, and a task's every attempt
// alike.
func TestSampled(t *testing.T) {
	n := 0
	for i := range 10000 {
		name := fmt.Sprintf("projects/p/locations/l/queues/q/tasks/%d", i)
		s := sampled(name, 0.3)
		if s != sampled(name, 0.3) {
			t.Fatalf("%s sampled one time, not the next", name)
		}
		if s {
			n++
		}
		if sampled(name, 0) || !sampled(name, 1) {
			t.Fatalf("%s: ratio 0 sampled it or ratio 1 did not", name)
		}
	}
	if n < 2800 || n > 3200 {
		t.Errorf("ratio 0.3 sampled %d of 10000 tasks", n)
	}
}

// In text, an attempt is one line naming its queue, task, status and
// latency.
func TestTextAttemptLine(t *testing.T) {
	var logs strings.Builder
	m := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const queue = "projects/p/locations/l/queues/q"
	t0 := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	o := &dispatch.Outcome{
		Queue: queue, TaskID: "t1", Result: deliver.Result{Status: 500},
		Task: &cloudtaskspb.Task{Name: queue + "/tasks/t1", DispatchCount: 1, LastAttempt: &cloudtaskspb.Attempt{
			ScheduleTime: timestamppb.New(t0), DispatchTime: timestamppb.New(t0),
			ResponseTime: timestamppb.New(t0.Add(2 * time.Millisecond)), ResponseStatus: &statuspb.Status{Code: 13},
		}},
		QueueConfig: &cloudtaskspb.Queue{StackdriverLoggingConfig: &cloudtaskspb.StackdriverLoggingConfig{SamplingRatio: 1}},
	}
	m.Attempted(o)
	line := logs.String()
	for _, want := range []string{"level=ERROR", `msg="task attempt"`, "queue=" + queue, "task=t1", "status=INTERNAL", "http=500", "latency=2ms"} {
		if !strings.Contains(line, want) {
			t.Errorf("attempt line lacks %s: %s", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want one line, got %q", line)
	}
}
