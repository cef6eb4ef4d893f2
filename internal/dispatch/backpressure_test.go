package dispatch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// TestSlotHeldUntilOutcomeQueued: an attempt keeps its slot until its
// outcome is with the completer, so a store slower than the targets slows
// the deliveries down instead of letting finished attempts (goroutines and
// leases) pile up. With the completer stuck on the first outcome and no
// room for outcomes, the second attempt waits to hand its outcome over
// with its task still in flight.
func TestSlotHeldUntilOutcomeQueued(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, "t0", "t1", "t2")
	stuck := make(chan struct{})
	d := New(st, Config{MaxInFlight: 1, SlowAfter: time.Hour, OnComplete: func(Outcome) { <-stuck }})
	d.done = make(chan done) // no room: the completer takes one outcome at a time
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	defer close(stuck)

	// Wait for an attempt to block handing its outcome over: t1's, since
	// t0's went to the completer, which is stuck on it.
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		blocked := false
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			blocked = blocked || strings.Contains(g, "[chan send") && strings.Contains(g, "(*Dispatcher).attempt")
		}
		if blocked {
			break
		}
		runtime.Gosched()
	}
	r := d.runner(testQueue)
	r.mu.Lock()
	inflight := fmt.Sprint(r.inflight)
	r.mu.Unlock()
	d.slots.mu.Lock()
	free := d.slots.free
	d.slots.mu.Unlock()
	t2, err := st.GetTask(ctx, testQueue, "t2")
	if err != nil {
		t.Fatal(err)
	}
	if free != 0 || inflight != "map[]" || t2.Task.GetDispatchCount() != 0 {
		t.Fatalf("while t1's attempt waits to hand its outcome over: %d slots free, in flight %s, t2 dispatched %d times; want none free (t1's held), nothing in flight, t2 never dispatched",
			free, inflight, t2.Task.GetDispatchCount())
	}
}

const testQueue = "projects/p/locations/l/queues/q"

// newStore opens a SQLite store holding the running queue testQueue with
// a task per id, due now in that order, for a target that answers 200.
func newStore(t *testing.T, ids ...string) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tasks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	if err := st.CreateQueue(ctx, &cloudtaskspb.Queue{Name: testQueue, State: cloudtaskspb.Queue_RUNNING}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := st.CreateTask(ctx, &store.Task{Queue: testQueue, ID: id, Created: time.Now(), Task: &cloudtaskspb.Task{
			Name:         testQueue + "/tasks/" + id,
			ScheduleTime: timestamppb.Now(),
			MessageType:  &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: target.URL}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}
