package dispatch

import (
	"context"
	"errors"
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
// leases) pile up. With the completer stuck on its first batch and no
// room for outcomes, the next attempt waits to hand its outcome over with
// its task still in flight, and no other task is dispatched.
func TestSlotHeldUntilOutcomeQueued(t *testing.T) {
	ctx := context.Background()
	ids := []string{"t0", "t1", "t2", "t3", "t4", "t5"}
	st := newStore(t, ids...)
	stuck := make(chan struct{})
	completing := make(chan struct{}, len(ids))
	d := New(st, Config{MaxInFlight: 1, SlowAfter: time.Hour, OnComplete: func(Outcome) { completing <- struct{}{}; <-stuck }})
	d.done = make(chan done) // no room: the completer takes one outcome at a time
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	defer close(stuck)

	// The completer's first batch is written and it is stuck on it. The
	// batch holds t0 and whatever outcomes were already waiting when its
	// linger ended (on a loaded machine, t1's and more may be): only from
	// here on is the state fixed.
	<-completing
	// Wait for the next attempt to block handing its outcome over.
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
	// The batch's tasks are deleted (their target answered 200); of the
	// rest, only the blocked attempt's task may have been dispatched.
	var dispatched, waiting []string
	for _, id := range ids {
		tk, err := st.GetTask(ctx, testQueue, id)
		switch {
		case errors.Is(err, store.ErrTombstoned): // deleted
		case err != nil:
			t.Fatal(err)
		case tk.Task.GetDispatchCount() != 0:
			dispatched = append(dispatched, id)
		default:
			waiting = append(waiting, id)
		}
	}
	if free != 0 || inflight != "map[]" || len(dispatched) != 1 || len(waiting) == 0 {
		t.Fatalf("while an attempt waits to hand its outcome over: %d slots free, in flight %s, undeleted tasks dispatched %v, never dispatched %v; want none free (its slot held), nothing in flight, only its task dispatched",
			free, inflight, dispatched, waiting)
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
