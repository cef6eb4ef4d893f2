package workflows

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/dispatch"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// e2e is a real OpenTasks server (sqlite store, dispatcher, REST) and a
// real HTTP target that reports every body it receives. The runner talks
// to the server over the network only, like any client.
type e2e struct {
	endpoint string
	target   string
	received chan string
}

func startE2E(t *testing.T) *e2e {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e2e.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := dispatch.New(st, dispatch.Config{})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	api := httptest.NewServer(server.New(cloudtasks.New(st, cloudtasks.Config{Dispatcher: d})))
	t.Cleanup(api.Close)
	e := &e2e{endpoint: api.URL, received: make(chan string, 16)}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.received <- string(b)
	}))
	t.Cleanup(target.Close)
	e.target = target.URL
	return e
}

func (e *e2e) run(t *testing.T, file string, arg any) (any, error) {
	t.Helper()
	wf, err := LoadFile(filepath.Join("testdata/e2e", file))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return wf.Run(ctx, arg, Config{Endpoint: e.endpoint})
}

func (e *e2e) awaitTarget(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-e.received:
		if got != want {
			t.Errorf("target received %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the target was never called")
	}
}

func TestE2ERunTask(t *testing.T) {
	e := startE2E(t)
	const queue = "projects/p/locations/l/queues/seed"
	for i, file := range []string{"seed_run.yaml", "seed_run.json"} {
		t.Run(file, func(t *testing.T) {
			task := queue + "/tasks/t" + string(rune('0'+i))
			if _, err := e.run(t, "setup.yaml", map[string]any{"queue": queue, "task": task, "url": e.target}); err != nil {
				t.Fatalf("setup: %v", describeErr(err))
			}
			got, err := e.run(t, file, map[string]any{"taskName": task})
			if err != nil {
				t.Fatalf("run: %v", describeErr(err))
			}
			m, ok := got.(map[string]any)
			if !ok || m["name"] != task || m["view"] != "FULL" {
				t.Errorf("result = %v, want the FULL task %s", got, task)
			}
			e.awaitTarget(t, `{"hello":"workflows"}`)
		})
	}
}

func TestE2ELifecycle(t *testing.T) {
	e := startE2E(t)
	got, err := e.run(t, "lifecycle.yaml", map[string]any{"queueId": "life", "url": e.target})
	if err != nil {
		t.Fatalf("run: %v", describeErr(err))
	}
	want := map[string]any{"queue": "projects/p/locations/l/queues/life", "state": "RUNNING", "sameTask": true, "deleted": map[string]any{}}
	if !subset(want, got) {
		t.Errorf("result = %s, want %s", canon(t, got), canon(t, want))
	}
	e.awaitTarget(t, "lifecycle")
}

func TestE2ENotFound(t *testing.T) {
	e := startE2E(t)
	const queue = "projects/p/locations/l/queues/nf"
	if _, err := e.run(t, "setup.yaml", map[string]any{"queue": queue, "task": queue + "/tasks/x", "url": e.target}); err != nil {
		t.Fatalf("setup: %v", describeErr(err))
	}
	got, err := e.run(t, "not_found.yaml", map[string]any{"queue": queue})
	if err != nil {
		t.Fatalf("run: %v", describeErr(err))
	}
	want := map[string]any{"code": int64(404), "isHttpError": true, "status": "NOT_FOUND"}
	if !sameJSON(want, got) {
		t.Errorf("result = %s, want %s", canon(t, got), canon(t, want))
	}
}

// describeErr shows a workflow error's whole value (with its HTTP body).
func describeErr(err error) string {
	if we, ok := err.(*Error); ok {
		b, _ := EncodeJSON(we.Value)
		return string(b) + "\n" + we.Context()
	}
	return err.Error()
}
