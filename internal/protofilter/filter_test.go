package protofilter

import (
	"strings"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestFilter(t *testing.T) {
	paused := &cloudtaskspb.Queue{
		Name:        "projects/p/locations/l/queues/alpha-jobs",
		State:       cloudtaskspb.Queue_PAUSED,
		RateLimits:  &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 10},
		RetryConfig: &cloudtaskspb.RetryConfig{MinBackoff: durationpb.New(3500e6)},
		PurgeTime:   timestamppb.New(timestamppb.Now().AsTime().Add(-1e9 * 3600)),
	}
	running := &cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/beta", State: cloudtaskspb.Queue_RUNNING}
	cases := []struct {
		filter        string
		paused, runng bool
	}{
		{"", true, true},
		{"state: PAUSED", true, false},
		{"state:PAUSED", true, false},
		{"state = paused", true, false},
		{"state != PAUSED", false, true},
		{"state = 2", true, false},
		{"name:alpha", true, false},
		{`name:"ALPHA"`, true, false},
		{"name = projects/p/locations/l/queues/beta", false, true},
		{"state:PAUSED OR name:beta", true, true},
		{"state:PAUSED AND name:beta", false, false},
		{"state:RUNNING name:beta", false, true},
		{"NOT state:PAUSED", false, true},
		{"-state:PAUSED", false, true},
		{"(state:PAUSED OR state:DISABLED) AND name:alpha", true, false},
		{"rate_limits.max_dispatches_per_second < 100", true, true},
		{"rateLimits.maxDispatchesPerSecond >= 10", true, false},
		{"retry_config.min_backoff > 3s", true, false},
		{"purge_time:*", true, false},
		{"purge_time < 2999-01-01T00:00:00Z", true, true},
	}
	md := paused.ProtoReflect().Descriptor()
	for _, c := range cases {
		f, err := Compile(md, c.filter)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.filter, err)
			continue
		}
		if got := f(paused.ProtoReflect()); got != c.paused {
			t.Errorf("%q on paused queue = %v, want %v", c.filter, got, c.paused)
		}
		if got := f(running.ProtoReflect()); got != c.runng {
			t.Errorf("%q on running queue = %v, want %v", c.filter, got, c.runng)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	for _, text := range []string{
		"state", "state:", "state: NOPE", "bogus: 1", "(state:PAUSED", "state:PAUSED)",
		`name:"open`, "state ! PAUSED", "AND", "state:PAUSED OR", "rate_limits: fast",
		"retry_config.min_backoff > soon", "purge_time < yesterday", "rate_limits:PAUSED",
		"name.x: 1", "NOT", "state == PAUSED",
	} {
		_, err := Compile((&cloudtaskspb.Queue{}).ProtoReflect().Descriptor(), text)
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "Invalid filter: ") {
			t.Errorf("Compile(%q) = %v, want INVALID_ARGUMENT", text, err)
		}
	}
}
