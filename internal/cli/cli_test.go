package cli

import (
	"context"
	"flag"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
)

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	loc := fs.String("location", "", "")
	q := fs.Bool("q", false, "")
	pos, err := Parse(fs, []string{"a", "--location", "l", "b", "-q", "--", "--not-a-flag"})
	if err != nil || *loc != "l" || !*q || !slices.Equal(pos, []string{"a", "b", "--not-a-flag"}) {
		t.Fatalf("pos %q, location %q, q %v, err %v", pos, *loc, *q, err)
	}
	if _, err := Parse(fs, []string{"x", "--colour=red"}); err == nil || err.Error() != "unrecognized arguments: --colour=red" {
		t.Fatalf("unknown flag: %v", err)
	}
}

func TestBuildVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	var out strings.Builder
	PrintVersion(&out, BuildVersion(bi, true))
	if want := "opentasks v1.2.3\ncommit abc123 (modified)\ngo1.26.8\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	out.Reset()
	// GOFLAGS=-buildvcs=false (and go run) leave no vcs settings.
	PrintVersion(&out, BuildVersion(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true))
	if !strings.HasPrefix(out.String(), "opentasks (devel)\ncommit unknown (") {
		t.Errorf("without vcs: %q", out.String())
	}
}

// TestConfirm: "n" aborts a purge before any call (the endpoint is never
// reached: nothing listens there); an empty answer or end of input goes on.
func TestConfirm(t *testing.T) {
	var stderr strings.Builder
	env := Env{Stdin: strings.NewReader("n\n"), Stdout: io.Discard, Stderr: &stderr, Environ: []string{"OPENTASKS_ENDPOINT=http://127.0.0.1:1"}}
	if code := Queues().Run(context.Background(), env, []string{"purge", "q"}); code != ExitError ||
		!strings.HasPrefix(stderr.String(), "You are about to purge queue [q].") || !strings.HasSuffix(stderr.String(), "ERROR: (opentasks.queues.purge) Aborted by user.\n") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	for _, in := range []string{"\n", "", "y\n"} {
		c := &Call{Env: Env{Stdin: strings.NewReader(in), Stderr: io.Discard}}
		if err := c.Confirm("go?"); err != nil {
			t.Errorf("answer %q: %v", in, err)
		}
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"list", "--format", "xml"},
		{"list", "--endpoint", "127.0.0.1:8123"},
		{"describe"},
		{"describe", "a", "b"},
		{"create", "q", "--max-attempts", "many"},
		{"create", "q", "--routing-override", "colour:red"},
	} {
		var stderr strings.Builder
		env := Env{Stdout: io.Discard, Stderr: &stderr}
		if code := Queues().Run(context.Background(), env, args); code != ExitUsage || !strings.HasPrefix(stderr.String(), "ERROR: (opentasks.queues.") {
			t.Errorf("%v: exit %d, %q", args, code, stderr.String())
		}
	}
}

// TestExitDetails: an API error's details follow its line as YAML.
func TestExitDetails(t *testing.T) {
	body := `{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"task.name"}]}]}}`
	ae, ok := apierror.FromError(&googleapi.Error{Code: 400, Message: "bad", Body: body})
	if !ok {
		t.Fatal("not an API error")
	}
	var stderr strings.Builder
	if code := Exit(&stderr, "opentasks.tasks.create-http-task", ae); code != ExitError {
		t.Fatalf("exit %d", code)
	}
	want := "ERROR: (opentasks.tasks.create-http-task) INVALID_ARGUMENT: bad\n- \"@type\": type.googleapis.com/google.rpc.BadRequest\n  fieldViolations:\n  - field: task.name\n"
	if stderr.String() != want {
		t.Errorf("got\n%s\nwant\n%s", stderr.String(), want)
	}
}

// TestSortBy: numbers sort as numbers, a missing field first, ~ reverses,
// later keys break ties.
func TestSortBy(t *testing.T) {
	q := func(name string, rate float64, state cloudtaskspb.Queue_State) *cloudtaskspb.Queue {
		return &cloudtaskspb.Queue{Name: name, State: state, RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: rate}}
	}
	items := []*cloudtaskspb.Queue{q("a", 100, 1), q("b", 9, 2), q("c", 0, 1), q("d", 9, 1)}
	if err := sortBy(items, []string{"rateLimits.maxDispatchesPerSecond", "~name"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Name)
	}
	if want := []string{"c", "d", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestLocalEndpoint: the healthcheck finds a server from its listen
// address, as a container's OPENTASKS_ADDR gives it.
func TestLocalEndpoint(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:9000":   "http://127.0.0.1:9000",
		":9000":          "http://127.0.0.1:9000",
		"[::]:9000":      "http://127.0.0.1:9000",
		"10.1.2.3:8123":  "http://10.1.2.3:8123",
		"[::1]:8123":     "http://[::1]:8123",
		"":               "",
		"no-port-at-all": "",
	} {
		if got := localEndpoint(addr); got != want {
			t.Errorf("localEndpoint(%q) = %q, want %q", addr, got, want)
		}
	}
}
