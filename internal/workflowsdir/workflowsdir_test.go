package workflowsdir_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/workflowsapi"
	"github.com/opentasks/opentasks/internal/workflowsdir"
)

const (
	parent = "projects/p/locations/us-central1"
	// waitSpan bounds every wait for the watcher's signal; it is a
	// deadline, not a sleep.
	waitSpan = 30 * time.Second
)

// folder is a watched folder over a real Workflows service on SQLite.
type folder struct {
	t      *testing.T
	dir    string
	svc    *workflowsapi.Service
	events chan workflowsdir.Event
	w      *workflowsdir.Watcher
}

func newFolder(t *testing.T, files map[string]string) *folder {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "opentasks.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := workflowsapi.New(st, st, workflowsapi.Config{SoleOwner: true})
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Stop()
		st.Close()
	})
	f := &folder{t: t, dir: t.TempDir(), svc: svc}
	for name, src := range files {
		f.write(name, src)
	}
	return f
}

// start starts a watcher on the folder; the first pass's events are
// returned by the time it returns. Its debounce is longer than the
// default, so that a loaded machine stalling inside os.WriteFile (between
// the truncation and the write) does not split a save.
func (f *folder) start() []workflowsdir.Event { return f.startDebounced(300 * time.Millisecond) }

func (f *folder) startDebounced(debounce time.Duration) []workflowsdir.Event {
	f.t.Helper()
	f.events = make(chan workflowsdir.Event, 100)
	w, err := workflowsdir.Start(f.t.Context(), workflowsdir.Config{
		Dir: f.dir, Parent: parent, API: f.svc, Debounce: debounce,
		Applied: func(ev workflowsdir.Event) { f.events <- ev },
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.w = w
	f.t.Cleanup(w.Stop)
	var got []workflowsdir.Event
	for len(f.events) > 0 {
		got = append(got, <-f.events)
	}
	return got
}

func (f *folder) write(name, src string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(src), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// take waits for the watcher's next n events.
func (f *folder) take(n int) []workflowsdir.Event {
	f.t.Helper()
	var got []workflowsdir.Event
	timeout := time.After(waitSpan)
	for len(got) < n {
		select {
		case ev := <-f.events:
			got = append(got, ev)
		case <-timeout:
			f.t.Fatalf("waited %v for %d events, got %v", waitSpan, n, got)
		}
	}
	return got
}

// summary is "op id" for each event, sorted: what a flush did.
func summary(evs []workflowsdir.Event) []string {
	var out []string
	for _, ev := range evs {
		id := filepath.Base(ev.Workflow)
		if ev.Workflow == "" {
			id = "file:" + filepath.Base(ev.File)
		}
		out = append(out, string(ev.Op)+" "+id)
	}
	slices.Sort(out)
	return out
}

func (f *folder) expect(evs []workflowsdir.Event, want ...string) {
	f.t.Helper()
	slices.Sort(want)
	if got := summary(evs); !slices.Equal(got, want) {
		f.t.Fatalf("events %v, want %v (%+v)", got, want, evs)
	}
}

// deployed returns the workflow's serving revision and source, or "" when
// it does not exist.
func (f *folder) deployed(id string) (rev, src string) {
	f.t.Helper()
	wf, err := f.svc.GetWorkflow(f.t.Context(), &workflowspb.GetWorkflowRequest{Name: parent + "/workflows/" + id})
	if status.Code(err) == codes.NotFound {
		return "", ""
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return wf.GetRevisionId(), wf.GetSourceContents()
}

func returning(v string) string {
	return "main:\n  steps:\n    - done:\n        return: " + v + "\n"
}

// sleeper runs until cancelled.
const sleeper = "main:\n  steps:\n    - wait:\n        call: sys.sleep\n        args: {seconds: 3600}\n"

// badDefinition calls a function that does not exist, in the step on
// line 3 (the line the loader names).
const badDefinition = "main:\n  steps:\n    - first:\n        call: no.such.function\n"

// TestFolderFollows adds, changes (in place, truncate-then-write, and
// renamed into place), renames and deletes files, and sees the workflows
// follow; invalid files are skipped with their line and leave the others
// serving.
func TestFolderFollows(t *testing.T) {
	f := newFolder(t, map[string]string{
		"a.yaml":    sleeper,
		"Upper.yml": returning("2"),
		"c.json":    `{"main": {"steps": [{"done": {"return": 3}}]}}`,
		"bad.yaml":  badDefinition,
		"1x.yaml":   returning("4"),
		"notes.txt": "not a definition",
		".a.yaml":   "hidden: an editor's",
	})
	first := f.start()
	f.expect(first, "deployed a", "deployed upper", "deployed c", "skipped bad", "skipped file:1x.yaml")
	for _, ev := range first {
		switch filepath.Base(ev.File) {
		case "bad.yaml":
			if ev.Line != 3 || !strings.Contains(ev.Err.Error(), "no.such.function") {
				t.Errorf("bad.yaml skipped at line %d with %v, want line 3 naming the function", ev.Line, ev.Err)
			}
		case "1x.yaml":
			if !strings.Contains(ev.Err.Error(), "not a workflow ID") {
				t.Errorf("1x.yaml skipped with %v", ev.Err)
			}
		}
	}
	rev1, src := f.deployed("a")
	if rev1 == "" || src != sleeper {
		t.Fatalf("a: revision %q source %q", rev1, src)
	}
	if rev, _ := f.deployed("c"); rev == "" {
		t.Fatal("c.json not deployed")
	}
	// Beside the invalid files, the others serve: an execution of the JSON
	// one returns its value.
	run, err := f.svc.CreateExecution(t.Context(), &executionspb.CreateExecutionRequest{Parent: parent + "/workflows/c"})
	if err != nil {
		t.Fatal(err)
	}
	<-f.svc.Finished(run.GetName())
	if done, err := f.svc.GetExecution(t.Context(), &executionspb.GetExecutionRequest{Name: run.GetName()}); err != nil || done.GetResult() != "3" {
		t.Fatalf("execution of c: %v, %v; want the result 3", done, err)
	}

	// An execution running on revision 1 keeps it.
	exec, err := f.svc.CreateExecution(t.Context(), &executionspb.CreateExecutionRequest{Parent: parent + "/workflows/a"})
	if err != nil {
		t.Fatal(err)
	}

	// Saved in place: a new revision.
	f.write("a.yaml", returning("10"))
	f.expect(f.take(1), "deployed a")
	rev2, src := f.deployed("a")
	if rev2 == rev1 || src != returning("10") {
		t.Fatalf("after a save: revision %q (was %q), source %q", rev2, rev1, src)
	}
	got, err := f.svc.GetExecution(t.Context(), &executionspb.GetExecutionRequest{Name: exec.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != executionspb.Execution_ACTIVE || got.GetWorkflowRevisionId() != rev1 {
		t.Errorf("execution %v on revision %q, want ACTIVE on the one it started on, %q", got.GetState(), got.GetWorkflowRevisionId(), rev1)
	}
	if _, err := f.svc.CancelExecution(t.Context(), &executionspb.CancelExecutionRequest{Name: exec.GetName()}); err != nil {
		t.Fatal(err)
	}

	// Saved by renaming a temporary file into place (vim, JetBrains).
	f.write("a.yaml.tmp", returning("11"))
	if err := os.Rename(filepath.Join(f.dir, "a.yaml.tmp"), filepath.Join(f.dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	f.expect(f.take(1), "deployed a")
	if _, src := f.deployed("a"); src != returning("11") {
		t.Fatalf("after a rename into place: source %q", src)
	}

	// A bad save leaves the last good revision serving; fixing it deploys.
	f.write("a.yaml", badDefinition)
	f.expect(f.take(1), "skipped a")
	if rev, src := f.deployed("a"); src != returning("11") {
		t.Fatalf("a bad save replaced a: revision %q source %q", rev, src)
	}
	f.write("bad.yaml", returning("5"))
	f.expect(f.take(1), "deployed bad")

	// Renamed: the old name goes, the new one comes.
	if err := os.Rename(filepath.Join(f.dir, "Upper.yml"), filepath.Join(f.dir, "lower.yml")); err != nil {
		t.Fatal(err)
	}
	f.expect(f.take(2), "deleted upper", "deployed lower")
	if rev, _ := f.deployed("upper"); rev != "" {
		t.Fatal("upper still deployed after its file was renamed")
	}

	// Deleted: the workflow goes; the others stay.
	if err := os.Remove(filepath.Join(f.dir, "c.json")); err != nil {
		t.Fatal(err)
	}
	f.expect(f.take(1), "deleted c")
	for id, want := range map[string]bool{"c": false, "a": true, "bad": true, "lower": true} {
		if rev, _ := f.deployed(id); (rev != "") != want {
			t.Errorf("workflow %s deployed: %v, want %v", id, rev != "", want)
		}
	}
}

// TestEditorBurst: truncate, then write in pieces, as editors save; one
// deploy follows, not one per write.
func TestEditorBurst(t *testing.T) {
	f := newFolder(t, map[string]string{"a.yaml": returning("1")})
	// A quiet second ends the burst: room for a loaded machine to stall
	// between the writes without splitting it.
	f.startDebounced(time.Second)
	rev1, _ := f.deployed("a")
	file, err := os.OpenFile(filepath.Join(f.dir, "a.yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	src := returning("2")
	for _, part := range []string{src[:10], src[10:20], src[20:]} {
		if _, err := file.WriteString(part); err != nil {
			t.Fatal(err)
		}
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	f.expect(f.take(1), "deployed a")
	// A later file's deploy comes after anything left of the burst.
	f.write("z.yaml", returning("3"))
	f.expect(f.take(1), "deployed z")
	rev2, got := f.deployed("a")
	if got != src {
		t.Fatalf("source %q, want %q", got, src)
	}
	revs, err := f.svc.ListWorkflowRevisions(t.Context(), &workflowspb.ListWorkflowRevisionsRequest{Name: parent + "/workflows/a"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(revs.GetWorkflows()); n != 2 || rev2 == rev1 {
		t.Fatalf("%d revisions (%q then %q), want 2: one deploy for the burst", n, rev1, rev2)
	}
	// Saving the same source again makes no revision.
	f.write("a.yaml", src)
	ev := f.take(1)
	f.expect(ev, "unchanged a")
	if ev[0].Revision != rev2 {
		t.Fatalf("unchanged save reports revision %q, want %q", ev[0].Revision, rev2)
	}
}

// TestRestartDeletesGoneFiles: a file deleted while the server was down
// deletes its workflow at the next start; a workflow deployed otherwise is
// left alone, and a file of its name takes it over.
func TestRestartDeletesGoneFiles(t *testing.T) {
	f := newFolder(t, map[string]string{"a.yaml": returning("1"), "b.yaml": returning("2")})
	f.start()
	f.w.Stop()
	if _, err := f.svc.CreateWorkflow(t.Context(), &workflowspb.CreateWorkflowRequest{
		Parent: parent, WorkflowId: "byapi",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: returning("0")}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateWorkflow(t.Context(), &workflowspb.CreateWorkflowRequest{
		Parent: parent, WorkflowId: "taken",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: returning("0")}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	f.write("taken.yaml", returning("9"))
	f.expect(f.start(), "deleted a", "unchanged b", "deployed taken")
	if rev, _ := f.deployed("byapi"); rev == "" {
		t.Fatal("a workflow deployed through the API was deleted")
	}
	if _, src := f.deployed("taken"); src != returning("9") {
		t.Fatalf("taken: source %q, want the file's", src)
	}
}

// TestTwoFilesOneName: a.yaml and A.json name the same workflow; one is
// deployed, the other skipped, and deleting the first deploys the second.
func TestTwoFilesOneName(t *testing.T) {
	f := newFolder(t, map[string]string{"a.yaml": returning("1"), "A.json": returning("2")})
	f.expect(f.start(), "deployed a", "skipped a")
	_, src := f.deployed("a")
	from := map[string]string{returning("1"): "a.yaml", returning("2"): "A.json"}[src]
	if from == "" {
		t.Fatalf("source %q is neither file's", src)
	}
	if err := os.Remove(filepath.Join(f.dir, from)); err != nil {
		t.Fatal(err)
	}
	f.expect(f.take(1), "deployed a")
	if _, now := f.deployed("a"); now == src {
		t.Fatal("the remaining file was not deployed")
	}
}
