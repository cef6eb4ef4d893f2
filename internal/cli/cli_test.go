package cli

import (
	"context"
	"flag"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
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
