package protofilter

import (
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/genproto/googleapis/cloud/location"
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

func TestOrder(t *testing.T) {
	md := (&cloudtaskspb.Queue{}).ProtoReflect().Descriptor()
	a := &cloudtaskspb.Queue{Name: "a", State: cloudtaskspb.Queue_PAUSED, PurgeTime: timestamppb.New(time.Unix(10, 5))}
	b := &cloudtaskspb.Queue{Name: "b", State: cloudtaskspb.Queue_RUNNING, PurgeTime: timestamppb.New(time.Unix(10, 7))}
	c := &cloudtaskspb.Queue{Name: "c", State: cloudtaskspb.Queue_RUNNING}
	cases := []struct {
		order string
		want  string
	}{
		{"name desc", "cba"},
		{"state, name desc", "cba"}, {"state desc, name", "abc"},
		{"purgeTime", "cab"},
		{"purge_time desc", "bac"},
		{"", "abc"}, // equal: the stable sort keeps the input order
	}
	for _, tc := range cases {
		o, err := CompileOrder(md, tc.order, nil)
		if err != nil {
			t.Fatalf("CompileOrder(%q): %v", tc.order, err)
		}
		qs := []*cloudtaskspb.Queue{a, b, c}
		slices.SortStableFunc(qs, func(x, y *cloudtaskspb.Queue) int { return o(x.ProtoReflect(), y.ProtoReflect()) })
		got := ""
		for _, q := range qs {
			got += q.Name
		}
		if got != tc.want {
			t.Errorf("order %q: %s, want %s", tc.order, got, tc.want)
		}
	}
	for _, bad := range []string{"nope", "name up", "name,", "rate_limits", "name desc extra"} {
		if _, err := CompileOrder(md, bad, nil); status.Code(err) != codes.InvalidArgument {
			t.Errorf("CompileOrder(%q) = %v, want INVALID_ARGUMENT", bad, err)
		}
	}
	if _, err := CompileOrder(md, "state", []string{"name"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a field outside the allowed list: %v", err)
	}
}

func TestFilterDate(t *testing.T) {
	md := (&cloudtaskspb.Queue{}).ProtoReflect().Descriptor()
	f, err := Compile(md, `purgeTime > "2023-08-01"`)
	if err != nil {
		t.Fatal(err)
	}
	after := &cloudtaskspb.Queue{PurgeTime: timestamppb.New(time.Date(2023, 8, 1, 0, 0, 1, 0, time.UTC))}
	before := &cloudtaskspb.Queue{PurgeTime: timestamppb.New(time.Date(2023, 7, 31, 23, 59, 59, 0, time.UTC))}
	if !f(after.ProtoReflect()) || f(before.ProtoReflect()) {
		t.Fatal("a bare date is not midnight UTC")
	}
}

func TestFilterMapEntry(t *testing.T) {
	md := (&location.Location{}).ProtoReflect().Descriptor()
	prod := &location.Location{Labels: map[string]string{"env": "prod", "team": "Data"}}
	bare := &location.Location{}
	for _, tc := range []struct {
		filter     string
		prod, bare bool
	}{
		{`labels.env = "prod"`, true, false},
		{`labels.env != "prod"`, false, true},
		{`labels.env = ""`, false, true},
		{`labels.team:*`, true, false},
		{`labels.team:data`, true, false},
		{`labels.env = prod AND labels.team = Data`, true, false},
	} {
		f, err := Compile(md, tc.filter)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.filter, err)
		}
		if got := f(prod.ProtoReflect()); got != tc.prod {
			t.Errorf("%q on prod: %v", tc.filter, got)
		}
		if got := f(bare.ProtoReflect()); got != tc.bare {
			t.Errorf("%q on bare: %v", tc.filter, got)
		}
	}
	if _, err := Compile(md, `labels.env < "x"`); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ordering on a map entry: %v", err)
	}
}

// TestFilterNesting: parentheses nest up to maxParenDepth; deeper is
// INVALID_ARGUMENT, and a body full of them is refused without recursing
// through it.
func TestFilterNesting(t *testing.T) {
	md := (&cloudtaskspb.Queue{}).ProtoReflect().Descriptor()
	paused := (&cloudtaskspb.Queue{State: cloudtaskspb.Queue_PAUSED}).ProtoReflect()
	nested := func(n int) string { return strings.Repeat("(", n) + "state:PAUSED" + strings.Repeat(")", n) }
	f, err := Compile(md, nested(maxParenDepth))
	if err != nil || !f(paused) {
		t.Fatalf("%d levels: %v", maxParenDepth, err)
	}
	for _, n := range []int{maxParenDepth + 1, 1 << 16} {
		if _, err := Compile(md, nested(n)); status.Code(err) != codes.InvalidArgument ||
			!strings.Contains(err.Error(), "parentheses nested deeper than 64") {
			t.Errorf("%d levels: %v", n, err)
		}
	}
}
